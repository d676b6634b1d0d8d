"""Mutants of a table: wrong versions of `transform` that a good test must notice.

Two kinds, both Spark-aware and both killable by a test that asserts exact rows:

- output mutants change what the real `transform` returned: its input instead, no rows, one row
  missing, one row twice, one column all null (cast to its type);
- hint mutants rebuild the output while a pyspark API is swapped for a wrong one, following the
  hints in `tables.yml`: no dedupe, no not-null filter, ascending instead of descending order,
  an inner instead of a left join (and back), a different aggregate.

Values no test can know (load timestamps) are never perturbed, only nulled. A mutant whose
output equals the real output on every input the tests gave is equivalent there and not
required; one that cannot even be built (its swap breaks the plan) is not applicable. Both are
decided here, before any test runs against the mutant.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from lakeforge.tables import TableSpec

Override = Callable[[Callable[..., Any], tuple[Any, ...], dict[str, Any]], Any]
# A mutant's builder also gets the same call as recorded in the test's first real run (or None):
# output mutants are made from those rows instead of running the real transform again.
Build = Callable[[Callable[..., Any], tuple[Any, ...], dict[str, Any], "Recorded | None"], Any]


class MutantMachineryError(BaseException):
    """The mutation itself failed (not the test): a BaseException, so `except Exception` in a test cannot hide it."""


@dataclass
class Recorded:
    """One call of the table's transform in its own tests: the inputs and what came back."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    columns: list[tuple[str, str]]  # (name, simpleString)
    rows: list[tuple[Any, ...]]
    schema: Any = None  # the StructType transform returned
    stable: list[int] | None = None  # columns a second run reproduces (computed when first needed)


@dataclass
class Mutant:
    name: str
    advice: str  # what a surviving mutant tells the model, in plain words
    build: Build
    # Decides equivalence from the recorded rows alone, without running Spark (output mutants).
    same_on: Callable[[list[Recorded]], bool] | None = None
    invocations: int = 0
    broke: str = ""  # the machinery's own error, when it failed

    def override(
        self,
        original: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        recorded: Recorded | None = None,
    ) -> Any:
        self.invocations += 1
        try:
            result = self.build(original, args, kwargs, recorded)
            result.schema  # noqa: B018 - analyse now, so a broken mutant fails here, not in the test
        except Exception as exc:
            self.broke = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            raise MutantMachineryError(f"mutant {self.name} could not be built: {self.broke}") from None
        return result


def _first_input(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return args[0] if args else next(iter(kwargs.values()))


def _output(original: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], recorded: Recorded | None):
    """The real output as (rows, schema, session): from the recorded call when there is one."""
    if recorded is not None and recorded.schema is not None:
        return sorted(recorded.rows, key=repr), recorded.schema, _first_input(args, kwargs).sparkSession
    result = original(*args, **kwargs)
    return sorted((tuple(r) for r in result.collect()), key=repr), result.schema, result.sparkSession


def _frame(session: Any, rows: list[tuple[Any, ...]], schema: Any, nullable: str | None = None) -> Any:
    if nullable is not None:  # a column made null must be allowed to be null
        from pyspark.sql.types import StructField, StructType

        schema = StructType(
            [StructField(f.name, f.dataType, True if f.name == nullable else f.nullable) for f in schema.fields]
        )
    return session.createDataFrame(rows, schema)


