"""Read a module's `SCHEMA` from its syntax tree, never by running it.

A reply is untrusted input: `SCHEMA = [os.system(...), T.StructType(...)][1]` would run a
command in scaffold's own process if the expression were evaluated. So the only SCHEMA accepted
is the one a person writes: `StructType([StructField("name", <Type>(...), <bool>), ...])` built
from `pyspark.sql.types` classes (as `T.X`, `types.X` or a bare imported name) with literal
arguments. Anything else is a contract error that names what was found.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import TypeVar

from lakeforge.tables import SIMPLE_TYPES

L = TypeVar("L", str, int, bool)

# pyspark.sql.types class -> the simpleString tables.yml uses (aliases like `integer` collapse).
_SIMPLE = {cls: name for name, cls in reversed(list(SIMPLE_TYPES.items()))}
_TYPES_MODULES = {"T", "types", "pyspark.sql.types"}


class SchemaSyntaxError(ValueError):
    """SCHEMA is not a literal StructType of pyspark.sql.types; the message says what was found."""


@dataclass(frozen=True)
class Field:
    name: str
    type: str  # Spark's simpleString, e.g. decimal(10,2)
    nullable: bool


def find_schema(tree: ast.Module) -> tuple[ast.expr | None, list[int]]:
    """The value of the top-level `SCHEMA` assignment, and the lines of every assignment to it."""
    values: list[tuple[int, ast.expr]] = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(_names_schema(t) for t in node.targets):
            values.append((node.lineno, node.value))
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and _names_schema(node.target):
            values.append((node.lineno, node.value if node.value is not None else ast.Constant(None)))
    if not values:
        return None, []
    return values[-1][1], [line for line, _ in values]


def _names_schema(target: ast.expr) -> bool:
    if isinstance(target, ast.Name):
        return target.id == "SCHEMA"
    if isinstance(target, (ast.Tuple, ast.List)):
        return any(_names_schema(t) for t in target.elts)
    return False


def read_schema(node: ast.expr) -> list[Field]:
    """The fields of a literal `StructType([...])`; SchemaSyntaxError for anything else."""
    args = _call(node, "StructType")
    if len(args.positional) != 1 or args.keywords.keys() - {"fields"}:
        items = args.keywords.get("fields")
        if items is None:
            raise SchemaSyntaxError("StructType takes one list of StructField(...)")
    else:
        items = args.positional[0]
    if not isinstance(items, (ast.List, ast.Tuple)):
        raise SchemaSyntaxError(f"StructType needs a literal list of StructField(...), found {_shown(items)}")
    return [_field(item) for item in items.elts]


@dataclass
class _Args:
    name: str
    positional: list[ast.expr]
    keywords: dict[str, ast.expr]


def _call(node: ast.expr, expected: str | None = None) -> _Args:
    if not isinstance(node, ast.Call):
        raise SchemaSyntaxError(f"found {_shown(node)} where a pyspark.sql.types call belongs")
    name = _class_name(node.func)
    if expected is not None and name != expected:
        raise SchemaSyntaxError(f"found {name}(...) where {expected}(...) belongs")
    if any(k.arg is None for k in node.keywords) or any(isinstance(a, ast.Starred) for a in node.args):
        raise SchemaSyntaxError(f"{name}(...) may not use *args or **kwargs")
    return _Args(name, list(node.args), {k.arg: k.value for k in node.keywords if k.arg})


def _class_name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute) and _dotted(func.value) in _TYPES_MODULES:
        return func.attr
    raise SchemaSyntaxError(f"SCHEMA may only call pyspark.sql.types classes, found {_shown(func)}")


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _field(node: ast.expr) -> Field:
    args = _call(node, "StructField")
    params = ["name", "dataType", "nullable", "metadata"]
    if len(args.positional) > len(params) or args.keywords.keys() - set(params):
        raise SchemaSyntaxError("StructField takes (name, dataType, nullable=True, metadata=None)")
    bound = dict(zip(params, args.positional, strict=False))
    for key, value in args.keywords.items():
        if key in bound:
            raise SchemaSyntaxError(f"StructField got {key} twice")
        bound[key] = value
    name = _literal(bound.get("name"), str, "a StructField name")
    if "dataType" not in bound:
        raise SchemaSyntaxError(f"StructField {name!r} has no type")
    nullable = _literal(bound["nullable"], bool, f"nullable of {name!r}") if "nullable" in bound else True
    if "metadata" in bound and not (isinstance(bound["metadata"], ast.Dict) or _is_none(bound["metadata"])):
        raise SchemaSyntaxError(f"metadata of {name!r} must be a literal dict")
    metadata = bound.get("metadata")
    if isinstance(metadata, ast.Dict):
        for part in [*metadata.keys, *metadata.values]:
            if part is not None and not isinstance(part, ast.Constant):
                raise SchemaSyntaxError(f"metadata of {name!r} must hold literals only")
    return Field(name, _type(bound["dataType"]), nullable)


def _type(node: ast.expr) -> str:
    args = _call(node)
    name = args.name
    if name in _SIMPLE:
        if args.positional or args.keywords:
            raise SchemaSyntaxError(f"{name}() takes no arguments")
        return _SIMPLE[name]
    if name == "DecimalType":
        values = dict(zip(["precision", "scale"], args.positional, strict=False))
        values.update(args.keywords)
        if len(args.positional) > 2 or values.keys() - {"precision", "scale"}:
            raise SchemaSyntaxError("DecimalType takes (precision=10, scale=0)")
        precision = _literal(values["precision"], int, "DecimalType precision") if "precision" in values else 10
        scale = _literal(values["scale"], int, "DecimalType scale") if "scale" in values else 0
        return f"decimal({precision},{scale})"
    if name == "ArrayType":
        values = dict(zip(["elementType", "containsNull"], args.positional, strict=False))
        values.update(args.keywords)
        if "elementType" not in values or values.keys() - {"elementType", "containsNull"}:
            raise SchemaSyntaxError("ArrayType takes (elementType, containsNull=True)")
        if "containsNull" in values:
            _literal(values["containsNull"], bool, "ArrayType containsNull")
        return f"array<{_type(values['elementType'])}>"
    raise SchemaSyntaxError(f"{name} is not a column type tables.yml can declare")


def _literal(node: ast.expr | None, kind: type[L], what: str) -> L:
    if isinstance(node, ast.Constant) and type(node.value) is kind:
        value: L = node.value
        return value
    raise SchemaSyntaxError(f"{what} must be a literal {kind.__name__}, found {_shown(node)}")


def _is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _shown(node: ast.AST | None) -> str:
    if node is None:
        return "nothing"
    text = ast.unparse(node)
    return repr(text if len(text) <= 60 else text[:57] + "...")
