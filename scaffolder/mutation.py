"""Mutants of a table's module, as source: wrong versions of `transform` a good test must notice.

Each mutant is the module's own source, changed, and runs at the module's own path in a fresh
worker exactly as the real module does — nothing in the process tells a mutant run from a real
one. Two kinds, both killable by a test that asserts exact rows:

- output mutants keep the module and change what `transform` returns: its first input instead,
  no rows, one row missing, one row twice, one column all null (lazy DataFrame operations from
  `scaffolder.inside.mutation_ops`, so the rows are whatever the real code computed);
- hint mutants rewrite pyspark calls the hints in `tables.yml` call for: no dedupe, no not-null
  filter, ascending instead of descending order, an inner instead of a left join (and back),
  another aggregate.

A hint mutant with nothing to rewrite does not exist (the module reaches the same result another
way); the output mutants always exist. Whether a mutant is killed, survives or is equivalent on
the tests' inputs is the judge's to decide from the runs.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from lakeforge.tables import TableSpec

FUNCTIONS = "pyspark.sql.functions"
_OPS = "scaffolder.inside.mutation_ops"
METADATA = ("_ingested_at", "_source_file")  # values no test can know: nulled, never changed
RANKING = {"row_number", "rank", "dense_rank"}
DEDUPE_METHODS = {"dropDuplicates", "drop_duplicates", "distinct", "dropDuplicatesWithinWatermark"}
ORDER_FLIPS = {
    "desc": "asc",
    "asc": "desc",
    "desc_nulls_last": "asc_nulls_last",
    "asc_nulls_last": "desc_nulls_last",
    "desc_nulls_first": "asc_nulls_first",
    "asc_nulls_first": "desc_nulls_first",
}
JOIN_FLIPS = {"left": "inner", "left_outer": "inner", "leftouter": "inner", "inner": "left"}
AGGREGATE_SWAPS = {
    "sum": ("max", ["sum"], "sum(x) is replaced by max(x): use a group with several rows and assert the totals"),
    "avg": ("max", ["avg", "mean"], "avg(x) is replaced by max(x): use a group with several different values"),
    "min": ("max", ["min"], "min(x) is replaced by max(x): use a group with several different values"),
    "max": ("min", ["max"], "max(x) is replaced by min(x): use a group with several different values"),
    "count": ("one", ["count"], "count(x) is replaced by 1 per group: use a group with several rows"),
    "count_distinct": (
        "count",
        ["count_distinct", "countDistinct"],
        "count_distinct(x) is replaced by count(x): use repeated values in a group",
    ),
}
_NOT_NULL_SQL = re.compile(r"\b[\w.`]+\s+is\s+not\s+null\b", re.I)


@dataclass(frozen=True)
class SourceMutant:
    name: str
    advice: str  # what a surviving mutant tells the model, in plain words ("your tests still pass ...")
    source: str
    # A hint mutant rewrites what tables.yml says the table does (dedupe, filter, join, aggregate):
    # when it returns the same rows as the real code, the tests never exercised that behaviour.
    hint: bool = False


def mutants_for(spec: TableSpec, source: str, parameters: list[str], salt: str = "") -> list[SourceMutant]:
    """Every mutant of the module for this table; hint mutants only where they have a site.

    The names a mutant adds to the module carry `salt` (drawn per round): code cannot know them
    in advance, so it can neither import them nor set them to break the mutant.
    """
    names = _Injected(salt)
    tree = ast.parse(source)
    found = [*output_mutants(spec, source, parameters, names)]
    for name, advice, rewriter in hint_rewriters(spec):
        mutated = _rewrite(tree, rewriter, names)
        if mutated is not None:
            found.append(SourceMutant(name, advice, mutated, hint=True))
    return found


# --- output mutants: the module unchanged, a wrapper around what transform returns -------------


@dataclass(frozen=True)
class _Injected:
    salt: str

    @property
    def functions(self) -> str:
        return f"_lf{self.salt}_F"

    @property
    def original(self) -> str:
        return f"_lf{self.salt}_original"

    @property
    def mutate(self) -> str:
        return f"_lf{self.salt}_mutate"


def output_mutants(spec: TableSpec, source: str, parameters: list[str], names: _Injected) -> list[SourceMutant]:
    first = parameters[0] if parameters else ""
    params = ", ".join(parameters)

    def around(name: str, advice: str, op: str, *extra: str) -> SourceMutant:
        arguments = ", ".join([f"{names.original}({params})", *extra])
        definition = (
            f"from {_OPS} import {op} as {names.mutate}\n"
            f"{names.original} = transform\n\n\n"
            f"def transform({params}):\n    return {names.mutate}({arguments})\n"
        )
        return _wrapped(source, name, advice, definition)

    mutants = [
        _wrapped(
            source,
            "input-unchanged",
            "when transform returns its input unchanged: assert the transformed rows",
            f"def transform({params}):\n    return {first}\n",
        ),
        around("no-rows", "when transform returns no rows: assert the exact expected rows", "no_rows"),
        around("row-missing", "when one output row is missing: assert the exact rows and their count", "row_missing"),
        around(
            "row-duplicated",
            "when one output row appears twice: assert the exact rows and their count",
            "row_duplicated",
        ),
    ]
    for column in spec.schema_:
        mutants.append(
            around(
                f"null-{column.name}",
                f"when every `{column.name}` is null: assert the values of {column.name}",
                "null_column",
                repr(column.name),
                repr(column.type),
            )
        )
    for column in spec.schema_:
        if column.name in METADATA or column.type.startswith("array<"):
            continue
        mutants.append(
            around(
                f"value-{column.name}",
                f"when every `{column.name}` is a little off ({_VALUE_CHANGE.get(_kind(column.type), 'changed')}): "
                f"assert the exact values of {column.name}, not a tolerance or a part of them",
                "value_changed",
                repr(column.name),
                repr(column.type),
            )
        )
    return mutants


def _kind(type_string: str) -> str:
    return "decimal" if type_string.startswith("decimal") else type_string


_VALUE_CHANGE = {
    "decimal": "one unit of its last digit more",
    "double": "1 more",
    "float": "1 more",
    "int": "1 more",
    "bigint": "1 more",
    "smallint": "1 more",
    "tinyint": "1 more",
    "string": "one character longer",
    "boolean": "negated",
    "date": "one day later",
    "timestamp": "one second later",
    "timestamp_ntz": "one second later",
}


def _wrapped(source: str, name: str, advice: str, definition: str) -> SourceMutant:
    """The module as written, then a new `transform` defined after it (the last definition wins)."""
    return SourceMutant(name, advice, source.rstrip("\n") + "\n\n\n" + definition)


# --- hint mutants: rewrite pyspark calls --------------------------------------------------------


class _Names:
    """What the module's names stand for: `F` -> pyspark.sql.functions, `col` -> ...functions.col."""

    def __init__(self, tree: ast.Module) -> None:
        self.aliases: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        self.aliases[alias.asname] = alias.name
                    else:
                        self.aliases[alias.name.split(".")[0]] = alias.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    self.aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"

    def qualified(self, node: ast.AST) -> str:
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id, "")
        if isinstance(node, ast.Attribute):
            base = self.qualified(node.value)
            return f"{base}.{node.attr}" if base else ""
        return ""

    def function(self, node: ast.AST) -> str:
        """`row_number` when the call's function is pyspark.sql.functions.row_number, else ""."""
        name = self.qualified(node)
        for prefix in (FUNCTIONS + ".", "pyspark.sql.functions.builtin."):
            if name.startswith(prefix) and "." not in name[len(prefix) :]:
                return name[len(prefix) :]
        return ""