def output_mutants(spec: TableSpec) -> list[Mutant]:
    def identity(original: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], recorded: Any) -> Any:
        return _first_input(args, kwargs)

    def empty(original: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], recorded: Any) -> Any:
        if recorded is not None and recorded.schema is not None:
            return _frame(_first_input(args, kwargs).sparkSession, [], recorded.schema)
        return original(*args, **kwargs).limit(0)

    def drop_row(original: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], recorded: Any) -> Any:
        rows, schema, session = _output(original, args, kwargs, recorded)
        return _frame(session, rows[1:], schema)

    def duplicate_row(
        original: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], recorded: Any
    ) -> Any:
        rows, schema, session = _output(original, args, kwargs, recorded)
        return _frame(session, rows + rows[:1], schema)

    def no_output(calls: list[Recorded]) -> bool:
        return all(not call.rows for call in calls)

    mutants = [
        Mutant(
            "input-unchanged",
            "when transform returns its input unchanged: assert the transformed rows",
            identity,
            _returns_input,
        ),
        Mutant("no-rows", "when transform returns no rows: assert the exact expected rows", empty, no_output),
        Mutant(
            "row-missing", "when one output row is missing: assert the exact rows and their count", drop_row, no_output
        ),
        Mutant(
            "row-duplicated",
            "when one output row appears twice: assert the exact rows and their count",
            duplicate_row,
            no_output,
        ),
    ]
    for position, column in enumerate(spec.schema_):
        mutants.append(
            Mutant(
                f"null-{column.name}",
                f"when every `{column.name}` is null: assert the values of {column.name}",
                _null_column(column.name),
                lambda calls, i=position: all(row[i] is None for call in calls for row in call.rows),
            )
        )
    return mutants


def _returns_input(calls: list[Recorded]) -> bool:
    """The transform already returns its first input as it is, on every recorded call."""
    for call in calls:
        first = _first_input(call.args, call.kwargs)
        columns = [(f.name, f.dataType.simpleString()) for f in first.schema.fields]
        if columns != call.columns or canonical(columns, [tuple(r) for r in first.collect()]) != canonical(
            call.columns, call.rows
        ):
            return False
    return True


def _null_column(name: str) -> Build:
    def build(original: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], recorded: Any) -> Any:
        rows, schema, session = _output(original, args, kwargs, recorded)
        position = schema.fieldNames().index(name)
        nulled = [(*row[:position], None, *row[position + 1 :]) for row in rows]
        return _frame(session, nulled, schema, nullable=name)

    return build


# --- hint mutants: swap a pyspark API while the real transform builds its plan ---------------


@dataclass
class Swap:
    owner: Any
    attribute: str
    replacement: Callable[[Any], Any]  # gets the original, returns the stand-in


@dataclass
class _Patched:
    module_name: str
    swaps: list[Swap] = field(default_factory=list)

    @contextlib.contextmanager
    def applied(self) -> Iterator[None]:
        undo: list[tuple[Any, str, Any]] = []  # (owner, attribute, value to put back or _ABSENT)
        table_module = sys.modules.get(self.module_name)
        stand_ins = [(swap, getattr(swap.owner, swap.attribute)) for swap in self.swaps]  # read all first
        try:
            for swap, current in stand_ins:
                stand_in = swap.replacement(current)
                own = vars(swap.owner).get(swap.attribute, _ABSENT)
                undo.append((swap.owner, swap.attribute, own))
                setattr(swap.owner, swap.attribute, stand_in)
                # `from pyspark.sql.functions import row_number` bound the original in the module.
                if table_module is not None and not isinstance(swap.owner, type):
                    for name, value in list(vars(table_module).items()):
                        if value is current:
                            undo.append((table_module, name, value))
                            setattr(table_module, name, stand_in)
            yield
        finally:
            for owner, attribute, value in reversed(undo):
                if value is _ABSENT:
                    delattr(owner, attribute)
                else:
                    setattr(owner, attribute, value)


_ABSENT = object()


def _hint_mutant(name: str, advice: str, module_name: str, swaps: Callable[[], list[Swap]]) -> Mutant:
    def build(original: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], recorded: Any) -> Any:
        with _Patched(module_name, swaps()).applied():
            return original(*args, **kwargs)

    return Mutant(name, advice, build)


def _classes() -> dict[str, type]:
    from pyspark.sql import GroupedData
    from pyspark.sql.classic.column import Column
    from pyspark.sql.classic.dataframe import DataFrame

    return {"DataFrame": DataFrame, "Column": Column, "GroupedData": GroupedData}


