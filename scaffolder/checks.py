"""Static checks on generated files, in order: parse, contract, policy, test shape, ruff.

Each failure is one line naming the rule and the line, because it goes back to the model as
repair feedback and to the user as the reason a table kept its stub.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tempfile
from pathlib import Path

from lakeforge.tables import TableSpec
from scaffolder.stubs import parameters

NETWORK_MODULES = {
    "socket",
    "requests",
    "httpx",
    "urllib",
    "urllib3",
    "http",
    "aiohttp",
    "ftplib",
    "smtplib",
    "paramiko",
}
PROCESS_MODULES = {"subprocess", "multiprocessing", "pty"}
OS_EXEC = {"system", "popen", "execv", "execve", "execl", "execlp", "execvp", "spawnl", "spawnv", "fork", "kill"}
DELETE_CALLS = {"remove", "unlink", "rmdir", "rmtree", "removedirs"}
WRITE_CALLS = {"write_text", "write_bytes"}
DYNAMIC_CODE = {"eval", "exec", "compile", "__import__"}
SPARK_IO = {"read", "readStream", "write", "writeStream", "saveAsTable", "insertInto", "sql", "table"}


def parse(path: str, source: str) -> tuple[ast.Module | None, list[str]]:
    try:
        return ast.parse(source, filename=path), []
    except SyntaxError as exc:
        return None, [f"syntax: {path} line {exc.lineno}: {exc.msg}"]


def check_module(spec: TableSpec, path: str, tree: ast.Module) -> list[str]:
    """`transform` keeps the stub's signature and `SCHEMA` matches tables.yml."""
    errors: list[str] = []
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    transform = functions.get("transform")
    expected = parameters(spec)
    if transform is None:
        errors.append(f"contract: {path} defines no top-level transform() function")
    else:
        got = [a.arg for a in transform.args.posonlyargs + transform.args.args]
        extra = transform.args.vararg or transform.args.kwarg or transform.args.kwonlyargs
        if got != expected or extra:
            errors.append(
                f"contract: transform({', '.join(got)}) must keep the stub's signature transform({', '.join(expected)})"
            )
    schema_node = next(
        (
            n.value
            for n in tree.body
            if isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "SCHEMA" for t in n.targets)
        ),
        None,
    )
    if schema_node is None:
        errors.append(f"contract: {path} defines no top-level SCHEMA")
    else:
        errors += _compare_schema(spec, schema_node)
    return errors


def _compare_schema(spec: TableSpec, node: ast.expr) -> list[str]:
    from pyspark.sql import types as T

    allowed = {name for name in dir(T) if name[0].isupper()} | {"T", "True", "False", "None"}
    for child in ast.walk(node):
        if isinstance(child, ast.Name) and child.id not in allowed:
            return [f"contract: SCHEMA may only use pyspark.sql.types (found {child.id!r})"]
        if isinstance(child, ast.Attribute) and isinstance(child.value, ast.Name) and child.value.id != "T":
            return [f"contract: SCHEMA may only use pyspark.sql.types (found {child.value.id}.{child.attr})"]
    namespace = {name: getattr(T, name) for name in allowed if hasattr(T, name)}
    namespace["T"] = T
    try:
        value = eval(compile(ast.Expression(node), "<SCHEMA>", "eval"), {"__builtins__": {}}, namespace)
    except Exception as exc:
        return [f"contract: SCHEMA does not evaluate: {exc}"]
    if not isinstance(value, T.StructType):
        return ["contract: SCHEMA must be a StructType"]
    got = [(f.name, f.dataType.simpleString(), f.nullable) for f in value.fields]
    want = [(f.name, f.dataType.simpleString(), f.nullable) for f in spec.struct_type().fields]
    if got != want:
        for position, (g, w) in enumerate(zip(got, want, strict=False)):
            if g != w:
                return [f"contract: SCHEMA column {position} is {g}, tables.yml says {w}"]
        return [f"contract: SCHEMA has {len(got)} columns, tables.yml declares {len(want)}"]
    return []


