"""The table contract holds where the data lives: one set of expectations, three places that apply it.

A bronze table lands five payments: one without an id (NOT NULL), one with a negative amount (the
named check `amount_positive`), and its id again on a later, valid row. By `on_violation`:

- fail: nothing is written and the error names each expectation and its count;
- drop: the two rows go, the repeated id is then unique (keys are checked on what is left);
- warn: all five rows stay; every expectation counts its violations.

The same rows go through the jobs runner (`run_layer`, local Spark), the Lakeflow source
`define_pipeline` registers on Databricks (a recording `pyspark.pipelines` that, like
Databricks', has `expect_all*`: its expectations are applied here with Spark SQL, as the
pipeline would) and the open-source shim `spark-pipelines` uses on a laptop. All three agree.
"""

from __future__ import annotations

import logging
import sys
import types
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakeforge.catalog import CatalogHelper
from lakeforge.config import ConfigLoader
from lakeforge.contract import (
    ExpectationFailed,
    check_violations,
    contract_ddl,
    enforce,
    expectations,
    schema_ddl,
)
from lakeforge.pipelines import apply_expectations, define_pipeline, expectation_counts
from lakeforge.runner import run_layer, unfilled_tables
from lakeforge.tables import load_tables, parse_tables

PACKAGE = "expectpkg"
CSV = (
    "payment_id,amount,paid_at\n"
    "p1,10.00,2026-01-01T10:00:00\n"
    "p2,-5.00,2026-01-02T10:00:00\n"  # breaks amount_positive
    ",7.00,2026-01-03T10:00:00\n"  # no id: breaks NOT NULL
    "p2,4.00,2026-01-04T10:00:00\n"  # p2 again: unique once the negative row is dropped
    "p3,3.00,2026-01-05T10:00:00\n"
)
MODULE = '''"""raw_payments (bronze): typed, every landed row kept."""

from lakeforge.io import add_ingestion_metadata
from pyspark.sql import functions as F


def transform(raw):
    """Cast the landed columns and add ingestion metadata; keep every landed row."""
    typed = raw.select(
        F.col("payment_id").cast("string").alias("payment_id"),
        F.col("amount").cast("decimal(10,2)").alias("amount"),
        F.col("paid_at").cast("timestamp").alias("paid_at"),
    )
    return add_ingestion_metadata(typed).select("payment_id", "amount", "paid_at", "_ingested_at", "_source_file")
'''


