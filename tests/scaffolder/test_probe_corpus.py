"""Code that is right only on the rows its own tests chose: the probe finds it, shrinks it, pins it.

Each case is a silver or gold table whose first reply is wrong only on inputs its tests never
feed — null keys kept, duplicates kept, a named check broken, a cast that crashes on malformed
text, right only for three rows or fewer, right only for ids with the tests' prefix, the latest
version lost, a sum that is a max — with tests that pass, kill every mutant and agree with it. The
second reply is right. Through the real CLI and the loopback model, in one `scaffold fill`:

- no first reply is kept; the repair prompt names the probe's rule and shows the rows, shrunk;
- the corrected reply is kept, and the table's test file carries the regression test scaffold
  wrote from those rows, so the fix stays fixed in the repo's own `pytest`.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from .conftest import bronze_table, good_reply, scaffold_loopback, write_tables
from .llm_server import Action, ScriptedLLM, table_of

pytestmark = pytest.mark.skipif(
    shutil.which("bwrap") is None, reason="bubblewrap is not installed (apt-get install bubblewrap)"
)

META = [{"name": "_ingested_at", "type": "timestamp", "nullable": False}, {"name": "_source_file", "type": "string"}]
RAW_COLUMNS = [
    {"name": "order_id", "type": "string"},
    {"name": "customer_id", "type": "int"},
    {"name": "amount", "type": "decimal(10,2)"},
    {"name": "ordered_at", "type": "timestamp"},
    *META,
]
TEXT_COLUMNS = [{"name": "order_id", "type": "string"}, {"name": "amount_text", "type": "string"}, *META]
ORDER_COLUMNS = [
    {"name": "order_id", "type": "string", "nullable": False},
    {"name": "customer_id", "type": "int", "nullable": False},
    {"name": "amount", "type": "decimal(10,2)"},
    {"name": "ordered_at", "type": "timestamp"},
]


def silver(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "layer": "silver",
        "description": "Valid orders: known customer, no negative amount, the latest version of each order.",
        "inputs": ["raw_orders"],
        "schema": ORDER_COLUMNS,
        "keys": ["order_id"],
        "not_null": ["order_id", "customer_id"],
        "checks": {"amount_positive": "amount >= 0"},
        "dedupe": {"order_by": "ordered_at"},
        **extra,
    }


TABLES = [
    {**bronze_table("raw_orders"), "schema": RAW_COLUMNS, "description": "Orders as landed."},
    {**bronze_table("raw_amounts"), "schema": TEXT_COLUMNS, "description": "Amounts as landed text."},
    silver("orders"),
    *(
        silver(name)
        for name in (
            "null_keys_kept",
            "duplicates_kept",
            "check_broken",
            "right_only_small",
            "right_only_prefix",
            "earliest_wins",
        )
    ),
    {
        "name": "amounts_cast",
        "layer": "silver",
        "description": "Amounts parsed from text: text that is no number becomes null.",
        "inputs": ["raw_amounts"],
        "schema": [
            {"name": "order_id", "type": "string", "nullable": False},
            {"name": "amount", "type": "decimal(10,2)"},
        ],
        "not_null": ["order_id"],
    },
    {
        "name": "revenue_max_not_sum",
        "layer": "gold",
        "description": "Orders and revenue per customer.",
        "inputs": ["orders"],
        "schema": [
            {"name": "customer_id", "type": "int", "nullable": False},
            {"name": "order_count", "type": "bigint", "nullable": False},
            {"name": "revenue", "type": "decimal(20,2)"},
        ],
        "group_by": ["customer_id"],
        "measures": [
            {"name": "order_count", "agg": "count", "column": "order_id"},
            {"name": "revenue", "agg": "sum", "column": "amount"},
        ],
    },
]

HEAD = '''"""{t}: right on the tests' rows only."""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

SCHEMA = T.StructType(
    [
        T.StructField("order_id", T.StringType(), False),
        T.StructField("customer_id", T.IntegerType(), False),
        T.StructField("amount", T.DecimalType(10, 2), True),
        T.StructField("ordered_at", T.TimestampType(), True),
    ]
)


def transform(raw_orders: DataFrame) -> DataFrame:
    """Valid orders, the latest version of each."""
    typed = raw_orders.select("order_id", "customer_id", {amount}.alias("amount"), "ordered_at")
    valid = typed.where({valid})
    latest = Window.partitionBy("order_id").orderBy(F.col("ordered_at").{order}())
    ranked = valid.select("*", F.row_number().over(latest).alias("n"))
    return {last}.select(*SCHEMA.fieldNames())
'''
RIGHT = {
    "amount": 'F.col("amount")',
    "valid": 'F.col("order_id").isNotNull() & F.col("customer_id").isNotNull() & (F.col("amount") >= 0)',
    "order": "desc_nulls_last",
    "last": 'ranked.where(F.col("n") == 1)',
}


def module(**wrong: str) -> str:
    text = HEAD
    for name, value in {**RIGHT, **wrong}.items():
        text = text.replace("{" + name + "}", value)
    return text


TESTS = '''"""{t}: rows chosen so the code looks right."""

