"""The output contract of a table: what `transform` returns must be what `tables.yml` declares.

One set of rules serves three places, so they can never disagree: the runner checks the schema
of every table it builds (analysis only, no Spark job), `lakeforge.testing` checks schema and
rows of every `transform` call in a repo's unit tests, and `scaffold fill` checks the same in its
validation round before it keeps a table. A test that compares `12.5` with `Decimal("12.50")`
passes in Python; this check does not, because it reads the DataFrame, not the test.

Nullability is not compared: Spark infers it from the plan (a cast is always nullable), so the
declared NOT NULL columns are checked on the rows instead.

The rows' promises (NOT NULL columns, unique `keys`, named `checks`) are also what production
enforces, as *expectations* with the table's `on_violation` (see `lakeforge.tables`): the same
list (`expectations`) becomes Lakeflow expectations (`lakeforge.pipelines`), the checks a wheel
task applies before it writes (`enforce`, used by `lakeforge.runner`) and the local pipeline's
shim. `row_problems` checks NOT NULL and keys on collected rows without Spark; named checks are
SQL, so they need Spark: `check_violations(df, spec)` counts every expectation's violations.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lakeforge.errors import LakeforgeError
from lakeforge.tables import NOT_NULL_SUFFIX, TABLES_FILE, UNIQUE_KEYS, OnViolation, TableSpec, check_type

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
    return spec.not_null_columns()


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


# --- expectations: the contract enforced where the data lives -----------------------------------


class ExpectationFailed(LakeforgeError):
    """Rows broke an expectation whose table says `on_violation: fail`: the update stops, nothing is written."""


@dataclass(frozen=True)
class Expectation:
    """One promise of a table, as Lakeflow declares it: a name and a SQL condition every row must meet.

    `constraint` is what runs (a row passes only when it is true: a NULL result is a violation,
    the same on Databricks, in wheel tasks and locally); `rule` is what tables.yml says, for people.
    `kind` is `not_null`, `check` or `keys`; the keys expectation is checked per key value
    (`num_entries = 1` over the table grouped by its keys, the way Databricks documents key checks).
    """

    name: str
    constraint: str
    action: OnViolation
    kind: str
    rule: str


def quoted(column: str) -> str:
    return f"`{column}`"


def expectations(spec: TableSpec) -> list[Expectation]:
    """The table's row expectations (NOT NULL columns, then named checks) and its keys expectation, if any."""
    found = [
        Expectation(
            f"{column}{NOT_NULL_SUFFIX}",
            f"{quoted(column)} IS NOT NULL",
            spec.on_violation,
            "not_null",
            f"{column} is not null",
        )
        for column in spec.not_null_columns()
    ]
    found += [
        Expectation(name, f"COALESCE(({sql}), FALSE)", spec.on_violation, "check", sql)
        for name, sql in spec.checks.items()
    ]
    if spec.keys:
        found.append(
            Expectation(
                UNIQUE_KEYS,
                "num_entries = 1",
                "warn" if spec.on_violation == "warn" else "fail",
                "keys",
                f"one row per {', '.join(spec.keys)}",
            )
        )
    return found


def row_expectations(spec: TableSpec) -> list[Expectation]:
    return [e for e in expectations(spec) if e.kind != "keys"]


def key_expectation(spec: TableSpec) -> Expectation | None:
    return next((e for e in expectations(spec) if e.kind == "keys"), None)


@dataclass(frozen=True)
class ExpectationResult:
    """How many rows (keys: how many key values) broke one expectation, and what was done about it."""

    expectation: Expectation
    violations: int

    @property
    def unit(self) -> str:
        return "key value" if self.expectation.kind == "keys" else "row"

    def describe(self) -> str:
        """`amount_positive (amount >= 0): 2 rows dropped`, the way the event log counts them."""
        e = self.expectation
        count = f"{self.violations} {self.unit}{'' if self.violations == 1 else 's'}"
        if not self.violations:
            outcome = "passed"
        elif e.action == "drop":
            outcome = f"{count} dropped"
        elif e.action == "warn":
            outcome = f"{count} kept (warn)"
        else:
            outcome = f"{count} failed the update"
        return f"{e.name} ({e.rule}): {outcome}"


def check_violations(df: DataFrame, spec: TableSpec) -> dict[str, int]:
    """Violations per expectation of `df` (rows for NOT NULL and checks, repeated key values for keys).

    Two Spark jobs at most: one aggregation for the row expectations, one for the keys.
    """
    return {**_row_violations(df, spec), **_key_violations(df, spec)}


