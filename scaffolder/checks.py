"""Static checks on generated files, in order: parse, contract, the safe subset, test shape, ruff.

Each failure is one line naming the rule and the line, because it goes back to the model as
repair feedback and to the user as the reason a table kept its stub.

The safe subset (`safe_subset.py`) is an allowlist of imports, builtins and attributes, so what
it does not know is refused; behind it stand the OS sandbox (`sandbox.py`), the judge outside
the process that runs the code (`judge.py`) and the detector inside it (`lakeforge.guard`).
Nothing here evaluates model code: SCHEMA is read from the syntax tree (`schema_ast.py`).
"""

from __future__ import annotations

import ast
import subprocess
import tempfile
from pathlib import Path

from lakeforge.tables import TableSpec, check_type
from scaffolder import safe_subset
from scaffolder.errors import ScaffoldError
from scaffolder.problems import Problem, ProblemKind
from scaffolder.schema_ast import SchemaSyntaxError, find_schema, read_schema
from scaffolder.stubs import parameters


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


def check_policy(path: str, tree: ast.Module, context: safe_subset.Context) -> list[Problem]:
    """The file stays inside the safe subset of Python (`safe_subset.py`): an allowlist, checked here."""
    return safe_subset.check(path, tree, context)


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