class _Rewriter(ast.NodeTransformer):
    def __init__(self, names: _Names, functions: str) -> None:
        self.names = names
        self.functions = functions  # the injected name of pyspark.sql.functions
        self.sites = 0

    def _f(self, attribute: str) -> ast.Attribute:
        return ast.Attribute(value=ast.Name(id=self.functions, ctx=ast.Load()), attr=attribute, ctx=ast.Load())

    def _f_call(self, attribute: str, *args: ast.expr) -> ast.Call:
        return ast.Call(func=self._f(attribute), args=list(args), keywords=[])


class _NoDedupe(_Rewriter):
    def visit_Call(self, node: ast.Call) -> ast.AST:
        func = node.func
        over = func.value if isinstance(func, ast.Attribute) and func.attr == "over" else None
        if isinstance(over, ast.Call) and self.names.function(over.func) in RANKING:
            self.sites += 1  # row_number().over(w) -> lit(1)
            return self._f_call("lit", ast.Constant(1))
        node = self.generic_visit(node)  # type: ignore[assignment]
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in DEDUPE_METHODS:
            self.sites += 1
            return func.value
        if self.names.function(func) in RANKING:
            self.sites += 1
            return self._f_call("lit", ast.Constant(1))
        return node


class _NoNotNull(_Rewriter):
    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        operand = node.operand
        if (
            isinstance(node.op, ast.Invert)
            and isinstance(operand, ast.Call)
            and isinstance(operand.func, ast.Attribute)
            and operand.func.attr == "isNull"
        ):
            self.sites += 1
            return self._f_call("lit", ast.Constant(True))
        return self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        node = self.generic_visit(node)  # type: ignore[assignment]
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "isNotNull" and not node.args:
            self.sites += 1
            return self._f_call("lit", ast.Constant(True))
        if self.names.function(func) == "isnotnull":
            self.sites += 1
            return self._f_call("lit", ast.Constant(True))
        if isinstance(func, ast.Attribute) and func.attr == "dropna":
            self.sites += 1
            return func.value
        if (
            isinstance(func, ast.Attribute)
            and func.attr == "drop"
            and isinstance(func.value, ast.Attribute)
            and func.value.attr == "na"
        ):
            self.sites += 1
            return func.value.value
        if isinstance(func, ast.Attribute) and func.attr in ("where", "filter") and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str) and _NOT_NULL_SQL.search(first.value):
                self.sites += 1
                node.args[0] = ast.Constant(_NOT_NULL_SQL.sub("TRUE", first.value))
        return node