import datetime
from decimal import Decimal

import pytest
from lakeforge.testing import assert_df_equal, make_df

from shop.transformations.silver.{t} import SCHEMA, transform

pytestmark = pytest.mark.unit

RAW = "order_id string, customer_id int, amount decimal(10,2), ordered_at timestamp, _ingested_at timestamp, _source_file string"
T1, T2 = datetime.datetime(2026, 1, 1), datetime.datetime(2026, 1, 2)


def test_{t}_keeps_valid_orders(spark):
    raw = make_df(spark, [{rows}], RAW)
    expected = make_df(spark, [{expected}], SCHEMA)
    assert_df_equal(transform(raw), expected)
'''
ROW = '("{id}", {customer}, Decimal("{amount}"), {at}, T1, "f")'
OUT = '("{id}", {customer}, Decimal("{amount}"), {at})'


def case_tests(*rows: tuple[str, Any, str, str], expected: tuple[int, ...] | None = None) -> str:
    """Test rows (id, customer, amount, at); `expected`: which of them come out (default all)."""
    keep = expected if expected is not None else tuple(range(len(rows)))
    raw = ", ".join(ROW.format(id=i, customer=c, amount=a, at=t) for i, c, a, t in rows)
    out = ", ".join(OUT.format(id=i, customer=c, amount=a, at=t) for n, (i, c, a, t) in enumerate(rows) if n in keep)
    return TESTS.replace("{rows}", raw).replace("{expected}", out)


# The tests exercise every behaviour the hint mutants rewrite (nulls, duplicates, order) except the
# one the case gets wrong, so the mutants are all killed and only the probe can see the fault.
ALL = (("o-1", 1, "10.00", "T1"), ("o-1", 1, "12.00", "T2"), ("o-2", None, "5.00", "T1"), ("o-3", 3, "-1.00", "T1"))
CASES: dict[str, tuple[str, str, str]] = {
    "null_keys_kept": (
        module(valid='F.col("amount") >= 0'),
        case_tests(("o-1", 1, "10.00", "T1"), ("o-1", 1, "12.00", "T2"), ("o-3", 3, "-1.00", "T1"), expected=(1,)),
        "NOT NULL",
    ),
    "duplicates_kept": (
        module(last="ranked"),
        case_tests(("o-1", 1, "10.00", "T1"), ("o-2", None, "5.00", "T1"), ("o-3", 3, "-1.00", "T1"), expected=(0,)),
        "one row per key",
    ),
    "check_broken": (
        module(valid='F.col("order_id").isNotNull() & F.col("customer_id").isNotNull()'),
        case_tests(*ALL[:3], expected=(1,)),
        "amount_positive",
    ),
    "right_only_small": (
        module(last='(ranked.where(F.col("n") == 1) if raw_orders.count() <= 4 else ranked)'),
        case_tests(*ALL, expected=(1,)),
        "your tests' own rows changed",
    ),
    "right_only_prefix": (
        module(
            amount='F.when(F.col("order_id").startswith("o-"), F.col("amount"))'
            '.otherwise(F.col("amount") * 2).cast("decimal(10,2)")'
        ),
        case_tests(*ALL, expected=(1,)),
        "keys were renamed",
    ),
    "earliest_wins": (
        module(order="asc_nulls_last"),
        case_tests(*ALL, expected=(0,)),
        "latest row by ordered_at",
    ),
}
AMOUNTS_HEAD = '''"""amounts_cast: parses the landed text."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

SCHEMA = T.StructType([T.StructField("order_id", T.StringType(), False), T.StructField("amount", T.DecimalType(10, 2), True)])


def transform(raw_amounts: DataFrame) -> DataFrame:
    """Text that is no number becomes null."""
    return raw_amounts.where(F.col("order_id").isNotNull()).select("order_id", F.col("amount_text").{cast}("decimal(10,2)").alias("amount"))
'''
AMOUNTS_TESTS = '''"""amounts_cast: numbers as text."""

from decimal import Decimal

import pytest
from lakeforge.testing import assert_df_equal, make_df

from shop.transformations.silver.amounts_cast import SCHEMA, transform

pytestmark = pytest.mark.unit

RAW = "order_id string, amount_text string, _ingested_at timestamp, _source_file string"


def test_amounts_cast_parses(spark):
    raw = make_df(spark, [("o-1", "12.50", None, "f"), (None, "1.00", None, "f"), ("o-2", None, None, "f")], RAW)
    expected = make_df(spark, [("o-1", Decimal("12.50")), ("o-2", None)], SCHEMA)
    assert_df_equal(transform(raw), expected)
'''
REVENUE_MODULE = '''"""revenue_max_not_sum: revenue per customer."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

SCHEMA = T.StructType(
    [
        T.StructField("customer_id", T.IntegerType(), False),
        T.StructField("order_count", T.LongType(), False),
        T.StructField("revenue", T.DecimalType(20, 2), True),
    ]
)


