"""A wheel task run on a laptop can run again: `run --layer ...` twice from the same folder.

Each run is its own process (its own JVM), as the bundle's tasks are: the tables of the first run
are in the local metastore for the second, so overwrite replaces, merge merges and a layer run
alone finds the layer before it. A warehouse folder whose metastore is gone is taken back.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

PACKAGE = "rerunpkg"
BRONZE = '''from lakeforge.io import add_ingestion_metadata
from pyspark.sql import functions as F


def transform(raw):
    """Cast and add ingestion metadata; keep every landed row."""
    typed = raw.select(F.col("payment_id"), F.col("amount").cast("decimal(10,2)").alias("amount"))
    return add_ingestion_metadata(typed).select("payment_id", "amount", "_ingested_at", "_source_file")
'''
SILVER = '''from pyspark.sql import functions as F


def transform(raw_payments):
    """Drop rows with a null payment_id; keep one row per payment_id."""
    kept = raw_payments.where(F.col("payment_id").isNotNull()).dropDuplicates(["payment_id"])
    return kept.select("payment_id", "amount")
'''
TABLES = {
    "version": 1,
    "tables": [
        {
            "name": "raw_payments",
            "layer": "bronze",
            "description": "Payments as landed.",
            "source": {"path": "payments", "format": "csv", "options": {"header": "true"}},
            "schema": [
                {"name": "payment_id", "type": "string"},
                {"name": "amount", "type": "decimal(10,2)"},
                {"name": "_ingested_at", "type": "timestamp", "nullable": False},
                {"name": "_source_file", "type": "string"},
            ],
            "checks": {"amount_positive": "amount >= 0"},
            "on_violation": "drop",
        },
        {
            "name": "payments",
            "layer": "silver",
            "description": "One row per payment, merged run after run.",
            "inputs": ["raw_payments"],
            "schema": [
                {"name": "payment_id", "type": "string", "nullable": False},
                {"name": "amount", "type": "decimal(10,2)"},
            ],
            "keys": ["payment_id"],
            "write": "merge",
        },
    ],
}


def make_repo(root: Path) -> Path:
    (root / "config").mkdir(parents=True)
    (root / "config" / "defaults.yaml").write_text("catalog:\n  schema: rerun\n")
    (root / "config" / "local.yaml").write_text("catalog:\n  name: spark_catalog\ntable_format: parquet\n")
    (root / "tables.yml").write_text(yaml.safe_dump(TABLES, sort_keys=False))
    package = root / "src" / PACKAGE
    for layer, code in (("bronze", BRONZE), ("silver", SILVER)):
        (package / "transformations" / layer).mkdir(parents=True)
        (package / "transformations" / layer / "__init__.py").write_text("")
        table = "raw_payments" if layer == "bronze" else "payments"
        (package / "transformations" / layer / f"{table}.py").write_text(code)
    (package / "__init__.py").write_text("")
    (package / "transformations" / "__init__.py").write_text("")
    return root


def land(root: Path, rows: str) -> None:
    folder = root / "data" / "landing" / "payments"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    (folder / "payments.csv").write_text("payment_id,amount\n" + rows)


def run(root: Path, layer: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    return subprocess.run(
        [sys.executable, "-m", "lakeforge.runner", "--package", PACKAGE, "--layer", layer, "--env", "local"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def rows(root: Path, schema: str, table: str) -> list[tuple[str, str]]:
    import pyarrow.parquet as pq

    folder = root / "spark-warehouse" / f"{schema}.db" / table
    found = [r for f in sorted(folder.rglob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    return sorted((r["payment_id"], str(r["amount"])) for r in found)


@pytest.mark.slow
def test_a_wheel_task_runs_again_from_the_same_folder_with_the_declared_semantics(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo")
    land(root, "p1,10.00\np2,-5.00\np3,3.00\n")
    first = run(root, "all")
    assert first.returncode == 0, first.stderr[-3000:]
    assert "expectation amount_positive (amount >= 0): 1 row dropped on spark_catalog.rerun_bronze.raw_payments" in (
        first.stderr
    )
    again = run(root, "all")  # the same command, the same folder: LOCATION_ALREADY_EXISTS before
    assert again.returncode == 0, again.stderr[-3000:]
    assert rows(root, "rerun_bronze", "raw_payments") == [("p1", "10.00"), ("p3", "3.00")]  # overwritten
    assert rows(root, "rerun_silver", "payments") == [("p1", "10.00"), ("p3", "3.00")]  # merged, not doubled

    land(root, "p3,30.00\np4,4.00\n")  # a new day: p3 changed, p4 is new
    assert run(root, "bronze").returncode == 0
    silver = run(root, "silver")  # one layer alone, as the bundle's tasks run: it finds bronze
    assert silver.returncode == 0, silver.stderr[-3000:]
    assert rows(root, "rerun_silver", "payments") == [("p1", "10.00"), ("p3", "30.00"), ("p4", "4.00")]

    shutil.rmtree(root / "metastore_db")  # the catalog is gone, the files are not
    taken_back = run(root, "all")
    assert taken_back.returncode == 0, taken_back.stderr[-3000:]
    assert "taking back the files an earlier run left" in taken_back.stderr
    assert rows(root, "rerun_silver", "payments") == [("p1", "10.00"), ("p3", "30.00"), ("p4", "4.00")]


@pytest.mark.slow
def test_a_stub_is_reported_before_spark_starts(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo")
    land(root, "p1,10.00\n")
    stub = root / "src" / PACKAGE / "transformations" / "silver" / "payments.py"
    stub.write_text("def transform(raw_payments):\n    raise NotImplementedError('payments: run scaffold fill')\n")
    result = run(root, "all")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: table 'payments': src/rerunpkg/transformations/silver/payments.py is still a stub; write its "
        "transform with `scaffold fill silver --table payments` (or by hand)"
    )
    assert not (root / "metastore_db").exists()  # no JVM was started