def _row_violations(df: DataFrame, spec: TableSpec) -> dict[str, int]:
    from pyspark.sql import functions as F

    rows = row_expectations(spec)
    if not rows:
        return {}
    totals = df.agg(*[F.count_if(~F.expr(e.constraint)).alias(e.name) for e in rows]).collect()[0]
    return {e.name: int(totals[e.name] or 0) for e in rows}


def _key_violations(df: DataFrame, spec: TableSpec) -> dict[str, int]:
    from pyspark.sql import functions as F

    if not spec.keys:
        return {}
    repeated = df.groupBy(*[F.col(quoted(k)) for k in spec.keys]).count().where(F.col("count") > 1)
    return {UNIQUE_KEYS: repeated.count()}


def _failed(spec: TableSpec, results: list[ExpectationResult]) -> ExpectationFailed:
    keys_only = all(r.expectation.kind == "keys" for r in results)
    if keys_only and spec.on_violation == "drop":
        fix = "keep one row per key in transform (dedupe), or choose on_violation: warn"
    else:
        fix = "fix the data or the transform, or choose another on_violation (fail, drop, warn)"
    return ExpectationFailed(
        f"table {spec.name!r}: expectation {'; '.join(r.describe() for r in results)}; nothing was written "
        f"({TABLES_FILE} says on_violation: {spec.on_violation}: {fix})"
    )


def enforce(df: DataFrame, spec: TableSpec) -> tuple[DataFrame, list[ExpectationResult]]:
    """Apply the table's expectations before a write, as Lakeflow does: fail, drop (counted) or warn.

    Row expectations are counted first; under `drop` the violating rows are removed, and the keys
    are checked on what is left (on Databricks the key check reads the table as written). Raises
    ExpectationFailed naming every failing expectation and its count; returns the rows to write
    and one result per expectation.
    """
    from pyspark.sql import functions as F

    declared = expectations(spec)
    if not declared:
        return df, []
    counts = _row_violations(df, spec)
    results = [ExpectationResult(e, counts[e.name]) for e in declared if e.kind != "keys"]
    failed = [r for r in results if r.violations and r.expectation.action == "fail"]
    if failed:
        raise _failed(spec, failed)
    dropping = [r.expectation for r in results if r.violations and r.expectation.action == "drop"]
    if dropping:
        keep = F.lit(True)
        for expectation in dropping:
            keep = keep & F.expr(expectation.constraint)
        df = df.where(keep)
    keys = key_expectation(spec)
    if keys is not None:
        result = ExpectationResult(keys, _key_violations(df, spec)[keys.name])
        if result.violations and keys.action == "fail":
            raise _failed(spec, [result])
        results.append(result)
    return df, results


# --- the contract in Unity Catalog ---------------------------------------------------------------


def sql_string(text: str) -> str:
    """A Spark / Databricks SQL string literal holding `text` exactly."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def declares_not_null(spec: TableSpec) -> bool:
    """Whether NOT NULL goes into the table's schema: not under `warn`, where a null row is kept and
    a NOT NULL constraint would fail the write that `warn` promises to let through."""
    return spec.on_violation != "warn"


def schema_ddl(spec: TableSpec, not_null: bool = True) -> str:
    """The table's columns as a DDL schema with NOT NULL and comments (`materialized_view(schema=...)`).

    `not_null=False` leaves NOT NULL out: open-source declarative pipelines refuse a declared NOT
    NULL over a query Spark infers as nullable (Databricks takes it as a constraint).
    """
    not_null_columns = set(spec.not_null_columns()) if not_null and declares_not_null(spec) else set()
    parts = []
    for column in spec.schema_:
        part = f"{quoted(column.name)} {check_type(column.type)}"
        if column.name in not_null_columns:
            part += " NOT NULL"
        if column.comment:
            part += f" COMMENT {sql_string(column.comment)}"
        parts.append(part)
    return ", ".join(parts)


def contract_ddl(spec: TableSpec, table: str) -> list[str]:
    """Unity Catalog DDL that shows the contract on a written Delta table: its comment, column comments, NOT NULL."""
    statements = [f"COMMENT ON TABLE {table} IS {sql_string(spec.description)}"]
    statements += [
        f"ALTER TABLE {table} ALTER COLUMN {quoted(c.name)} COMMENT {sql_string(c.comment)}"
        for c in spec.schema_
        if c.comment
    ]
    if declares_not_null(spec):
        statements += [
            f"ALTER TABLE {table} ALTER COLUMN {quoted(name)} SET NOT NULL" for name in spec.not_null_columns()
        ]
    return statements