class _FlipOrder(_Rewriter):
    def visit_Call(self, node: ast.Call) -> ast.AST:
        node = self.generic_visit(node)  # type: ignore[assignment]
        func = node.func
        name = self.names.function(func)
        if name in ORDER_FLIPS:
            self.sites += 1
            node.func = self._f(ORDER_FLIPS[name])
        elif isinstance(func, ast.Attribute) and func.attr in ORDER_FLIPS and not name:
            self.sites += 1
            func.attr = ORDER_FLIPS[func.attr]
        if isinstance(func, ast.Attribute) and func.attr in ("orderBy", "sort", "sortWithinPartitions"):
            for keyword in node.keywords:
                if keyword.arg == "ascending" and isinstance(keyword.value, ast.Constant):
                    self.sites += 1
                    keyword.value = ast.Constant(not keyword.value.value)
        return node


class _SwapJoin(_Rewriter):
    def visit_Call(self, node: ast.Call) -> ast.AST:
        node = self.generic_visit(node)  # type: ignore[assignment]
        func = node.func
        if not (isinstance(func, ast.Attribute) and func.attr == "join"):
            return node
        how = next((k for k in node.keywords if k.arg == "how"), None)
        if how is not None:
            value = how.value
        elif len(node.args) >= 3:
            value = node.args[2]
        else:
            self.sites += 1
            node.keywords.append(ast.keyword(arg="how", value=ast.Constant("left")))
            return node
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            flipped = JOIN_FLIPS.get(value.value.lower())
            if flipped:
                self.sites += 1
                value.value = flipped
        return node


