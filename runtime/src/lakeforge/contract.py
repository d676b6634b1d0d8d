"""The output contract of a table: what `transform` returns must be what `tables.yml` declares.

One set of rules serves three places, so they can never disagree: the runner checks the schema
of every table it builds (analysis only, no Spark job), `lakeforge.testing` checks schema and
rows of every `transform` call in a repo's unit tests, and `scaffold fill` checks the same in its
validation round before it keeps a table. A test that compares `12.5` with `Decimal("12.50")`
passes in Python; this check does not, because it reads the DataFrame, not the test.

Nullability is not compared: Spark infers it from the plan (a cast is always nullable), so the
declared NOT NULL columns are checked on the rows instead.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lakeforge.tables import TABLES_FILE, TableSpec, check_type

if TYPE_CHECKING:
    from pyspark.sql import DataFrame
    from pyspark.sql.types import StructType


class ContractViolation(AssertionError):
    """`transform` returned something other than the declared table (an assertion, so tests fail on it)."""


def declared(spec: TableSpec) -> str:
    return f"SCHEMA and {TABLES_FILE} say"


def schema_problems(actual: StructType, spec: TableSpec) -> list[str]:
    """Names, order and types of the returned columns against the table's declared schema.

    One line per problem, naming the column, e.g. "transform returns amount as double; SCHEMA and
    tables.yml say decimal(10,2)".
    """
    return column_problems([(f.name, f.dataType.simpleString()) for f in actual.fields], spec)


def column_problems(got: Sequence[tuple[str, str]], spec: TableSpec) -> list[str]:
    """`schema_problems` on (name, simpleString) pairs: what a judge holding no pyspark object checks."""
    got = list(got)
    want = [(c.name, check_type(c.type)) for c in spec.schema_]
    got_names = [name for name, _ in got]
    want_names = [name for name, _ in want]
    problems = [
        f"transform returns no column {name}; {declared(spec)} it is column {want_names.index(name)}"
        for name in want_names
        if name not in got_names
    ]
    problems += [
        f"transform returns column {name}, which {declared(spec).removesuffix(' say')} do not declare"
        for name in got_names
        if name not in want_names
    ]
    duplicates = [name for name, count in Counter(got_names).items() if count > 1]
    problems += [f"transform returns column {name} twice" for name in duplicates]
    if problems:
        return problems
    types = dict(got)
    problems = [
        f"transform returns {name} as {types[name]}; {declared(spec)} {type_}"
        for name, type_ in want
        if types[name] != type_
    ]
    if not problems and got_names != want_names:
        problems.append(
            f"transform returns the columns in the order {', '.join(got_names)}; {declared(spec)} "
            f"{', '.join(want_names)} (end with .select(*SCHEMA.fieldNames()))"
        )
    return problems


def not_null_columns(spec: TableSpec) -> list[str]:
    """Columns that may hold no nulls: declared `nullable: false` or listed in `not_null`."""
    return [c.name for c in spec.schema_ if not c.nullable or c.name in spec.not_null]


def row_problems(rows: Sequence[Any], spec: TableSpec) -> list[str]:
    """NOT NULL columns hold no nulls and `keys` are unique, on rows already collected.

    Rows (pyspark `Row`s or mappings) come from test-sized data; a cluster-sized table is checked
    with Delta constraints instead, where the data lives.
    """
    problems = []
    for name in not_null_columns(spec):
        nulls = sum(1 for row in rows if row[name] is None)
        if nulls:
            problems.append(
                f"transform returns {nulls} null(s) in {name}, which {TABLES_FILE} declares NOT NULL"
                + (" (not_null)" if name in spec.not_null else "")
            )
    if spec.keys:
        counts = Counter(tuple(row[k] for k in spec.keys) for row in rows)
        repeated = [(key, n) for key, n in counts.items() if n > 1]
        if repeated:
            key, n = repeated[0]
            shown = ", ".join(f"{k}={v!r}" for k, v in zip(spec.keys, key, strict=True))
            problems.append(
                f"transform returns {n} rows for the key {shown}; {TABLES_FILE} declares keys "
                f"[{', '.join(spec.keys)}]: one row per key"
            )
    return problems


def check_output(df: DataFrame, spec: TableSpec, rows: bool = True) -> list[str]:
    """Every contract problem of a returned DataFrame; `rows=False` checks the schema only (no job)."""
    problems = schema_problems(df.schema, spec)
    if problems or not rows:
        return problems
    return row_problems(df.collect(), spec)


def assert_output(df: DataFrame, spec: TableSpec, rows: bool = True) -> None:
    """Raise ContractViolation naming the first problem (and how many more there are)."""
    problems = check_output(df, spec, rows)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ContractViolation(f"{spec.name}: {problems[0]}{more}")
