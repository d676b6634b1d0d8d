"""The testing agent: more tests for a finished table, kept only when they prove something new.

A person wrote `payments` and one test that checks the shape only; the module also has a branch
for legacy exports that no test runs. The loopback model answers `scaffold test` round by round.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .conftest import PAYMENT_COLUMNS, scaffold_loopback, write_tables
from .llm_server import Action, ScriptedLLM

MODULE = '''"""payments (bronze): payments as landed, amounts typed."""

from __future__ import annotations

import logging

from lakeforge.io import add_ingestion_metadata
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

log = logging.getLogger(__name__)

SCHEMA = T.StructType(
    [
        T.StructField("id", T.IntegerType(), False),
        T.StructField("amount", T.DecimalType(10, 2), True),
        T.StructField("_ingested_at", T.TimestampType(), False),
        T.StructField("_source_file", T.StringType(), True),
    ]
)


def transform(raw: DataFrame) -> DataFrame:
    """Type the landed columns; exports before 2024 call the amount `legacy_amount`."""
    log.info("bronze payments: typing")
    if "legacy_amount" in raw.columns:
        raw = raw.select("id", F.col("legacy_amount").alias("amount"))
    typed = raw.select(F.col("id").cast("int").alias("id"), F.col("amount").cast("decimal(10,2)").alias("amount"))
    return add_ingestion_metadata(typed).select(*SCHEMA.fieldNames())
'''

PERSONS_TESTS = '''"""payments: written by a person."""

from decimal import Decimal

from lakeforge.testing import make_df

from shop.transformations.bronze.payments import SCHEMA, transform

RAW = "id int, amount decimal(10,2)"


def test_columns(spark):
    result = transform(make_df(spark, [(1, Decimal("1.50"))], RAW))
    assert result.columns == SCHEMA.fieldNames()
    assert result.count() == 1
'''

HEADER = (
    "from decimal import Decimal\n\nimport pytest\nfrom lakeforge.testing import assert_df_equal, make_df\n\n"
    "from shop.transformations.bronze.payments import SCHEMA, transform\n\npytestmark = pytest.mark.unit\n\n"
    'RAW = "id int, amount decimal(10,2)"\n\n\n'
)
VALUES = (
    "def test_values_are_kept(spark):\n"
    "    result = transform(make_df(spark, [(1, Decimal('1.50')), (2, None)], RAW))\n"
    "    rows = sorted((r['id'], r['amount']) for r in result.collect())\n"
    "    assert rows == [(1, Decimal('1.50')), (2, None)]\n"
    "    assert all(r['_ingested_at'] is not None for r in result.collect())\n"
)
SHAPE_AGAIN = (
    "def test_shape_again(spark):\n"
    "    assert transform(make_df(spark, [(1, Decimal('2.00'))], RAW)).columns == SCHEMA.fieldNames()\n"
)
WRONG = "def test_wrong(spark):\n    assert transform(make_df(spark, [(1, None)], RAW)).count() == 5\n"
LEGACY = (
    "def test_legacy_exports(spark):\n"
    "    raw = make_df(spark, [(3, Decimal('9.99'))], 'id int, legacy_amount decimal(10,2)')\n"
    "    rows = [(r['id'], r['amount']) for r in transform(raw).collect()]\n"
    "    assert rows == [(3, Decimal('9.99'))]\n"
)


def reply(*tests: str) -> str:
    return "tests/unit/bronze/test_payments_more.py\n```python\n" + HEADER + "\n\n".join(tests) + "```\n"


def setup(project: Path) -> None:
    write_tables(
        project,
        [
            {
                "name": "payments",
                "layer": "bronze",
                "description": "Payments as landed.",
                "source": {"path": "payments", "format": "csv"},
                "schema": PAYMENT_COLUMNS,
            }
        ],
    )
    (project / "src/shop/transformations/bronze/payments.py").write_text(MODULE)
    (project / "tests/unit/bronze").mkdir(parents=True, exist_ok=True)
    (project / "tests/unit/bronze/test_payments.py").write_text(PERSONS_TESTS)


@pytest.mark.slow
def test_kept_tests_kill_survivors_or_raise_coverage(bare_project: Path) -> None:
    setup(bare_project)
    rounds = [reply(VALUES, SHAPE_AGAIN, WRONG), reply(LEGACY)]
    with ScriptedLLM(lambda request: Action(content=rounds[min(len(llm.requests), len(rounds)) - 1])) as llm:
        result = scaffold_loopback(bare_project, llm.base_url, "test", "payments", "--target-coverage", "100")
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == 0, output
    before, after = re.search(r"coverage: (\d+)% → (\d+)%", output).groups()
    assert int(before) < int(after) == 100, output
    killed_before, killed_after, required_after = re.search(
        r"mutants: (\d+)/\d+ mutants killed.*→ (\d+)/(\d+)", output
    ).groups()
    # More tests call transform on more inputs: a mutant equivalent before may count (and die) now.
    assert int(killed_before) < int(killed_after) == int(required_after), output
    assert "kept test_values_are_kept" in output and "kept test_legacy_exports" in output
    assert "dropped test_shape_again: kills no surviving mutant and covers nothing new" in output
    assert "dropped test_wrong: did not pass every run" in output
    assert len(llm.requests) == 2
    second = llm.requests[1]["messages"][1]["content"]
    assert "legacy_amount" in second and "when every `amount` is null" not in second  # only what is still missing

    tests = (bare_project / "tests/unit/bronze/test_payments.py").read_text()
    assert tests.startswith(PERSONS_TESTS.split("\n\n\ndef test_columns")[0].split("\nfrom decimal")[0])
    assert "def test_columns(spark):" in tests, "the person's test is kept"
    assert "def test_values_are_kept" in tests and "def test_legacy_exports" in tests
    assert "test_shape_again" not in tests and "test_wrong" not in tests
    assert (bare_project / "src/shop/transformations/bronze/payments.py").read_text() == MODULE


@pytest.mark.slow
def test_tests_that_prove_nothing_are_not_kept(bare_project: Path) -> None:
    setup(bare_project)
    with ScriptedLLM(lambda request: Action(content=reply(SHAPE_AGAIN, WRONG))) as llm:
        result = scaffold_loopback(bare_project, llm.base_url, "test", "payments", "--max-rounds", "1")
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == 0, output
    assert "0 test(s) nothing written" in output
    assert (bare_project / "tests/unit/bronze/test_payments.py").read_text() == PERSONS_TESTS
