"""Stubs: a valid module per table whose `transform` raises NotImplementedError, and its test stub.

A stub already carries the contract (SCHEMA, signature, docstring from tables.yml), so the repo's
contract tests pass before any AI is involved, and the model only has to fill the body.
"""

from __future__ import annotations

import ast
import unicodedata
from enum import Enum
from pathlib import Path

from lakeforge.runner import is_stub_source
from lakeforge.tables import ARRAY_TYPE, DECIMAL_TYPE, SIMPLE_TYPES, TableSpec
from scaffolder.project import Project
from scaffolder.writer import Manifest, atomic_write, write_tracked


def type_code(type_string: str) -> str:
    """Source code for a checked type string, e.g. `T.DecimalType(10, 2)`."""
    if type_string in SIMPLE_TYPES:
        return f"T.{SIMPLE_TYPES[type_string]}()"
    if match := DECIMAL_TYPE.fullmatch(type_string):
        return f"T.DecimalType({match.group(1)}, {match.group(2)})"
    if match := ARRAY_TYPE.fullmatch(type_string):
        return f"T.ArrayType({type_code(match.group(1))})"
    raise ValueError(f"no code for type {type_string!r}")


def schema_code(spec: TableSpec) -> str:
    """`SCHEMA = T.StructType([...])` exactly as tables.yml declares it."""
    fields = "\n".join(f'        T.StructField("{c.name}", {type_code(c.type)}, {c.nullable}),' for c in spec.schema_)
    return f"SCHEMA = T.StructType(\n    [\n{fields}\n    ]\n)\n"


def parameters(spec: TableSpec) -> list[str]:
    """`transform`'s parameters: the raw source for bronze, the inputs (in order) otherwise."""
    return ["raw"] if spec.layer == "bronze" else list(spec.inputs)


def signature(spec: TableSpec) -> str:
    return f"def transform({', '.join(f'{p}: DataFrame' for p in parameters(spec))}) -> DataFrame:"


def docstring(spec: TableSpec) -> str:
    """The module docstring's text, escaped for a triple-quoted literal.

    Descriptions are free text: quotes, a trailing quote, backslashes (`C:\\x`, `\\N`) and any
    Unicode must still give a module that parses.
    """
    where = (
        f"Source: {spec.source.path} ({spec.source.format})." if spec.source else f"Inputs: {', '.join(spec.inputs)}."
    )
    return _literal_text(f"{spec.name} ({spec.layer}): {spec.description}\n\n{where}")


def _literal_text(text: str) -> str:
    """Text for a triple-quoted literal: quotes and backslashes escaped, control characters as escapes
    (a NUL or a form feed in a description must not break the module)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "")
    return "".join(
        ch if ch in "\n\t" or unicodedata.category(ch)[0] != "C" else ch.encode("unicode_escape").decode("ascii")
        for ch in escaped
    )


def stub_module(spec: TableSpec) -> str:
    hint = f"scaffold fill {spec.layer} --table {spec.name}"
    return (
        f'"""{docstring(spec)}\n\nStub: `{hint}` writes the transformation and its tests.\n"""\n\n'
        "from __future__ import annotations\n\n"
        "from pyspark.sql import DataFrame\n"
        "from pyspark.sql import types as T\n\n"
        f"{schema_code(spec)}\n\n"
        f"{signature(spec)}\n"
        f'    """Not written yet."""\n'
        f'    raise NotImplementedError("{spec.name}: run `{hint}`")\n'
    )


def stub_test(spec: TableSpec) -> str:
    hint = f"scaffold fill {spec.layer} --table {spec.name}"
    return (
        f'"""Tests of {spec.name}: `{hint}` writes them with the transformation."""\n\n'
        "import pytest\n\n"
        "pytestmark = pytest.mark.unit\n\n\n"
        f'@pytest.mark.skip(reason="stub: run `{hint}`")\n'
        f"def test_{spec.name}_is_filled():\n"
        "    raise AssertionError\n"
    )


class ModuleState(str, Enum):
    MISSING = "missing"
    STUB = "stub"
    FILLED = "filled"
    BROKEN = "broken"  # does not parse: neither a stub to fill nor finished work


def module_state(path: Path) -> ModuleState:
    """What a table's module is now, so a broken file is never reported as filled."""
    if not path.is_file():
        return ModuleState.MISSING
    source = path.read_text(encoding="utf-8")
    try:
        ast.parse(source)
    except SyntaxError:
        return ModuleState.BROKEN
    return ModuleState.STUB if is_stub(source) else ModuleState.FILLED


def is_stub(source: str) -> bool:
    """True when `transform` raises NotImplementedError (False when the module does not parse).

    The runtime's rule (`lakeforge.runner.is_stub_source`), so doctor and `local_pipeline run` agree."""
    return is_stub_source(source)


def is_stub_test(source: str) -> bool:
    return '@pytest.mark.skip(reason="stub:' in source


def ensure_stub(project: Project, manifest: Manifest, spec: TableSpec) -> list[str]:
    """Create the module and test stubs when missing; returns the paths created.

    Shared by `scaffold add` and `scaffold fill`, so adding a table never loads the fill engine.
    """
    created = []
    for rel, text in (
        (spec.module_path(project.package), stub_module(spec)),
        (spec.test_path(), stub_test(spec)),
    ):
        path = project.root / rel
        if not path.exists():
            init = path.parent / "__init__.py"
            if rel.startswith("src/") and not init.exists():
                atomic_write(init, "")
                created.append(init.relative_to(project.root).as_posix())
            write_tracked(project.root, manifest, rel, text)
            created.append(rel)
    return created