def _functions_modules() -> list[Any]:
    import pyspark.sql.functions as functions
    import pyspark.sql.functions.builtin as builtin

    return [functions, builtin]


def _function_swaps(names: dict[str, Callable[[Any], Any]]) -> list[Swap]:
    return [
        Swap(module, name, replacement)
        for module in _functions_modules()
        for name, replacement in names.items()
        if hasattr(module, name)
    ]


class _RankOne:
    """Stands in for row_number()/rank(): `.over(window)` gives 1 for every row (no dedupe)."""

    def over(self, window: Any) -> Any:
        from pyspark.sql import functions as F

        return F.lit(1)


def hint_mutants(spec: TableSpec, module_name: str) -> list[Mutant]:
    mutants: list[Mutant] = []
    classes = _classes
    if spec.keys and spec.layer != "gold":
        keys = ", ".join(spec.keys)

        def no_dedupe() -> list[Swap]:
            DataFrame = classes()["DataFrame"]
            same = lambda original: lambda self, *a, **k: self  # noqa: E731
            return [
                *(Swap(DataFrame, m, same) for m in ("dropDuplicates", "drop_duplicates", "distinct")),
                *_function_swaps(
                    {f: (lambda original: lambda *a, **k: _RankOne()) for f in ("row_number", "rank", "dense_rank")}
                ),
            ]

        mutants.append(
            _hint_mutant(
                "no-dedupe",
                f"without the deduplication on {keys}: feed two rows with the same key and assert which one is kept",
                module_name,
                no_dedupe,
            )
        )
    if spec.not_null:

        def no_not_null() -> list[Swap]:
            from pyspark.sql import functions as F

            Column, DataFrame = classes()["Column"], classes()["DataFrame"]
            return [
                Swap(Column, "isNotNull", lambda original: lambda self: F.lit(True)),
                Swap(DataFrame, "dropna", lambda original: lambda self, *a, **k: self),
                *_function_swaps({"isnotnull": lambda original: lambda col: F.lit(True)}),
            ]

        mutants.append(
            _hint_mutant(
                "no-not-null-filter",
                f"without the not_null filter on {', '.join(spec.not_null)}: feed a row where it is null and "
                "assert that row is dropped",
                module_name,
                no_not_null,
            )
        )
    if spec.dedupe:
        flips = {
            "desc": "asc",
            "asc": "desc",
            "desc_nulls_last": "asc_nulls_last",
            "asc_nulls_last": "desc_nulls_last",
            "desc_nulls_first": "asc_nulls_first",
            "asc_nulls_first": "desc_nulls_first",
        }

        def flipped_order() -> list[Swap]:
            # Each name gets the function of its opposite, read before anything is swapped.
            owners = [classes()["Column"], *_functions_modules()]
            swaps = []
            for owner in owners:
                originals = {name: getattr(owner, name) for name in flips if hasattr(owner, name)}
                swaps += [
                    Swap(owner, name, lambda current, target=originals[flips[name]]: target)
                    for name in originals
                    if flips[name] in originals
                ]
            return swaps

        mutants.append(
            _hint_mutant(
                "order-flipped",
                f"when the dedupe keeps the earliest instead of the latest by {spec.dedupe.order_by}: feed two "
                "versions of one key and assert the latest wins",
                module_name,
                flipped_order,
            )
        )
    if len(spec.inputs) > 1:

        def swapped_join() -> list[Swap]:
            DataFrame = classes()["DataFrame"]
            turn = {None: "left", "inner": "left", "left": "inner", "left_outer": "inner", "leftouter": "inner"}

            def replacement(original: Callable[..., Any]) -> Callable[..., Any]:
                def join(self: Any, other: Any, on: Any = None, how: str | None = None) -> Any:
                    return original(self, other, on, turn.get(how.lower() if how else None, how))

                return join

            return [Swap(DataFrame, "join", replacement)]

        mutants.append(
            _hint_mutant(
                "join-swapped",
                "when the left join becomes an inner join (or the inner join a left one): include a row with no "
                "match in the other input and assert whether it is kept",
                module_name,
                swapped_join,
            )
        )
    aggregates = {m.agg for m in spec.measures}
    replacements = {
        "sum": ("max", "sum(x) is replaced by max(x): use a group with several rows and assert the totals"),
        "avg": ("max", "avg(x) is replaced by max(x): use a group with several different values and assert the mean"),
        "min": ("max", "min(x) is replaced by max(x): use a group with several different values"),
        "max": ("min", "max(x) is replaced by min(x): use a group with several different values"),
        "count": ("one", "count(x) is replaced by 1 per group: use a group with several rows and assert the count"),
        "count_distinct": ("count", "count_distinct(x) is replaced by count(x): use repeated values in a group"),
    }
    function_names = {"sum": ["sum"], "avg": ["avg", "mean"], "min": ["min"], "max": ["max"], "count": ["count"]}
    function_names["count_distinct"] = ["count_distinct", "countDistinct"]
    for agg in sorted(aggregates):
        target, advice = replacements[agg]

        def swapped_aggregate(names: list[str] = function_names[agg], target: str = target) -> list[Swap]:
            from pyspark.sql import functions as F

            stand_in: Callable[..., Any] = (lambda *a, **k: F.max(F.lit(1))) if target == "one" else getattr(F, target)
            GroupedData = classes()["GroupedData"]
            swaps = _function_swaps({name: (lambda original, s=stand_in: s) for name in names})
            if target != "one" and hasattr(GroupedData, target):
                swaps += [
                    Swap(GroupedData, name, lambda original, t=target: getattr(GroupedData, t))
                    for name in names
                    if hasattr(GroupedData, name)
                ]
            return swaps

        mutants.append(_hint_mutant(f"aggregate-{agg}", f"when {advice}", module_name, swapped_aggregate))
    return mutants


