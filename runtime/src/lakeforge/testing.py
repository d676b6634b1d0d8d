"""pytest plugin for pipeline repos: `pytest_plugins = ["lakeforge.testing"]` in `conftest.py`.

One tuned local session serves the whole test run, because the JVM start is the cost that
matters in small DataFrame tests (a test itself takes ~0.5 s after warm-up). Tables written by
tests go to a temporary warehouse so the repo is never littered with `spark-warehouse/`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import pytest

from lakeforge.session import SparkSessionFactory, databricks_connect_configured, on_databricks

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

MARKERS = (
    "unit: fast tests of pure transformations on local Spark",
    "contract: config, tables.yml and bundle files agree with the code",
    "integration: tests that need a Databricks workspace (skipped without one)",
    "slow: tests that take more than a few seconds",
)


def pytest_configure(config: pytest.Config) -> None:
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("DATABRICKS_HOST") or os.environ.get("DATABRICKS_RUNTIME_VERSION"):
        return
    skip = pytest.mark.skip(reason="integration test: needs a Databricks workspace (set DATABRICKS_HOST)")
    for item in items:
        if "integration" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    """A local SparkSession shared by every test of the run (the cluster's own on Databricks)."""
    if on_databricks() or databricks_connect_configured():
        from lakeforge.config import EnvironmentConfig

        remote = EnvironmentConfig(environment="test", catalog={"name": "spark_catalog", "schema": "tests"})
        yield SparkSessionFactory.from_config(remote)
        return
    warehouse = tmp_path_factory.mktemp("spark-warehouse")
    session = SparkSessionFactory.create_local(app_name="lakeforge-tests", warehouse_dir=warehouse)
    yield session
    session.stop()


def make_df(spark: SparkSession, rows: Sequence[Any], schema: StructType | str) -> DataFrame:
    """A DataFrame with an explicit schema: tests never rely on inference."""
    return spark.createDataFrame(list(rows), schema=schema)


def assert_df_equal(
    actual: DataFrame,
    expected: DataFrame,
    ignore_row_order: bool = True,
    ignore_nullable: bool = True,
    ignore_column_order: bool = False,
) -> None:
    """chispa's equality with the defaults pipelines want: row order and nullability ignored."""
    from chispa import assert_df_equality

    assert_df_equality(
        actual,
        expected,
        ignore_row_order=ignore_row_order,
        ignore_nullable=ignore_nullable,
        ignore_column_order=ignore_column_order,
    )


def assert_schema_equal(actual: StructType, expected: StructType, ignore_nullable: bool = False) -> None:
    """Compare schemas field by field, with a message naming the first difference."""
    got = [(f.name, f.dataType.simpleString(), f.nullable) for f in actual.fields]
    want = [(f.name, f.dataType.simpleString(), f.nullable) for f in expected.fields]
    if ignore_nullable:
        got = [g[:2] for g in got]
        want = [w[:2] for w in want]
    if got != want:
        for index, (g, w) in enumerate(zip(got, want, strict=False)):
            if g != w:
                raise AssertionError(f"schema differs at column {index}: got {g}, expected {w}")
        raise AssertionError(f"schema has {len(got)} columns, expected {len(want)}: got {got}, expected {want}")