class _SwapAggregate(_Rewriter):
    def __init__(self, names: _Names, injected: str, functions: list[str], target: str) -> None:
        super().__init__(names, injected)
        self.aggregates = functions
        self.target = target

    def visit_Call(self, node: ast.Call) -> ast.AST:
        node = self.generic_visit(node)  # type: ignore[assignment]
        func = node.func
        if self.names.function(func) in self.aggregates:
            self.sites += 1
            if self.target == "one":
                return self._f_call("max", self._f_call("lit", ast.Constant(1)))
            node.func = self._f(self.target)
            return node
        grouped = (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Call)
            and isinstance(func.value.func, ast.Attribute)
            and func.value.func.attr in ("groupBy", "groupby")
        )
        if grouped and isinstance(func, ast.Attribute) and func.attr in self.aggregates and self.target != "one":
            self.sites += 1
            func.attr = self.target
        if isinstance(func, ast.Attribute) and func.attr == "agg" and node.args and isinstance(node.args[0], ast.Dict):
            for value in node.args[0].values:
                if isinstance(value, ast.Constant) and value.value in self.aggregates and self.target != "one":
                    self.sites += 1
                    value.value = self.target
        return node


def hint_rewriters(spec: TableSpec) -> list[tuple[str, str, type[_Rewriter] | tuple[list[str], str]]]:
    found: list[tuple[str, str, type[_Rewriter] | tuple[list[str], str]]] = []
    if spec.keys and spec.layer != "gold":
        found.append(
            (
                "no-dedupe",
                f"without the deduplication on {', '.join(spec.keys)}: feed two rows with the same key and "
                "assert which one is kept",
                _NoDedupe,
            )
        )
    if spec.not_null:
        found.append(
            (
                "no-not-null-filter",
                f"without the not_null filter on {', '.join(spec.not_null)}: feed a row where it is null and "
                "assert that row is dropped",
                _NoNotNull,
            )
        )
    if spec.dedupe:
        found.append(
            (
                "order-flipped",
                f"when the dedupe keeps the earliest instead of the latest by {spec.dedupe.order_by}: feed two "
                "versions of one key and assert the latest wins",
                _FlipOrder,
            )
        )
    if len(spec.inputs) > 1:
        found.append(
            (
                "join-swapped",
                "when the left join becomes an inner join (or the inner join a left one): include a row with no "
                "match in the other input and assert whether it is kept",
                _SwapJoin,
            )
        )
    for agg in sorted({m.agg for m in spec.measures}):
        target, functions, advice = AGGREGATE_SWAPS[agg]
        found.append((f"aggregate-{agg}", f"when {advice}", (functions, target)))
    return found


def _rewrite(tree: ast.Module, rewriter: type[_Rewriter] | tuple[list[str], str], injected: _Injected) -> str | None:
    copy = ast.parse(ast.unparse(tree))
    names = _Names(copy)
    if isinstance(rewriter, tuple):
        visitor: _Rewriter = _SwapAggregate(names, injected.functions, *rewriter)
    else:
        visitor = rewriter(names, injected.functions)
    mutated = visitor.visit(copy)
    if not visitor.sites:
        return None
    _inject_functions_import(mutated, injected.functions)
    ast.fix_missing_locations(mutated)
    return ast.unparse(mutated)


def _inject_functions_import(tree: ast.Module, alias: str) -> None:
    """`import pyspark.sql.functions as <alias>` after the docstring and `__future__` imports."""
    position = 0
    for position, node in enumerate(tree.body):
        docstring = position == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        future = isinstance(node, ast.ImportFrom) and node.module == "__future__"
        if not (docstring or future):
            break
    else:
        position = len(tree.body)
    tree.body.insert(position, ast.Import(names=[ast.alias(name=FUNCTIONS, asname=alias)]))
