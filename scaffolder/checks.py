"""Static checks on generated files, in order: parse, contract, policy, test shape, ruff.

Each failure is one line naming the rule and the line, because it goes back to the model as
repair feedback and to the user as the reason a table kept its stub.

These checks are quick feedback, not the guarantee: an AST denylist can always be dodged
(aliases, `importlib`, `getattr` with a computed name, the JVM behind `spark._jvm`). What keeps
a data engineer's laptop safe is the OS sandbox the validation round runs in (`sandbox.py`) and
the detector inside it (`inside/guard.py`). Nothing here evaluates model code: SCHEMA is read
from the syntax tree (`schema_ast.py`).
"""

from __future__ import annotations

import ast
import subprocess
import tempfile
from pathlib import Path

from lakeforge.tables import TableSpec, check_type
from scaffolder.errors import ScaffoldError
from scaffolder.problems import Problem, ProblemKind
from scaffolder.schema_ast import SchemaSyntaxError, find_schema, read_schema
from scaffolder.stubs import parameters

NETWORK_MODULES = {
    "socket",
    "ssl",
    "requests",
    "httpx",
    "httpx2",
    "urllib",
    "urllib3",
    "http",
    "aiohttp",
    "ftplib",
    "smtplib",
    "telnetlib",
    "paramiko",
    "pip",
    "webbrowser",
}
PROCESS_MODULES = {"subprocess", "multiprocessing", "pty", "_posixsubprocess", "concurrent", "pexpect"}
LOW_LEVEL_MODULES = {"ctypes", "_ctypes", "cffi", "posix", "nt", "_winapi", "mmap", "resource"}
DYNAMIC_MODULES = {
    "importlib",
    "builtins",
    "runpy",
    "code",
    "codeop",
    "pickle",
    "marshal",
    "gc",
    "inspect",
    "scaffolder",
}
OS_EXEC = {
    "system",
    "popen",
    "execv",
    "execve",
    "execl",
    "execle",
    "execlp",
    "execvp",
    "execvpe",
    "spawnl",
    "spawnle",
    "spawnv",
    "spawnve",
    "posix_spawn",
    "posix_spawnp",
    "fork",
    "forkpty",
    "kill",
    "killpg",
}
DELETE_CALLS = {"remove", "unlink", "rmdir", "rmtree", "removedirs"}
WRITE_CALLS = {"write_text", "write_bytes"}
DYNAMIC_CODE = {"eval", "exec", "compile", "__import__", "breakpoint"}
SPARK_IO = {"read", "readStream", "write", "writeStream", "saveAsTable", "insertInto", "sql", "table"}
# Attributes that reach around Python's own boundaries: the JVM, frames, interpreter internals.
INTERNALS = {
    "_jvm",
    "_jsc",
    "_jsparkSession",
    "_gateway",
    "_jdf",
    "__builtins__",
    "__subclasses__",
    "__globals__",
    "__code__",
    "__closure__",
    "f_back",
    "f_globals",
    "f_locals",
    "gi_frame",
    "tb_frame",
    "__dict__",
    "__getattribute__",
    "__reduce__",
    "__reduce_ex__",
}
DANGEROUS_MODULES = {"os", "sys", *PROCESS_MODULES, *LOW_LEVEL_MODULES, *DYNAMIC_MODULES, *NETWORK_MODULES}


def parse(path: str, source: str) -> tuple[ast.Module | None, list[Problem]]:
    try:
        return ast.parse(source, filename=path), []
    except SyntaxError as exc:
        return None, [Problem(ProblemKind.SYNTAX, f"{path} line {exc.lineno}: {exc.msg}")]


def check_module(spec: TableSpec, path: str, tree: ast.Module) -> list[Problem]:
    """`transform` keeps the stub's signature and `SCHEMA` matches tables.yml."""
    errors: list[str] = []
    functions = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    transform = functions.get("transform")
    expected = parameters(spec)
    if transform is None:
        errors.append(f"{path} defines no top-level transform() function")
    else:
        got = [a.arg for a in transform.args.posonlyargs + transform.args.args]
        extra = transform.args.vararg or transform.args.kwarg or transform.args.kwonlyargs
        if got != expected or extra or isinstance(transform, ast.AsyncFunctionDef):
            errors.append(
                f"transform({', '.join(got)}) must keep the stub's signature transform({', '.join(expected)})"
            )
    value, lines = find_schema(tree)
    if value is None:
        errors.append(f"{path} defines no top-level SCHEMA")
    elif len(lines) > 1:
        errors.append(f"{path} assigns SCHEMA {len(lines)} times (lines {', '.join(map(str, lines))}): assign it once")
    else:
        errors += compare_schema(spec, value)
    return [Problem(ProblemKind.CONTRACT, e) for e in errors]


