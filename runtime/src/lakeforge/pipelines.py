"""Declare every table of `tables.yml` as a Lakeflow / Spark Declarative Pipelines dataset.

A generated repo's pipeline source file is one call to `define_pipeline(spark, package)`, so the
same definitions run on Databricks (Lakeflow Declarative Pipelines) and on a laptop with
`spark-pipelines run`. Upstream tables are read by their full names, which is what gives the
pipeline its bronze → silver → gold dependency graph.

Each table carries its contract (`lakeforge.contract.expectations`):

- its schema with column comments and NOT NULL (`materialized_view(schema=...)`), so Unity
  Catalog shows the contract;
- NOT NULL columns and named checks as one `expect_all_or_fail` / `expect_all_or_drop` /
  `expect_all` by the table's `on_violation`, so the event log counts each expectation;
- `keys` through a private materialized view over the table grouped by its keys with the
  expectation `num_entries = 1`, the pattern Databricks documents for primary-key checks
  ("Expectation recommendations and advanced patterns").

Open-source `pyspark.pipelines` (a laptop's `spark-pipelines`) has no `expect*` decorators and no
private datasets: there the same expectations are applied by a shim with the same semantics
(`fail` raises naming the expectation and its count, `drop` filters, `warn` keeps), and one
extra materialized view per table, `<table>__expectations`, records the counts that
`python -m lakeforge.local_pipeline run` prints, like the event log.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakeforge.catalog import CatalogHelper
from lakeforge.config import ConfigLoader, EnvironmentConfig
from lakeforge.contract import (
    Expectation,
    expectations,
    key_expectation,
    quoted,
    row_expectations,
    schema_ddl,
)
from lakeforge.identifiers import LAYERS
from lakeforge.runner import _project_root, build_table
from lakeforge.tables import TABLES_FILE, TablesFile, TableSpec, load_tables

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

ENV_CONF = "lakeforge.environment"
CONFIG_DIR_CONF = "lakeforge.config_dir"
SCHEMA_CONF = "lakeforge.schema.{layer}"
LANDING_CONF = "lakeforge.landing_root"
EXPECTATIONS_SUFFIX = "__expectations"  # the local shim's per-table counts
KEY_CHECK_SUFFIX = "_key_check"  # Databricks: the private view that checks a table's keys
EXPECT_ALL = {"fail": "expect_all_or_fail", "drop": "expect_all_or_drop", "warn": "expect_all"}
EXPECT_ONE = {"fail": "expect_or_fail", "warn": "expect"}


def define_pipeline(spark: SparkSession, package: str) -> list[str]:
    """Register one materialized view per table; returns their full names in file order."""
    from pyspark import pipelines as dp

    env = spark.conf.get(ENV_CONF, None) or "local"
    root = _project_root(package)
    config_dir = Path(spark.conf.get(CONFIG_DIR_CONF, None) or root / "config")
    # The bundle passes the deployed schema names (dev mode prefixes them with the user's name).
    overrides = {
        f"LAKEFORGE__CATALOG__SCHEMAS__{layer.upper()}": value
        for layer in LAYERS
        if (value := spark.conf.get(SCHEMA_CONF.format(layer=layer), None))
    }
    if landing := spark.conf.get(LANDING_CONF, None):
        overrides["LAKEFORGE__LANDING_ROOT"] = landing
    config = ConfigLoader.load(env, config_dir, environ={**os.environ, **overrides})
    tables = load_tables(config_dir.parent / TABLES_FILE)
    helper = CatalogHelper(config)
    names = []
    for spec in tables.tables:
        name = helper.table_name(spec.layer, spec.name)
        _register(dp, spark, config, tables, spec, package, name)
        names.append(name)
    return names


def has_expectations(dp: Any) -> bool:
    """Databricks' `pipelines` module declares expectations; open-source Spark's does not (yet)."""
    return all(hasattr(dp, name) for name in (*EXPECT_ALL.values(), *EXPECT_ONE.values()))


def _register(
    dp: Any,
    spark: SparkSession,
    config: EnvironmentConfig,
    tables: TablesFile,
    spec: TableSpec,
    package: str,
    name: str,
) -> None:
    def query() -> DataFrame:
        return build_table(spark, config, tables, spec, package, check_columns=False)

    query.__name__ = spec.name
    rows = {e.name: e.constraint for e in row_expectations(spec)}
    keys = key_expectation(spec)
    if has_expectations(dp):
        decorated: Any = query
        if rows:
            decorated = getattr(dp, EXPECT_ALL[spec.on_violation])(rows)(decorated)
        dp.materialized_view(name=name, comment=spec.description, schema=schema_ddl(spec))(decorated)
        if keys is not None:
            _key_check(dp, spark, spec, name, keys)
        return
    # Open-source Spark: the shim applies the same expectations, and records their counts.
    declared = expectations(spec)

    def checked() -> DataFrame:
        return apply_expectations(query(), spec)

    checked.__name__ = spec.name
    # NOT NULL stays out of the open-source schema (it refuses one over a nullable query); the
    # shim's expectations enforce it instead.
    dp.materialized_view(name=name, comment=spec.description, schema=schema_ddl(spec, not_null=False))(checked)
    if declared:

        def counts() -> DataFrame:
            return expectation_counts(query(), spec)

        counts.__name__ = f"{spec.name}{EXPECTATIONS_SUFFIX}"
        dp.materialized_view(
            name=f"{name}{EXPECTATIONS_SUFFIX}",
            comment=f"Lakeforge: violations per expectation of {spec.name} in the last local run",
        )(counts)


def _key_check(dp: Any, spark: SparkSession, spec: TableSpec, name: str, keys: Expectation) -> None:
    """Databricks: a private materialized view over the table grouped by its keys, `num_entries = 1`."""
    from pyspark.sql import functions as F

    def key_check() -> DataFrame:
        grouped = spark.read.table(name).groupBy(*[F.col(quoted(k)) for k in spec.keys])
        return grouped.agg(F.count(F.lit(1)).alias("num_entries"))

    check_name = f"{spec.layer}_{spec.name}{KEY_CHECK_SUFFIX}"
    key_check.__name__ = check_name
    decorated = getattr(dp, EXPECT_ONE[keys.action])(keys.name, keys.constraint)(key_check)
    comment = f"Lakeforge: {spec.name} has one row per key"
    try:
        register = dp.materialized_view(name=check_name, comment=comment, private=True)
    except TypeError:  # a pipelines module with expectations but no private datasets: published instead
        register = dp.materialized_view(name=check_name, comment=comment)
    register(decorated)


# --- the shim: expectations on open-source Spark --------------------------------------------------


def _violated(expectation: Expectation) -> Column:
    from pyspark.sql import functions as F

    return ~F.expr(expectation.constraint)


def apply_expectations(df: DataFrame, spec: TableSpec) -> DataFrame:
    """`df` with the table's expectations applied lazily (no Spark job here: a query function may not run one).

    `fail`: the flow fails with `expectation <name> failed on <n> row(s)` when a row (or a key)
    breaks it; `drop`: the rows are filtered out; `warn`: nothing changes. Only `select`/`where`
    and window functions are used: local pipelines cannot analyse `withColumn` over a dataset
    that does not exist yet.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    columns = [F.col(quoted(c)) for c in spec.column_names()]
    rows = row_expectations(spec)
    keys = key_expectation(spec)
    dropped = [e for e in rows if e.action == "drop"]
    if dropped:
        keep = F.lit(True)
        for expectation in dropped:
            keep = keep & F.expr(expectation.constraint)
        df = df.where(keep)
    failing = [e for e in rows if e.action == "fail"]
    everything = Window.partitionBy()
    guards: list[Column] = []
    extra: list[Column] = []
    for index, expectation in enumerate(failing):
        count = f"_lakeforge_{index}"
        extra.append(F.count_if(_violated(expectation)).over(everything).alias(count))
        guards.append(_fail_when(F.col(count) > 0, expectation, F.col(count), "row(s)"))
    if keys is not None and keys.action == "fail":
        per_key = Window.partitionBy(*[F.col(quoted(k)) for k in spec.keys])
        extra.append(F.count(F.lit(1)).over(per_key).alias("_lakeforge_key_rows"))
        guards.append(
            _fail_when(F.col("_lakeforge_key_rows") > 1, keys, F.col("_lakeforge_key_rows"), "rows for one key")
        )
    if not guards:
        return df
    guarded = df.select(*columns, *extra)
    for guard in guards:
        guarded = guarded.where(guard)
    return guarded.select(*columns)


def _fail_when(broken: Column, expectation: Expectation, count: Column, what: str) -> Column:
    """A filter that keeps every row, or fails the flow naming the expectation and the count."""
    from pyspark.sql import functions as F

    message = F.concat(
        F.lit(f"expectation {expectation.name} ({expectation.rule}) failed: "),
        count.cast("string"),
        F.lit(f" {what}; on_violation: {expectation.action}"),
    )
    return F.when(broken, F.raise_error(message)).otherwise(F.lit(True))


def expectation_counts(df: DataFrame, spec: TableSpec) -> DataFrame:
    """One row: the violations of each expectation (rows; repeated key values for the keys)."""
    from pyspark.sql import functions as F

    values = [F.count_if(_violated(e)).cast("bigint").alias(e.name) for e in row_expectations(spec)]
    counted = df.agg(*values) if values else None
    keys = key_expectation(spec)
    if keys is None:
        assert counted is not None
        return counted
    grouped = df.groupBy(*[F.col(quoted(k)) for k in spec.keys]).agg(F.count(F.lit(1)).alias("num_entries"))
    repeated = grouped.agg(F.count_if(~F.expr(keys.constraint)).cast("bigint").alias(keys.name))
    return repeated if counted is None else counted.crossJoin(repeated)