def table(on_violation: str) -> dict[str, Any]:
    return {
        "name": "raw_payments",
        "layer": "bronze",
        "description": "Payments as landed; the team's contract: an id, a non-negative amount, one row per id.",
        "source": {"path": "payments", "format": "csv", "options": {"header": "true"}},
        "schema": [
            {"name": "payment_id", "type": "string", "nullable": False, "comment": "the PSP's id, e.g. 'p1'"},
            {"name": "amount", "type": "decimal(10,2)", "comment": "in EUR"},
            {"name": "paid_at", "type": "timestamp"},
            {"name": "_ingested_at", "type": "timestamp", "nullable": False},
            {"name": "_source_file", "type": "string"},
        ],
        "keys": ["payment_id"],
        "checks": {"amount_positive": "amount >= 0"},
        "on_violation": on_violation,
    }


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pipeline repo on disk: config/, tables.yml, the landed CSV and an importable package."""
    root = tmp_path_factory.mktemp("expectations")
    (root / "config").mkdir()
    (root / "config" / "defaults.yaml").write_text("catalog:\n  schema: expect\n")
    (root / "config" / "local.yaml").write_text(
        "catalog:\n  name: spark_catalog\ntable_format: parquet\nlanding_root: data/landing\n"
    )
    (root / "data" / "landing" / "payments").mkdir(parents=True)
    (root / "data" / "landing" / "payments" / "payments.csv").write_text(CSV)
    package = root / "src" / PACKAGE
    (package / "transformations" / "bronze").mkdir(parents=True)
    for folder in (package, package / "transformations", package / "transformations" / "bronze"):
        (folder / "__init__.py").write_text("")
    (package / "transformations" / "bronze" / "raw_payments.py").write_text(MODULE)
    sys.path.insert(0, str(root / "src"))
    yield root
    sys.path.remove(str(root / "src"))
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
        del sys.modules[name]


def use(repo: Path, on_violation: str) -> None:
    (repo / "tables.yml").write_text(yaml.safe_dump({"version": 1, "tables": [table(on_violation)]}, sort_keys=False))


def written(spark: SparkSession, name: str) -> list[tuple[str | None, Decimal]]:
    return sorted(((r.payment_id, r.amount) for r in spark.table(name).collect()), key=lambda r: (r[0] or "", r[1]))


ALL_ROWS = [(None, Decimal("7.00")), ("p1", Decimal("10.00")), ("p2", Decimal("-5.00")), ("p2", Decimal("4.00"))]
ALL_ROWS.append(("p3", Decimal("3.00")))
KEPT = [("p1", Decimal("10.00")), ("p2", Decimal("4.00")), ("p3", Decimal("3.00"))]


def test_the_contract_as_expectations_names_each_promise() -> None:
    spec = parse_tables({"tables": [table("drop")]}).get("raw_payments")
    assert [(e.name, e.constraint, e.action) for e in expectations(spec)] == [
        ("payment_id_not_null", "`payment_id` IS NOT NULL", "drop"),
        ("_ingested_at_not_null", "`_ingested_at` IS NOT NULL", "drop"),
        ("amount_positive", "COALESCE((amount >= 0), FALSE)", "drop"),  # NULL breaks a check everywhere
        ("unique_keys", "num_entries = 1", "fail"),  # dropping cannot choose a key's row
    ]
    warn = parse_tables({"tables": [table("warn")]}).get("raw_payments")
    assert {e.action for e in expectations(warn)} == {"warn"}
    # Unity Catalog shows the contract: comments, and NOT NULL unless warn keeps null rows
    assert schema_ddl(spec).startswith(
        "`payment_id` string NOT NULL COMMENT 'the PSP\\'s id, e.g. \\'p1\\'', `amount` decimal(10,2) COMMENT 'in EUR'"
    )
    assert "NOT NULL" not in schema_ddl(warn)
    assert contract_ddl(spec, "c.s.raw_payments") == [
        "COMMENT ON TABLE c.s.raw_payments IS 'Payments as landed; the team\\'s contract: an id, a non-negative "
        "amount, one row per id.'",
        "ALTER TABLE c.s.raw_payments ALTER COLUMN `payment_id` COMMENT 'the PSP\\'s id, e.g. \\'p1\\''",
        "ALTER TABLE c.s.raw_payments ALTER COLUMN `amount` COMMENT 'in EUR'",
        "ALTER TABLE c.s.raw_payments ALTER COLUMN `payment_id` SET NOT NULL",
        "ALTER TABLE c.s.raw_payments ALTER COLUMN `_ingested_at` SET NOT NULL",
    ]


def test_the_ddl_strings_are_sql_spark_reads_back(spark: SparkSession) -> None:
    spec = parse_tables({"tables": [table("fail")]}).get("raw_payments")
    comment = spark.sql("SELECT " + schema_ddl(spec).split(" COMMENT ")[1].split(", `amount`")[0] + " AS c").first()
    assert comment is not None and comment.c == "the PSP's id, e.g. 'p1'"


# --- the jobs runner ------------------------------------------------------------------------------


@pytest.mark.parametrize("on_violation", ["fail", "drop", "warn"])
def test_the_jobs_runner_applies_the_expectations_before_it_writes(
    spark: SparkSession, repo: Path, on_violation: str, caplog: pytest.LogCaptureFixture
) -> None:
    use(repo, on_violation)
    config = ConfigLoader.load("local", repo / "config")
    config = config.model_copy(update={"catalog": config.catalog.model_copy(update={"schema_": f"run_{on_violation}"})})
    tables = load_tables(repo / "tables.yml")
    name = CatalogHelper(config).table_name("bronze", "raw_payments")
    caplog.set_level(logging.INFO, logger="lakeforge.runner")
    if on_violation == "fail":
        with pytest.raises(ExpectationFailed) as failed:
            run_layer(spark, config, tables, PACKAGE, "bronze")
        assert str(failed.value) == (
            "table 'raw_payments': expectation payment_id_not_null (payment_id is not null): 1 row failed the "
            "update; amount_positive (amount >= 0): 1 row failed the update; nothing was written (tables.yml "
            "says on_violation: fail: fix the data or the transform, or choose another on_violation (fail, "
            "drop, warn))"
        )
        assert not spark.catalog.tableExists(name)
        return
    assert run_layer(spark, config, tables, PACKAGE, "bronze") == [name]
    logged = [r.getMessage() for r in caplog.records if r.name == "lakeforge.runner"]
    if on_violation == "drop":
        assert written(spark, name) == KEPT
        assert f"expectation payment_id_not_null (payment_id is not null): 1 row dropped on {name}" in logged
        assert f"expectation amount_positive (amount >= 0): 1 row dropped on {name}" in logged
        assert f"expectation unique_keys (one row per payment_id): passed on {name}" in logged
    else:
        assert written(spark, name) == ALL_ROWS
        assert f"expectation unique_keys (one row per payment_id): 1 key value kept (warn) on {name}" in logged


# --- the same rows through the pipeline's expectations -----------------------------------------


class RecordingPipelines(types.ModuleType):
    """Databricks' `pyspark.pipelines` as far as define_pipeline uses it: it records what is declared."""

    def __init__(self) -> None:
        super().__init__("pyspark.pipelines")
        self.views: dict[str, dict[str, Any]] = {}

    def materialized_view(self, **options: Any) -> Callable[[Callable[[], DataFrame]], None]:
        def register(query: Callable[[], DataFrame]) -> None:
            self.views[options["name"]] = {
                **options,
                "query": query,
                "expectations": getattr(query, "expectations", []),
            }

        return register

    def _expect(self, action: str, many: bool) -> Callable[..., Any]:
        def declare(*args: Any) -> Callable[[Callable[[], DataFrame]], Callable[[], DataFrame]]:
            rules = args[0] if many else {args[0]: args[1]}

            def wrap(query: Callable[[], DataFrame]) -> Callable[[], DataFrame]:
                query.expectations = [*getattr(query, "expectations", []), (action, dict(rules))]  # type: ignore[attr-defined]
                return query

            return wrap

        return declare

    def __getattr__(self, name: str) -> Any:
        actions = {"expect": "warn", "expect_or_drop": "drop", "expect_or_fail": "fail"}
        for prefix, many in (("expect_all", True), ("expect", False)):
            base = name.replace("expect_all", "expect") if many else name
            if name.startswith(prefix) and base in actions and (many == name.startswith("expect_all")):
                return self._expect(actions[base], many)
        raise AttributeError(name)