def compare_schema(spec: TableSpec, node: ast.expr) -> list[str]:
    """SCHEMA as written, against tables.yml, read from the syntax tree (never evaluated)."""
    try:
        fields = read_schema(node)
    except SchemaSyntaxError as exc:
        return [f"SCHEMA must be a literal T.StructType([...]) of pyspark.sql.types: {exc}"]
    got = [(f.name, f.type, f.nullable) for f in fields]
    want = [(c.name, check_type(c.type), c.nullable) for c in spec.schema_]
    if got != want:
        for position, (g, w) in enumerate(zip(got, want, strict=False)):
            if g != w:
                return [f"SCHEMA column {position} is {g}, tables.yml says {w}"]
        return [f"SCHEMA has {len(got)} columns, tables.yml declares {len(want)}"]
    return []


def call_name(node: ast.Call) -> str:
    """`f` for `f(...)` and `x.f(...)`; empty for anything else."""
    func = node.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


class _Policy(ast.NodeVisitor):
    """Quick lint for what generated code must not do; the sandbox is what enforces it."""

    def __init__(self, path: str, is_test: bool) -> None:
        self.path = path
        self.is_test = is_test
        self.errors: list[Problem] = []
        self.aliases: dict[str, str] = {}  # local name -> module it stands for

    def report(self, rule: str, node: ast.AST, what: str) -> None:
        self.errors.append(
            Problem(ProblemKind.POLICY, f"{rule}: {self.path} line {getattr(node, 'lineno', '?')}: {what}")
        )

    def _module_rule(self, module: str) -> str | None:
        root = module.split(".")[0]
        if root in PROCESS_MODULES:
            return "no-subprocess"
        if root in NETWORK_MODULES:
            return "no-network"
        if root in LOW_LEVEL_MODULES:
            return "no-low-level"
        if root in DYNAMIC_MODULES:
            return "no-dynamic-code"
        if root == "shutil":
            return "no-file-delete"
        if module == "asyncio.subprocess":
            return "no-subprocess"
        return None

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.aliases[alias.asname or alias.name.split(".")[0]] = (
                alias.name if alias.asname else alias.name.split(".")[0]
            )
            if rule := self._module_rule(alias.name):
                self.report(rule, node, f"import {alias.name}")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if rule := self._module_rule(module):
            self.report(rule, node, f"from {module} import ...")
        for alias in node.names:
            qualified = f"{module}.{alias.name}"
            self.aliases[alias.asname or alias.name] = qualified
            if module in ("os", "posix") and alias.name in OS_EXEC:
                self.report("no-os-system", node, f"from {module} import {alias.name}")
            elif module == "sys" and alias.name == "modules":
                self.report("no-dynamic-code", node, "from sys import modules")
            elif alias.name == "*" and module.split(".")[0] in DANGEROUS_MODULES:
                self.report("no-dynamic-code", node, f"from {module} import *")
            elif not self._module_rule(module) and (rule := self._module_rule(qualified.lstrip("."))):
                self.report(rule, node, f"from {module} import {alias.name}")

    def _module_of(self, node: ast.expr) -> str:
        """The dangerous module an expression names (`os`, an alias of it, `os.path`), else ""."""
        if isinstance(node, ast.Name):
            module = self.aliases.get(node.id, "__builtins__" if node.id == "__builtins__" else "")
            return module if module.split(".")[0] in DANGEROUS_MODULES | {"__builtins__"} else ""
        if isinstance(node, ast.Attribute):
            base = self._module_of(node.value)
            return f"{base}.{node.attr}" if base else ""
        return ""

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and node.value in INTERNALS:
            self.report("no-internals", node, f"the name {node.value!r} reaches around Python or into the JVM")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in INTERNALS:
            self.report("no-internals", node, f".{node.attr} reaches around Python or into the JVM")
        elif node.attr == "modules" and self._module_of(node.value) == "sys":
            self.report("no-dynamic-code", node, "sys.modules")
        elif node.attr.startswith("create_subprocess") or node.attr == "subprocess_exec":
            self.report("no-subprocess", node, f".{node.attr}()")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        name = call_name(node)
        func = node.func
        owner = self._module_of(func.value) if isinstance(func, ast.Attribute) else ""
        target = self.aliases.get(name, "") if isinstance(func, ast.Name) else ""
        if isinstance(func, ast.Name) and name in DYNAMIC_CODE:
            self.report("no-eval-exec", node, f"{name}()")
        elif (owner in ("os", "posix") and name in OS_EXEC) or (
            target.startswith(("os.", "posix.")) and target.rsplit(".", 1)[-1] in OS_EXEC
        ):
            self.report("no-os-system", node, f"{owner or target.rsplit('.', 1)[0]}.{name}()")
        elif name in ("getattr", "setattr", "delattr") and node.args and self._module_of(node.args[0]):
            self.report("no-dynamic-code", node, f"{name}() on module {self._module_of(node.args[0])}")
        elif name in ("getattr", "setattr") and len(node.args) > 1 and _constant_in(node.args[1], OS_EXEC | INTERNALS):
            self.report("no-dynamic-code", node, f"{name}(..., {ast.unparse(node.args[1])})")
        elif name in ("getattr", "setattr", "delattr", "attrgetter", "methodcaller") and _computed_name(node):
            self.report("no-dynamic-code", node, f"{name}() with a computed name: name the attribute directly")
        elif name in ("globals", "vars", "locals") and isinstance(func, ast.Name):
            self.report("no-dynamic-code", node, f"{name}()")
        elif (name in DELETE_CALLS - {"remove"}) or (owner == "os" and name == "remove"):
            self.report("no-file-delete", node, f"{name}()")
        elif not self.is_test and (name in WRITE_CALLS or (isinstance(func, ast.Name) and name == "open")):
            self.report("no-file-write", node, f"{name}() outside Spark")
        self.generic_visit(node)