def check_policy(path: str, tree: ast.Module, is_test: bool) -> list[str]:
    """Generated code may not run processes, reach the network, delete files or eval strings."""
    errors: list[str] = []

    def report(rule: str, node: ast.AST, what: str) -> None:
        errors.append(f"policy {rule}: {path} line {getattr(node, 'lineno', '?')}: {what}")

    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for name in names:
                root = name.split(".")[0]
                if root in PROCESS_MODULES:
                    report("no-subprocess", node, f"import {name}")
                elif root in NETWORK_MODULES:
                    report("no-network", node, f"import {name}")
                elif root == "shutil":
                    report("no-file-delete", node, "import shutil")
            if isinstance(node, ast.ImportFrom) and node.module == "os":
                for alias in node.names:
                    if alias.name in OS_EXEC:
                        report("no-os-system", node, f"from os import {alias.name}")
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            owner = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else ""
            if isinstance(func, ast.Name) and name in DYNAMIC_CODE:
                report("no-eval-exec", node, f"{name}()")
            elif owner == "os" and name in OS_EXEC:
                report("no-os-system", node, f"os.{name}()")
            elif (name in DELETE_CALLS - {"remove"}) or (owner == "os" and name == "remove"):
                report("no-file-delete", node, f"{name}()")
            elif not is_test and (name in WRITE_CALLS or (isinstance(func, ast.Name) and name == "open")):
                report("no-file-write", node, f"{name}() outside Spark")
    if not is_test:
        errors += _pure_transform(path, tree)
    return errors


def _pure_transform(path: str, tree: ast.Module) -> list[str]:
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
                            f"policy no-io-in-transform: {path} line {child.lineno}: .{child.attr} inside transform(); "
                            "transform is pure (DataFrames in, DataFrame out)"
                        )
    return errors


def check_tests(path: str, tree: ast.Module) -> list[str]:
    """At least one test, and every test asserts something."""
    tests = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name.startswith("test")]
    if not tests:
        return [f"tests: {path} has no test functions"]
    errors = []
    for test in tests:
        asserts = any(
            isinstance(n, ast.Assert)
            or (isinstance(n, ast.Call) and _call_name(n).startswith(("assert", "raises")))
            or (isinstance(n, ast.Attribute) and n.attr == "raises")
            for n in ast.walk(test)
        )
        if not asserts:
            errors.append(f"tests: {test.name} in {path} asserts nothing")
    return errors


def _call_name(node: ast.Call) -> str:
    func = node.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def ruff_fix_and_format(files: dict[str, str], config_root: Path) -> tuple[dict[str, str], list[str]]:
    """`ruff check --fix` then `ruff format`, with the repo's ruff settings; returns fixed sources."""
    with tempfile.TemporaryDirectory(prefix="scaffold-ruff-") as tmp:
        root = Path(tmp)
        if (config_root / "pyproject.toml").is_file():
            (root / "pyproject.toml").write_text((config_root / "pyproject.toml").read_text())
        for rel, text in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text)
        ruff = [sys.executable, "-m", "ruff"]
        subprocess.run([*ruff, "check", "--fix", "--no-cache", *files], cwd=root, capture_output=True, text=True)
        subprocess.run([*ruff, "format", "--no-cache", *files], cwd=root, capture_output=True, text=True)
        lint = subprocess.run(
            [*ruff, "check", "--no-cache", "--output-format", "concise", *files],
            cwd=root,
            capture_output=True,
            text=True,
        )
        fixed = {rel: (root / rel).read_text() for rel in files}
        problems = [
            f"ruff: {line.strip()}"
            for line in lint.stdout.splitlines()
            if line.strip() and ":" in line and not line.startswith(("Found", "[*]", "No fixes"))
        ]
        return fixed, problems