def run_as_databricks(view: dict[str, Any]) -> tuple[DataFrame, dict[str, int]]:
    """Apply a recorded view's expectations the way Lakeflow does: count, then fail, drop or keep."""
    df = view["query"]()
    counts: dict[str, int] = {}
    for action, rules in view["expectations"]:
        for rule, constraint in rules.items():
            counts[rule] = df.where(~F.expr(constraint)).count()
            if action == "fail" and counts[rule]:
                raise ExpectationFailed(f"{rule}: {counts[rule]}")
        if action == "drop":
            keep = F.lit(True)
            for constraint in rules.values():
                keep = keep & F.expr(constraint)
            df = df.where(keep)
    return df, counts


@pytest.mark.parametrize("on_violation", ["fail", "drop", "warn"])
def test_the_lakeflow_source_declares_the_same_expectations_on_databricks(
    spark: SparkSession, repo: Path, on_violation: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(repo, on_violation)
    import pyspark

    recorder = RecordingPipelines()
    monkeypatch.setattr(pyspark, "pipelines", recorder, raising=False)
    monkeypatch.setitem(sys.modules, "pyspark.pipelines", recorder)
    names = define_pipeline(spark, PACKAGE)
    assert names == ["spark_catalog.expect_bronze.raw_payments"]
    view = recorder.views[names[0]]
    assert view["comment"].startswith("Payments as landed")
    assert ("`payment_id` string NOT NULL COMMENT" in view["schema"]) == (on_violation != "warn")
    assert view["expectations"] == [
        (
            on_violation,
            {
                "payment_id_not_null": "`payment_id` IS NOT NULL",
                "_ingested_at_not_null": "`_ingested_at` IS NOT NULL",
                "amount_positive": "COALESCE((amount >= 0), FALSE)",
            },
        )
    ]
    key_check = recorder.views["bronze_raw_payments_key_check"]
    assert key_check["private"] is True
    assert key_check["expectations"] == [
        ("warn" if on_violation == "warn" else "fail", {"unique_keys": "num_entries = 1"})
    ]
    # The declared SQL, applied to the same rows on local Spark, does what the jobs runner does.
    if on_violation == "fail":
        with pytest.raises(ExpectationFailed, match="payment_id_not_null: 1"):
            run_as_databricks(view)
        return
    df, counts = run_as_databricks(view)
    assert counts == {"payment_id_not_null": 1, "_ingested_at_not_null": 0, "amount_positive": 1}
    rows = sorted(((r.payment_id, r.amount) for r in df.collect()), key=lambda r: (r[0] or "", r[1]))
    assert rows == (KEPT if on_violation == "drop" else ALL_ROWS)
    grouped = df.groupBy("payment_id").agg(F.count(F.lit(1)).alias("num_entries"))
    repeated = grouped.where(~F.expr(key_check["expectations"][0][1]["unique_keys"])).count()
    assert repeated == (0 if on_violation == "drop" else 1)


@pytest.mark.parametrize("on_violation", ["fail", "drop", "warn"])
def test_the_open_source_shim_gives_the_same_rows_and_counts(
    spark: SparkSession, repo: Path, on_violation: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(repo, on_violation)
    spec = load_tables(repo / "tables.yml").get("raw_payments")
    landed = spark.read.option("header", "true").schema(spec.read_schema()).csv(str(repo / "data/landing/payments"))
    module = __import__(f"{PACKAGE}.transformations.bronze.raw_payments", fromlist=["transform"])
    output = module.transform(landed)
    counts = expectation_counts(output, spec).first()
    assert counts is not None and counts.asDict() == {
        "payment_id_not_null": 1,
        "_ingested_at_not_null": 0,
        "amount_positive": 1,
        "unique_keys": 1,
    }
    assert check_violations(output, spec) == counts.asDict()
    shimmed = apply_expectations(output, spec)
    if on_violation == "fail":
        with pytest.raises(
            Exception, match=r"expectation payment_id_not_null \(payment_id is not null\) failed: 1 row"
        ):
            shimmed.collect()
        with pytest.raises(ExpectationFailed):
            enforce(output, spec)
        return
    rows = sorted(((r.payment_id, r.amount) for r in shimmed.collect()), key=lambda r: (r[0] or "", r[1]))
    assert rows == (KEPT if on_violation == "drop" else ALL_ROWS)
    enforced, results = enforce(output, spec)
    assert enforced.count() == len(rows)
    assert [r.describe() for r in results][-1] == (
        "unique_keys (one row per payment_id): passed"
        if on_violation == "drop"
        else "unique_keys (one row per payment_id): 1 key value kept (warn)"
    )


def test_a_repeated_key_that_dropping_cannot_fix_fails_under_drop(spark: SparkSession) -> None:
    spec = parse_tables({"tables": [table("drop")]}).get("raw_payments")
    rows = spark.createDataFrame(
        [("p1", Decimal("1.00"), None, None, None), ("p1", Decimal("2.00"), None, None, None)],
        "payment_id string, amount decimal(10,2), paid_at timestamp, _ingested_at timestamp, _source_file string",
    ).select("payment_id", "amount", "paid_at", F.current_timestamp().alias("_ingested_at"), "_source_file")
    with pytest.raises(
        ExpectationFailed, match=r"unique_keys \(one row per payment_id\): 1 key value failed the update"
    ):
        enforce(rows, spec)
    with pytest.raises(
        Exception, match=r"expectation unique_keys \(one row per payment_id\) failed: 2 rows for one key"
    ):
        apply_expectations(rows, spec).collect()


def test_unfilled_modules_are_found_without_importing_them(tmp_path: Path) -> None:
    spec = parse_tables({"tables": [table("fail")]})
    package = tmp_path / "shop"
    (package / "transformations" / "bronze").mkdir(parents=True)
    assert unfilled_tables(package, "shop", spec.tables) == [
        "table 'raw_payments': no module src/shop/transformations/bronze/raw_payments.py; create it with "
        "`scaffold fill bronze`"
    ]
    (package / "transformations" / "bronze" / "raw_payments.py").write_text(
        "import this_is_never_imported\n\n\ndef transform(raw):\n    raise NotImplementedError('fill me')\n"
    )
    assert unfilled_tables(package, "shop", spec.tables) == [
        "table 'raw_payments': src/shop/transformations/bronze/raw_payments.py is still a stub; write its "
        "transform with `scaffold fill bronze --table raw_payments` (or by hand)"
    ]