def _computed_name(node: ast.Call) -> bool:
    """getattr(x, "a" + "b") and friends: the attribute's name is built, so no reader can see it."""
    position = 0 if call_name(node) in ("attrgetter", "methodcaller") else 1
    if len(node.args) <= position:
        return False
    return not isinstance(node.args[position], (ast.Constant, ast.Name))


def _constant_in(node: ast.expr, names: set[str]) -> bool:
    return isinstance(node, ast.Constant) and node.value in names


def check_policy(path: str, tree: ast.Module, is_test: bool) -> list[Problem]:
    """Generated code may not run processes, reach the network, delete files or eval strings."""
    visitor = _Policy(path, is_test)
    visitor.visit(tree)
    errors = visitor.errors
    if not is_test:
        errors += _pure_transform(path, tree)
    return errors


def _pure_transform(path: str, tree: ast.Module) -> list[Problem]:
    errors = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "transform":
            for child in ast.walk(node):
                if isinstance(child, ast.Attribute) and child.attr in SPARK_IO:
                    base = child.value
                    if (isinstance(base, ast.Name) and base.id in ("spark", "session")) or child.attr in (
                        "write",
                        "writeStream",
                        "saveAsTable",
                        "insertInto",
                    ):
                        errors.append(
                            Problem(
                                ProblemKind.POLICY,
                                f"no-io-in-transform: {path} line {child.lineno}: .{child.attr} inside transform(); "
                                "transform is pure (DataFrames in, DataFrame out)",
                            )
                        )
    return errors


def test_functions(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    """What pytest collects: `test*` functions at module level and in `Test*` classes."""
    found: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
            found.append(node)
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            found += [
                n
                for n in node.body
                if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name.startswith("test")
            ]
    return found


def check_tests(path: str, tree: ast.Module) -> list[Problem]:
    """At least one test, and every test asserts something."""
    tests = test_functions(tree)
    if not tests:
        return [Problem(ProblemKind.TESTS, f"{path} has no test functions")]
    errors = []
    for test in tests:
        asserts = any(
            isinstance(n, ast.Assert)
            or (isinstance(n, ast.Call) and call_name(n).startswith(("assert", "raises")))
            or (isinstance(n, ast.Attribute) and n.attr == "raises")
            for n in ast.walk(test)
        )
        if not asserts:
            errors.append(Problem(ProblemKind.TESTS, f"{test.name} in {path} asserts nothing"))
    return errors


def ruff_binary() -> str:
    """The ruff executable that ships with the `ruff` package; ScaffoldError when it is missing."""
    try:
        from ruff.__main__ import find_ruff_bin
    except ImportError:
        raise ScaffoldError(
            "ruff is not installed: `pip install ruff` (scaffold lints generated code with it)"
        ) from None
    try:
        return str(find_ruff_bin())
    except FileNotFoundError:
        raise ScaffoldError(
            "the ruff package has no ruff binary: reinstall it (`pip install --force-reinstall ruff`)"
        ) from None


def ruff_fix_and_format(files: dict[str, str], config_root: Path) -> tuple[dict[str, str], list[Problem]]:
    """`ruff check --fix` then `ruff format`, with the repo's ruff settings; returns fixed sources.

    A ruff that crashes or is missing is an error, never "no problems": otherwise unlinted code
    would pass this step silently.
    """
    ruff = ruff_binary()
    with tempfile.TemporaryDirectory(prefix="scaffold-ruff-") as tmp:
        root = Path(tmp)
        if (config_root / "pyproject.toml").is_file():
            (root / "pyproject.toml").write_text((config_root / "pyproject.toml").read_text())
        for rel, text in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text)

        def run(*args: str, ok: tuple[int, ...]) -> subprocess.CompletedProcess[str]:
            try:
                done = subprocess.run([ruff, *args, "--no-cache", *files], cwd=root, capture_output=True, text=True)
            except OSError as exc:
                raise ScaffoldError(f"ruff could not run ({exc}): reinstall it with `pip install ruff`") from None
            if done.returncode not in ok:
                detail = (done.stderr or done.stdout).strip().splitlines()
                raise ScaffoldError(
                    f"ruff {args[0]} failed with exit code {done.returncode}"
                    f"{': ' + detail[0] if detail else ''}; check [tool.ruff] in pyproject.toml"
                )
            return done

        run("check", "--fix", "--exit-zero", ok=(0,))
        run("format", ok=(0,))
        lint = run("check", "--output-format", "concise", ok=(0, 1))
        fixed = {rel: (root / rel).read_text() for rel in files}
        problems = [
            Problem(ProblemKind.LINT, line.strip())
            for line in lint.stdout.splitlines()
            if line.strip() and ":" in line and not line.startswith(("Found", "[*]", "No fixes"))
        ]
        return fixed, problems