def transform(orders: DataFrame) -> DataFrame:
    """Orders and revenue per customer."""
    grouped = orders.groupBy("customer_id").agg(
        F.count("order_id").alias("order_count"), F.{agg}("amount").cast("decimal(20,2)").alias("revenue")
    )
    return grouped.select(*SCHEMA.fieldNames())
'''
REVENUE_TESTS = '''"""revenue_max_not_sum: one order per customer."""

import datetime
from decimal import Decimal

import pytest
from lakeforge.testing import assert_df_equal, make_df

from shop.transformations.gold.revenue_max_not_sum import SCHEMA, transform

pytestmark = pytest.mark.unit

ORDERS = "order_id string, customer_id int, amount decimal(10,2), ordered_at timestamp"
AT = datetime.datetime(2026, 1, 1)


def test_revenue_per_customer(spark):
    orders = make_df(spark, [("o-1", 1, Decimal("10.00"), AT), ("o-2", 2, Decimal("5.50"), AT)], ORDERS)
    expected = make_df(spark, [(1, 1, Decimal("10.00")), (2, 1, Decimal("5.50"))], SCHEMA)
    assert_df_equal(transform(orders), expected)
'''
CASES["amounts_cast"] = (AMOUNTS_HEAD.replace("{cast}", "cast"), AMOUNTS_TESTS, "fails when collected|raised")
CASES["revenue_max_not_sum"] = (REVENUE_MODULE.replace("{agg}", "max"), REVENUE_TESTS, "must double")
FIXED = {
    "amounts_cast": (AMOUNTS_HEAD.replace("{cast}", "try_cast"), AMOUNTS_TESTS),
    "revenue_max_not_sum": (
        REVENUE_MODULE.replace("{agg}", "sum"),
        REVENUE_TESTS.replace(
            '("o-2", 2, Decimal("5.50"), AT)]', '("o-2", 2, Decimal("5.50"), AT), ("o-3", 2, Decimal("1.00"), AT)]'
        ).replace('(2, 1, Decimal("5.50"))', '(2, 2, Decimal("6.50"))'),
    ),
}


def reply(table: str, module_text: str, tests_text: str, layer: str) -> str:
    return (
        f"src/shop/transformations/{layer}/{table}.py\n```python\n{module_text.replace('{t}', table)}```\n\n"
        f"tests/unit/{layer}/test_{table}.py\n```python\n{tests_text.replace('{t}', table)}```\n"
    )


def attempt(request: dict[str, Any]) -> int:
    return len(request["messages"]) // 2


@pytest.mark.slow
def test_code_right_only_on_its_tests_rows_is_found_shrunk_and_pinned(bare_project: Path) -> None:
    write_tables(bare_project, TABLES)
    good = {name: good_reply(bare_project, name) for name in ("raw_orders", "raw_amounts", "orders")}
    layers = {t["name"]: t["layer"] for t in TABLES}

    def respond(request: dict[str, Any]) -> Action:
        table = table_of(request)
        if table in good:
            return Action(content=good[table])
        if attempt(request) == 1:
            wrong_module, wrong_tests, _ = CASES[table]
            return Action(content=reply(table, wrong_module, wrong_tests, layers[table]))
        if table in FIXED:
            return Action(content=reply(table, *FIXED[table], layers[table]))
        return Action(content=good_reply(bare_project, table))  # the offline generator's right version

    with ScriptedLLM(respond) as llm:
        result = scaffold_loopback(bare_project, llm.base_url, "fill", "all", "--max-attempts", "2")
    output = result.stdout + result.stderr
    assert len(CASES) >= 8
    wrong = []
    for table, (_, _, reason) in CASES.items():
        repairs = [r for r in llm.requests if table_of(r) == table and attempt(r) == 2]
        if not repairs:
            wrong.append(f"{table}: its wrong first reply was kept")
            continue
        prompt = repairs[0]["messages"][-1]["content"]
        if "probe:" not in prompt or not any(r in prompt for r in reason.split("|")):
            wrong.append(f"{table}: the repair prompt does not name {reason!r}:\n{prompt[:1500]}")
        elif not re.search(r"rows \{\w+=", prompt):
            wrong.append(f"{table}: the repair prompt shows no rows:\n{prompt[:1500]}")
        if not re.search(rf"{table}\s.*filled", output):
            wrong.append(f"{table}: the corrected reply was not kept")
            continue
        test_file = bare_project / f"tests/unit/{layers[table]}/test_{table}.py"
        if "probe_regression" not in test_file.read_text():
            wrong.append(f"{table}: the kept tests carry no regression test from the probe")
    assert not wrong, "\n".join(wrong) + "\n" + output[-3000:]

    # The regression tests run in the repo's own pytest too: the fix stays fixed.
    import subprocess
    import sys

    regression = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "probe_regression", "tests/unit"],
        cwd=bare_project,
        capture_output=True,
        text=True,
        timeout=600,
        env={**__import__("os").environ, "PYTHONPATH": str(bare_project / "src")},
    )
    assert regression.returncode == 0 and " passed" in regression.stdout, regression.stdout[-3000:]
