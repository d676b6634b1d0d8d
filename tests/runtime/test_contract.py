"""The output contract: one set of rules for the runner, the repo's unit tests and scaffold's round."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import types
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from pyspark.sql import functions as F

from lakeforge.catalog import CatalogHelper
from lakeforge.config import EnvironmentConfig
from lakeforge.contract import ContractViolation, row_problems, schema_problems
from lakeforge.errors import LakeforgeError
from lakeforge.io import write_table
from lakeforge.runner import build_table
from lakeforge.tables import parse_tables
from lakeforge.testing import TransformGuard, make_df

TABLES = parse_tables(
    {
        "version": 1,
        "tables": [
            {
                "name": "raw_payments",
                "layer": "bronze",
                "description": "Payments.",
                "source": {"path": "payments", "format": "csv"},
                "schema": [{"name": "id", "type": "int"}, {"name": "amount", "type": "decimal(10,2)"}],
            },
            {
                "name": "payments",
                "layer": "silver",
                "description": "One row per payment.",
                "inputs": ["raw_payments"],
                "schema": [
                    {"name": "id", "type": "int", "nullable": False},
                    {"name": "amount", "type": "decimal(10,2)"},
                ],
                "keys": ["id"],
            },
        ],
    }
)
SPEC = TABLES.get("payments")
RAW = "id int, amount decimal(10,2)"


def test_schema_problems_name_the_column(spark) -> None:
    df = make_df(spark, [(1, Decimal("12.50"))], RAW)
    assert schema_problems(df.schema, SPEC) == []
    as_double = df.select("id", F.col("amount").cast("double").alias("amount"))
    assert schema_problems(as_double.schema, SPEC) == [
        "transform returns amount as double; SCHEMA and tables.yml say decimal(10,2)"
    ]
    assert schema_problems(df.select("amount", "id").schema, SPEC) == [
        "transform returns the columns in the order amount, id; SCHEMA and tables.yml say id, amount "
        "(end with .select(*SCHEMA.fieldNames()))"
    ]
    assert schema_problems(df.select("id").schema, SPEC) == [
        "transform returns no column amount; SCHEMA and tables.yml say it is column 1"
    ]
    extra = df.select("*", F.lit(1).alias("x"))
    assert schema_problems(extra.schema, SPEC) == [
        "transform returns column x, which SCHEMA and tables.yml do not declare"
    ]


def test_row_problems_find_nulls_and_repeated_keys(spark) -> None:
    rows = make_df(spark, [(1, Decimal("1.00")), (1, Decimal("2.00")), (None, None)], RAW).collect()
    assert row_problems(rows, SPEC) == [
        "transform returns 1 null(s) in id, which tables.yml declares NOT NULL",
        "transform returns 2 rows for the key id=1; tables.yml declares keys [id]: one row per key",
    ]
    assert row_problems(rows[:1], SPEC) == []


def test_the_runner_refuses_output_that_breaks_the_contract(spark, monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("contractpkg.transformations.silver.payments")
    module.transform = lambda raw_payments: raw_payments.select("id", F.col("amount").cast("double").alias("amount"))
    for name in ("contractpkg", "contractpkg.transformations", "contractpkg.transformations.silver"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, module.__name__, module)
    config = EnvironmentConfig(environment="local", catalog={"name": "spark_catalog", "schema": "contract"})
    upstream = CatalogHelper(config).table_name("bronze", "raw_payments")
    write_table(make_df(spark, [(1, Decimal("1.00"))], RAW), upstream)
    with pytest.raises(
        LakeforgeError, match=r"transform returns amount as double; SCHEMA and tables.yml say decimal\(10,2\)"
    ):
        build_table(spark, config, TABLES, SPEC, "contractpkg")


def test_the_guard_checks_every_call(spark, monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("guardpkg.transformations.silver.payments")
    module.transform = lambda raw_payments: raw_payments  # keeps the duplicate key
    for name in ("guardpkg", "guardpkg.transformations", "guardpkg.transformations.silver"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, module.__name__, module)
    guard = TransformGuard(TABLES, "guardpkg")
    assert guard.install() == ["payments"]
    calls = []
    guard.listeners.append(calls.append)
    assert module.transform(make_df(spark, [(1, Decimal("1.00"))], RAW)).count() == 1
    with pytest.raises(ContractViolation, match=r"contract: payments: transform returns 2 rows for the key id=1"):
        module.transform(make_df(spark, [(1, Decimal("1.00")), (1, Decimal("2.00"))], RAW))
    assert [len(c.rows or []) for c in calls] == [1, 2]
    guard.checks = False
    assert module.transform(make_df(spark, [(1, None), (1, None)], RAW)).count() == 2
    guard.uninstall()
    assert module.transform is not guard.wrappers.get("payments")


@pytest.mark.slow
def test_a_repos_unit_tests_fail_on_a_contract_break(tmp_path: Path) -> None:
    """The plugin finds the package and tables.yml itself: a loose test cannot hide a wrong type."""
    (tmp_path / "tables.yml").write_text(yaml.safe_dump(TABLES.model_dump(by_alias=True, exclude_defaults=True)))
    package = tmp_path / "src" / "shop" / "transformations" / "silver"
    package.mkdir(parents=True)
    for folder in (package, package.parent, package.parent.parent):
        (folder / "__init__.py").write_text("")
    (package / "payments.py").write_text(
        "from pyspark.sql import functions as F\n\n\ndef transform(raw_payments):\n"
        "    return raw_payments.select('id', F.col('amount').cast('double').alias('amount'))\n"
    )
    (tmp_path / "test_payments.py").write_text(
        textwrap.dedent(
            """
            from decimal import Decimal
            from lakeforge.testing import make_df
            from shop.transformations.silver.payments import transform

            def test_loose(spark):
                row = transform(make_df(spark, [(1, Decimal("12.50"))], "id int, amount decimal(10,2)")).collect()[0]
                assert row["amount"] == 12.5  # Python finds 12.5 == Decimal("12.50"): only the contract notices
            """
        )
    )
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "lakeforge.testing", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env={**__import__("os").environ, "PYTHONPATH": str(tmp_path / "src")},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 1, run.stdout[-3000:]
    assert "transform returns amount as double; SCHEMA and tables.yml say decimal(10,2)" in run.stdout
