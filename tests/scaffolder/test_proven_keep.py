"""A kept table is proven: realistic replies, per table and per attempt, in one `scaffold fill all`.

A loopback model plays what models really send: a good first try, prose and bold paths, lint
that ruff fixes, repairable mistakes of every kind, a hopeless table, wrong code with tests that
only check the schema, a type that differs from SCHEMA behind a loose test, tests in classes,
a silver dedupe and a gold join-and-aggregate. Each case asserts its final status, the attempt
whose reply was kept, and what the repair prompt told the model.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lakeforge.tables import load_tables
from scaffolder.stubs import stub_module

from .conftest import PAYMENT_COLUMNS, bronze_table, good_reply, scaffold_loopback, write_tables
from .llm_server import Action, ScriptedLLM, table_of

META = [{"name": "_ingested_at", "type": "timestamp", "nullable": False}, {"name": "_source_file", "type": "string"}]


def tables() -> list[dict[str, Any]]:
    payments = lambda name: bronze_table(name, PAYMENT_COLUMNS)  # noqa: E731
    return [
        bronze_table("good_first"),
        bronze_table("prose_bold"),
        bronze_table("lint_fix"),
        bronze_table("wrong_value"),
        bronze_table("runtime_error"),
        bronze_table("schema_drift"),
        bronze_table("endless"),
        bronze_table("hung"),
        bronze_table("hopeless"),
        payments("schema_only"),
        payments("loose_type"),
        bronze_table("class_tests"),
        bronze_table("class_mixed"),
        bronze_table("patcher"),
        bronze_table("victim"),
        {
            "name": "raw_customers",
            "layer": "bronze",
            "description": "Customers from the CRM.",
            "source": {"path": "customers", "format": "csv"},
            "schema": [
                {"name": "customer_id", "type": "int", "nullable": False},
                {"name": "name", "type": "string"},
                *META,
            ],
        },
        {
            "name": "raw_orders",
            "layer": "bronze",
            "description": "Orders from the shop.",
            "source": {"path": "orders", "format": "json"},
            "schema": [
                {"name": "order_id", "type": "string", "nullable": False},
                {"name": "customer_id", "type": "int"},
                {"name": "amount", "type": "decimal(10,2)"},
                {"name": "ordered_at", "type": "timestamp"},
                *META,
            ],
        },
        {
            "name": "customers",
            "layer": "silver",
            "description": "One row per customer.",
            "inputs": ["raw_customers"],
            "schema": [{"name": "customer_id", "type": "int", "nullable": False}, {"name": "name", "type": "string"}],
            "keys": ["customer_id"],
            "not_null": ["customer_id"],
        },
        {
            "name": "orders",
            "layer": "silver",
            "description": "One row per order id, the latest version.",
            "inputs": ["raw_orders"],
            "schema": [
                {"name": "order_id", "type": "string", "nullable": False},
                {"name": "customer_id", "type": "int", "nullable": False},
                {"name": "amount", "type": "decimal(10,2)"},
                {"name": "ordered_at", "type": "timestamp"},
            ],
            "keys": ["order_id"],
            "not_null": ["order_id", "customer_id"],
            "dedupe": {"order_by": "ordered_at"},
        },
        {
            "name": "customer_revenue",
            "layer": "gold",
            "description": "Orders and revenue per customer, customers without orders included.",
            "inputs": ["customers", "orders"],
            "schema": [
                {"name": "customer_id", "type": "int", "nullable": False},
                {"name": "name", "type": "string"},
                {"name": "order_count", "type": "bigint", "nullable": False},
                {"name": "revenue", "type": "decimal(20,2)"},
            ],
            "join_on": ["customer_id"],
            "group_by": ["customer_id", "name"],
            "measures": [
                {"name": "order_count", "agg": "count", "column": "order_id"},
                {"name": "revenue", "agg": "sum", "column": "amount"},
            ],
        },
    ]


def blocks(reply: str) -> tuple[str, str]:
    module, tests = re.findall(r"```python\n(.*?)```", reply, flags=re.S)
    return module, tests


def files(table: str, module: str, tests: str, layer: str = "bronze") -> str:
    return (
        f"src/shop/transformations/{layer}/{table}.py\n```python\n{module}```\n\n"
        f"tests/unit/{layer}/test_{table}.py\n```python\n{tests}```\n"
    )


def with_tests(table: str, good: str, body: str, extra_imports: str = "") -> str:
    """The good module with the given tests (a header that imports what tests need, then `body`)."""
    module, _ = blocks(good)
    header = (
        f'"""{table}: tests."""\n\n{extra_imports}import pytest\nfrom decimal import Decimal\n'
        "from lakeforge.testing import assert_df_equal, make_df\n\n"
        f"from shop.transformations.bronze.{table} import SCHEMA, transform\n\n"
        "pytestmark = pytest.mark.unit\n\n"
    )
    return files(table, module, header + body)


RAW = 'RAW = "id int, name string"\n\n\n'
EXACT = "def expected_rows(result):\n    return sorted((r['id'], r['name']) for r in result.collect())\n\n\n"


def replies(project: Path) -> dict[str, list[Callable[[str], str]]]:
    """table -> what the model says at attempt 1, 2, 3 (the last one repeats)."""
    good = lambda table: good_reply(project, table)  # noqa: E731
    return {
        "good_first": [lambda t: good(t)],
        "prose_bold": [
            lambda t: (
                "Sure! Here is the module:\n\n**`src/shop/transformations/bronze/prose_bold.py`**\n"
                f"```python\n{blocks(good(t))[0]}```\n\nAnd the tests, which cover the casts:\n\n"
                f"**tests/unit/bronze/test_prose_bold.py**\n```py\n{blocks(good(t))[1]}```\n\nHope this helps."
            )
        ],
        "lint_fix": [
            lambda t: files(
                t,
                blocks(good(t))[0].replace("import logging\n", "import os\nimport logging   \n\n\n\n"),
                blocks(good(t))[1],
            )
        ],
        "wrong_value": [
            lambda t: files(
                t,
                blocks(good(t))[0],
                blocks(good(t))[1]
                .replace("(2, 'v2'),\n]", "(2, 'v2'),\n]\nEXPECTED_NAMES = ['v1', 'v9']\n")
                .replace(
                    "== sorted(ROWS)",
                    "== sorted(ROWS)\n    assert sorted(row['name'] for row in rows) == EXPECTED_NAMES",
                ),
            ),
            lambda t: good(t),
        ],
        "runtime_error": [
            lambda t: files(t, blocks(good(t))[0].replace('F.col("name")', 'F.col("nme")'), blocks(good(t))[1]),
            good,
        ],
        "schema_drift": [
            lambda t: files(
                t,
                blocks(good(t))[0].replace(
                    'T.StructField("id", T.IntegerType(), False)', 'T.StructField("id", T.LongType(), False)'
                ),
                blocks(good(t))[1],
            ),
            good,
        ],
        "endless": [
            lambda t: with_tests(
                t,
                good(t),
                RAW
                + "@pytest.mark.timeout(0)\ndef test_forever(spark):\n    n = 0\n    while n >= 0:\n        n += 1\n    assert n < 0\n",
            ),
            good,
        ],
        "hung": [
            lambda t: with_tests(
                t,
                good(t),
                RAW + "def test_hangs(spark):\n    signal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
                "    while True:\n        pass\n    assert transform(make_df(spark, [], RAW)).count() == 0\n",
                extra_imports="import signal\n\n",
            ),
            good,
        ],
        "hopeless": [
            lambda t: files(t, blocks(good(t))[0].replace("-> DataFrame:", "-> DataFrame"), blocks(good(t))[1])
        ],
        "schema_only": [
            lambda t: with_tests(
                t,
                files(
                    t,
                    blocks(good(t))[0].replace(
                        'F.col("amount").cast("decimal(10,2)")', '(F.col("amount") * 100).cast("decimal(10,2)")'
                    ),
                    "",
                ),
                'RAW = "id int, amount decimal(10,2)"\n\n\ndef test_shape(spark):\n'
                "    result = transform(make_df(spark, [(1, Decimal('1.25')), (2, None)], RAW))\n"
                "    assert result.columns == SCHEMA.fieldNames()\n    assert result.count() == 2\n",
            ),
            good,
        ],
        "loose_type": [
            lambda t: with_tests(
                t,
                files(
                    t,
                    blocks(good(t))[0].replace(
                        'F.col("amount").cast("decimal(10,2)")', 'F.col("amount").cast("double")'
                    ),
                    "",
                ),
                'RAW = "id int, amount decimal(10,2)"\n\n\ndef test_amount(spark):\n'
                "    rows = transform(make_df(spark, [(1, Decimal('12.50'))], RAW)).collect()\n"
                "    assert [(r['id'], r['amount']) for r in rows] == [(1, 12.5)]\n"
                "    assert rows[0]['_ingested_at'] is not None\n",
            ),
            good,
        ],
        "class_tests": [
            lambda t: with_tests(
                t,
                good(t),
                RAW + EXACT + "class TestClassTests:\n"
                "    def test_keeps_rows(self, spark):\n"
                "        result = transform(make_df(spark, [(1, 'a'), (2, None)], RAW))\n"
                "        assert expected_rows(result) == [(1, 'a'), (2, None)]\n"
                "        assert all(r['_ingested_at'] is not None for r in result.collect())\n\n"
                "    @pytest.mark.parametrize(('rows', 'count'), [([(1, 'a')], 1), ([(1, 'a'), (1, 'a')], 2)], ids=['one[x]', 'two'])\n"
                "    def test_counts(self, spark, rows, count):\n"
                "        assert transform(make_df(spark, rows, RAW)).count() == count\n",
            )
        ],
        "class_mixed": [
            lambda t: with_tests(
                t,
                good(t),
                RAW + EXACT + "def test_plain(spark):\n"
                "    result = transform(make_df(spark, [(1, 'a')], RAW))\n"
                "    assert expected_rows(result) == [(1, 'a')]\n"
                "    assert result.collect()[0]['_ingested_at'] is not None\n\n\n"
                "class TestMixed:\n    def test_wrong(self, spark):\n"
                "        assert expected_rows(transform(make_df(spark, [(1, 'a')], RAW))) == [(1, 'b')]\n",
            ),
            good,
        ],
        "patcher": [
            lambda t: with_tests(
                t,
                good(t),
                "helpers = lakeforge.testing\n"
                "helpers.assert_df_equal = lambda *args, **kwargs: None  # every comparison passes now\n\n"
                + RAW
                + EXACT
                + "def test_rows(spark):\n    result = transform(make_df(spark, [(1, 'a')], RAW))\n"
                "    assert expected_rows(result) == [(1, 'a')]\n    assert result.collect()[0]['_ingested_at'] is not None\n",
                extra_imports="import lakeforge.testing\n",
            ),
            good,
        ],
        "victim": [
            lambda t: with_tests(
                t,
                good(t),
                RAW + "def test_rows(spark):\n    result = transform(make_df(spark, [(1, 'a')], RAW))\n"
                "    expected = make_df(spark, [(1, 'WRONG', None, None)], 'id int, name string, _ingested_at timestamp, _source_file string')\n"
                "    assert_df_equal(result.select('id', 'name'), expected.select('id', 'name'))\n",
            ),
            good,
        ],
    }


def attempt_of(request: dict[str, Any]) -> int:
    return len(request["messages"]) // 2


@pytest.mark.slow
def test_one_fill_keeps_only_proven_tables(bare_project: Path) -> None:
    write_tables(bare_project, tables())
    script = replies(bare_project)
    good_only = {"raw_customers", "raw_orders", "customers", "orders", "customer_revenue"}

    def respond(request: dict[str, Any]) -> Action:
        table = table_of(request)
        if table in good_only:
            return Action(content=good_reply(bare_project, table))
        answers = script[table]
        return Action(content=answers[min(attempt_of(request), len(answers)) - 1](table))

    with ScriptedLLM(respond) as llm:
        result = scaffold_loopback(
            bare_project, llm.base_url, "fill", "all", "--jobs", "8", SCAFFOLD_TEST_TIMEOUT_SECONDS="10"
        )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output  # hopeless stays a stub

    audit = [
        json.loads(line)
        for p in (bare_project / ".scaffold" / "audit").glob("*.jsonl")
        for line in p.read_text().splitlines()
    ]
    kept_at = {r["table"]: r["attempt"] for r in audit if r.get("stage") == "tests" and r.get("passed")}
    expected_kept = {
        "good_first": 1,
        "prose_bold": 1,
        "lint_fix": 1,
        "wrong_value": 2,
        "runtime_error": 2,
        "schema_drift": 2,
        "endless": 2,
        "hung": 2,
        "schema_only": 2,
        "loose_type": 2,
        "class_tests": 1,
        "class_mixed": 2,
        "patcher": 2,
        "victim": 2,
        "raw_customers": 1,
        "raw_orders": 1,
        "customers": 1,
        "orders": 1,
        "customer_revenue": 1,
    }
    assert kept_at == expected_kept, output[-6000:]

    def repair(table: str) -> str:
        asks = [r for r in llm.requests if table_of(r) == table and attempt_of(r) == 2]
        assert asks, f"{table} was never asked to repair"
        return asks[0]["messages"][-1]["content"]

    assert "test_wrong_value_keeps_every_row_with_declared_columns failed: AssertionError" in repair("wrong_value")
    assert "UNRESOLVED_COLUMN" in repair("runtime_error") or "cannot be resolved" in repair("runtime_error")
    assert "contract: SCHEMA column 0 is ('id', 'bigint', False), tables.yml says ('id', 'int', False)" in repair(
        "schema_drift"
    )
    assert "tests: test_forever timed out" in repair("endless")
    # A hang its own timer could not stop needs `signal`, outside the safe subset now; the zygote's
    # outside watch is proven in test_round.py with code the static checks never saw.
    assert "policy: import-not-allowed" in repair("hung") and "import signal" in repair("hung")
    assert "mutants: your tests still pass when every `amount` is null: assert the values of amount" in repair(
        "schema_only"
    )
    assert "contract: transform returns amount as double; SCHEMA and tables.yml say decimal(10,2)" in repair(
        "loose_type"
    )
    assert "TestMixed::test_wrong failed" in repair("class_mixed")
    assert "test_plain" not in repair("class_mixed")
    assert "policy: no-attribute-assignment" in repair("patcher") and ".assert_df_equal" in repair("patcher")
    assert "test_rows failed: AssertionError" in repair("victim"), "one table's patch must not pass another's tests"

    # What was written: the proven code, nothing else.
    specs = load_tables(bare_project / "tables.yml")
    hopeless = bare_project / "src/shop/transformations/bronze/hopeless.py"
    assert hopeless.read_text() == stub_module(specs.get("hopeless"))
    assert len([r for r in llm.requests if table_of(r) == "hopeless"]) == 3
    assert "import os" not in (bare_project / "src/shop/transformations/bronze/lint_fix.py").read_text()
    assert "class TestClassTests" in (bare_project / "tests/unit/bronze/test_class_tests.py").read_text()
    for table in ("good_first", "raw_orders", "orders", "customer_revenue"):
        assert len([r for r in llm.requests if table_of(r) == table]) == 1, f"{table} was asked twice"
    scores = {
        r["table"]: (r["mutants_killed"], r["mutants_required"])
        for r in audit
        if r.get("stage") == "tests" and r.get("passed")
    }
    assert all(killed == required and required > 0 for killed, required in scores.values()), scores
    assert re.search(r"orders\s.*silver\s.*filled", output)