def mutants_for(spec: TableSpec, module_name: str) -> list[Mutant]:
    return output_mutants(spec) + hint_mutants(spec, module_name)


def canonical(columns: list[tuple[str, str]], rows: list[tuple[Any, ...]]) -> tuple[Any, ...]:
    """A comparable form of a result: its columns and its rows as a sorted multiset."""
    return tuple(columns), tuple(sorted(repr(r) for r in rows))


def equivalent(mutant: Mutant, calls: list[Recorded], original: Callable[..., Any]) -> bool:
    """True when the mutant returns what the real transform returned for every recorded input.

    Columns whose values change from one run of the real transform to the next (a load
    timestamp) are left out of the comparison: no test can know them. Raises
    MutantMachineryError when the mutant cannot be built on those inputs.
    """
    if mutant.same_on is not None:
        return mutant.same_on(calls)
    for call in calls:
        result = mutant.override(original, call.args, call.kwargs)
        columns = [(f.name, f.dataType.simpleString()) for f in result.schema.fields]
        if columns != call.columns:
            return False
        stable = _stable_columns(call, original)
        rows = [tuple(r) for r in result.collect()]
        if _project(rows, stable) != _project(call.rows, stable):
            return False
    return True


def _stable_columns(call: Recorded, original: Callable[..., Any]) -> list[int]:
    """Positions of the columns a second run of the real transform reproduces exactly."""
    if call.stable is None:
        again = [tuple(r) for r in original(*call.args, **call.kwargs).collect()]
        width = len(call.columns)
        call.stable = [
            i for i in range(width) if sorted(repr(r[i]) for r in again) == sorted(repr(r[i]) for r in call.rows)
        ]
    return call.stable


def _project(rows: list[tuple[Any, ...]], positions: list[int]) -> list[str]:
    return sorted(repr(tuple(row[i] for i in positions)) for row in rows)
