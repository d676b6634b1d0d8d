"""The profiling agent: `scaffold profile` and `scaffold add bronze` without columns.

Samples are written here (nulls, a column of mixed types, malformed records), read by real local
Spark: the engine tests share the suite's session; the CLI runs in a subprocess (its own JVM)
only where the terminal output matters. Unity Catalog is databricks-sdk talking HTTP to a
loopback server that answers the tables API.
"""

from __future__ import annotations

import difflib
import json
import socket
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from lakeforge.tables import load_tables
from scaffolder.errors import ScaffoldError
from scaffolder.profile import TableProfile, profile_files, profile_table, replace_schema
from scaffolder.project import load_project
from scaffolder.prompts import PromptBuilder
from scaffolder.stubs import stub_module

from .conftest import scaffold
from .llm_server import LoopbackEndpoint, Reply, Seen

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

CSV = (
    "order_id,Customer Name,amount,ordered_at,paid,code\n"
    "1,Ann,1.50,2024-01-01 10:00:00,true,A1\n"
    "2,,2.25,2024-01-02 11:00:00,false,7\n"
    "3,Cy,3.00,2024-01-03 12:00:00,,B2\n"
    "4,Di,4.00\n"  # malformed: three fields of six
    "5,Ed,5.50,2024-01-05 09:30:00,true,9\n"
)
JSON_LINES = (
    '{"event_id": 1, "kind": "click", "value": 10, "payload": {"a": 1}, "tags": ["x"], "at": "2024-01-01T10:00:00Z"}\n'
    '{"event_id": 2, "kind": null, "value": "high", "tags": [], "at": "2024-01-01T11:00:00Z"}\n'
    "{not json\n"
    '{"event_id": 3, "kind": "view", "value": 12, "payload": {"a": 2}, "tags": ["y", "z"], "at": "2024-01-01T12:00:00Z"}\n'
)
TABLES = """\
# Our tables. This comment and the layout below must survive profiling.
version: 1
tables:
  # landed nightly by the shop
  - name: orders
    layer: bronze
    description: Shop orders.   # keep me
    source:
      path: orders
      format: csv
      options:
        header: true
    schema:
      - {name: order_id, type: string, nullable: false, comment: from the shop}
      - {name: legacy, type: string}
      - {name: _ingested_at, type: timestamp, nullable: false}
      - {name: _source_file, type: string}
    monitors:
      - {rule_type: volume, threshold_change_percent: 50}

  - name: clean_orders
    layer: silver
    description: One row per order.
    inputs: [orders]
    schema:
      - {name: order_id, type: string, nullable: false}
"""


def columns(profile: TableProfile) -> dict[str, tuple[str, float | None]]:
    return {c.name: (c.type, c.null_fraction) for c in profile.columns}


def one_line(message: str) -> str:
    assert "\n" not in message.strip(), message
    return message


# The engine on samples (the suite's Spark session) ----------------------------------------------


def test_csv_sample_nulls_mixed_types_and_a_bad_row(spark: SparkSession, tmp_path: Path) -> None:
    sample = tmp_path / "orders.csv"
    sample.write_text(CSV)
    profile = profile_files(spark, sample, "orders")
    assert columns(profile) == {
        "order_id": ("int", 0.0),
        "customer_name": ("string", 0.25),  # the header "Customer Name", renamed (CSV is read by position)
        "amount": ("double", 0.0),
        "ordered_at": ("timestamp", 0.0),
        "paid": ("boolean", 0.25),
        "code": ("string", 0.0),  # A1, 7, B2, 9: mixed, so text
    }
    assert (profile.rows, profile.bad_rows, profile.bad_row_examples) == (5, 1, ["4,Di,4.00"])
    by_name = {c.name: c for c in profile.columns}
    assert (by_name["order_id"].min, by_name["order_id"].max, by_name["order_id"].approx_distinct) == (1, 5, 4)
    assert (by_name["ordered_at"].min, by_name["ordered_at"].max) == ("2024-01-01 10:00:00", "2024-01-05 09:30:00")
    assert set(by_name["code"].samples) <= {"A1", "7", "B2", "9"} and len(by_name["code"].samples) == 3
    assert "Customer Name" in by_name["customer_name"].note
    # unique and never null among the well-formed rows; a double or a boolean is never offered as a key
    assert profile.candidate_keys == ["order_id", "ordered_at", "code"]


def test_json_lines_sample_with_nested_values_and_a_bad_line(spark: SparkSession, tmp_path: Path) -> None:
    folder = tmp_path / "events"
    folder.mkdir()
    (folder / "part-1.jsonl").write_text(JSON_LINES)
    (folder / "_SUCCESS").write_text("")  # Spark skips it, and so does format detection
    profile = profile_files(spark, folder, "events")
    assert profile.format == "json"
    assert columns(profile) == {
        "at": ("timestamp", 0.0),
        "event_id": ("bigint", 0.0),
        "kind": ("string", pytest.approx(1 / 3, abs=1e-3)),
        "payload": ("string", pytest.approx(1 / 3, abs=1e-3)),
        "tags": ("array<string>", 0.0),
        "value": ("string", 0.0),  # 10, "high", 12
    }
    assert (profile.rows, profile.bad_rows, profile.bad_row_examples) == (4, 1, ["{not json"])
    payload = next(c for c in profile.columns if c.name == "payload")
    assert "struct" in payload.note and set(payload.samples) == {'{"a":1}', '{"a":2}'}
    assert "event_id" in profile.candidate_keys


def test_parquet_sample_keeps_its_types(spark: SparkSession, tmp_path: Path) -> None:
    rows = [
        (1, "1.50", "2024-01-01", "2024-01-01 10:00:00", True, 10**12, 0.5),
        (2, None, "2024-01-02", None, False, 2, 1.5),
    ]
    df = spark.createDataFrame(rows, "id INT, amount STRING, day STRING, ts STRING, flag BOOLEAN, big BIGINT, r FLOAT")
    typed = df.selectExpr(
        "id",
        "CAST(amount AS DECIMAL(10,2)) AS amount",
        "CAST(day AS DATE) AS day",
        "CAST(ts AS TIMESTAMP) AS ts",
        "flag",
        "big",
        "r",
    )
    typed.coalesce(1).write.parquet(str(tmp_path / "payments"))
    profile = profile_files(spark, tmp_path / "payments", "payments")
    assert columns(profile) == {
        "id": ("int", 0.0),
        "amount": ("decimal(10,2)", 0.5),
        "day": ("date", 0.0),
        "ts": ("timestamp", 0.5),
        "flag": ("boolean", 0.0),
        "big": ("bigint", 0.0),
        "r": ("float", 0.0),
    }
    amount = next(c for c in profile.columns if c.name == "amount")
    assert (amount.min, amount.max, amount.samples) == ("1.50", "1.50", ["1.50"])
    assert profile.bad_rows == 0 and profile.candidate_keys == ["id", "day", "big"]


def test_malformed_samples_give_one_line(spark: SparkSession, tmp_path: Path) -> None:
    garbage = tmp_path / "bad.parquet"
    garbage.write_bytes(b"this is not parquet")
    with pytest.raises(ScaffoldError) as caught:
        profile_files(spark, garbage, "bad")
    assert "Spark cannot read it as parquet" in one_line(str(caught.value))
    assert "is not a Parquet file" in str(caught.value)  # the cause, not py4j's "error calling o57.load"

    all_bad = tmp_path / "bad.json"
    all_bad.write_text("{nope\n[also not\n")
    with pytest.raises(ScaffoldError, match="no columns found; every record is malformed json") as caught:
        profile_files(spark, all_bad, "bad")
    one_line(str(caught.value))

    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "a.csv").write_text("id\n1\n")
    (mixed / "b.json").write_text('{"id": 1}\n')
    with pytest.raises(ScaffoldError, match="holds csv and json files: profile one format at a time"):
        profile_files(spark, mixed, "mixed")


# The entry in tables.yml: shown, applied with --yes, nothing else touched ---------------------


def test_profile_edits_only_the_entrys_schema_and_only_when_applied(spark: SparkSession, bare_project: Path) -> None:
    (bare_project / "tables.yml").write_text(TABLES)
    project = load_project(bare_project)
    sample = bare_project / "data" / "landing" / "orders"
    sample.mkdir(parents=True)
    (sample / "orders-2024-01.csv").write_text(CSV)

    shown = profile_table(project, "orders", spark=spark)  # a table name: its landed files
    assert (bare_project / "tables.yml").read_text() == TABLES and not shown.applied
    assert "+      - {name: customer_name, type: string}" in shown.diff
    assert "-      - {name: legacy, type: string}" in shown.diff
    assert shown.spark_jobs is not None and shown.spark_jobs <= 3, shown.spark_jobs  # header, inference, stats
    assert any("legacy" in note for note in shown.notes)
    stats = TableProfile.model_validate_json((bare_project / shown.profile_path).read_text())
    assert stats.source == "data/landing/orders" and stats.bad_rows == 1
    # the prompt builder already quotes it to the model
    tables = load_tables(bare_project / "tables.yml")
    context = PromptBuilder(bare_project, "shop", tables).context(tables.get("orders"))
    assert "Profiling statistics" in context and '"candidate_keys"' in context

    module = bare_project / "src/shop/transformations/bronze/orders.py"
    module.write_text(stub_module(tables.get("orders")))  # a stub with the old SCHEMA follows the entry

    applied = profile_table(project, str(sample), spark=spark, apply=True)  # the path: matched to the entry
    after = (bare_project / "tables.yml").read_text()
    assert applied.applied and applied.table == "orders" and applied.diff == shown.diff
    entry = load_tables(bare_project / "tables.yml").get("orders")
    assert [(c.name, c.type, c.nullable) for c in entry.schema_] == [
        ("order_id", "int", False),  # a sample cannot prove NOT NULL: what tables.yml said is kept
        ("customer_name", "string", True),
        ("amount", "double", True),
        ("ordered_at", "timestamp", True),
        ("paid", "boolean", True),
        ("code", "string", True),
        ("_ingested_at", "timestamp", False),
        ("_source_file", "string", True),
    ]
    assert entry.schema_[0].comment == "from the shop"
    # the data proposes the contract the entry did not declare: the id-like column unique and never null
    assert entry.keys == ["order_id"] and applied.proposed == {"keys": ["order_id"]}
    assert "proposed from the data: keys: [order_id] (in the diff)" in applied.notes
    assert any(n.startswith("never null in the sample: amount, ordered_at, code;") for n in applied.notes)
    assert module.read_text() == stub_module(entry)
    assert "rewrote the stub src/shop/transformations/bronze/orders.py with the new SCHEMA" in applied.notes
    # every changed line is inside the entry's schema block or the proposal added at the entry's end;
    # comments and the silver entry stay
    before_lines, after_lines = TABLES.splitlines(), after.splitlines()
    block = range(before_lines.index("    schema:") + 1, before_lines.index("    monitors:"))
    entry_end = before_lines.index("") if "" in before_lines else len(before_lines)
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=before_lines, b=after_lines).get_opcodes():
        if tag == "insert" and i1 == entry_end:
            assert after_lines[j1:j2] == ["    keys: [order_id]"]
            continue
        assert tag == "equal" or all(i in block for i in range(i1, max(i2, i1 + 1))), (tag, i1, i2)
    assert "    description: Shop orders.   # keep me" in after and after.endswith(TABLES.split("\n\n")[1])

    again = profile_table(project, "orders", spark=spark, apply=True)
    assert again.diff == "" and not again.applied


def test_a_profile_that_breaks_tables_yml_writes_nothing(spark: SparkSession, bare_project: Path) -> None:
    (bare_project / "tables.yml").write_text(TABLES.replace("    monitors:", "    keys: [legacy]\n    monitors:"))
    before = (bare_project / "tables.yml").read_text()
    sample = bare_project / "orders.csv"
    sample.write_text(CSV)
    with pytest.raises(ScaffoldError) as caught:
        profile_table(load_project(bare_project), str(sample), table="orders", spark=spark, apply=True)
    assert "keys: ['legacy'] not in the table's schema columns" in one_line(str(caught.value))
    assert "tables.yml was not changed" in str(caught.value)
    assert (bare_project / "tables.yml").read_text() == before
    assert not (bare_project / ".scaffold" / "profiles").exists()

    (bare_project / "tables.yml").write_text("version: 1\ntables:\n  - name: [oops\n")
    with pytest.raises(ScaffoldError, match="tables.yml is not valid YAML") as caught:
        profile_table(load_project(bare_project), str(sample), table="orders", spark=spark)
    one_line(str(caught.value))


def test_the_schema_block_is_found_however_the_entry_is_written() -> None:
    text = (
        "version: 1\r\n"
        "tables:\r\n"
        "  - schema: [{name: a, type: int}]  # flow, first key, CRLF\r\n"
        "    name: one\r\n"
        "    layer: bronze\r\n"
        "    source: {path: one, format: csv}\r\n"
        "    description: x\r\n"
        "  - name: two\r\n"
        "    layer: silver\r\n"
        "    inputs: [one]\r\n"
        "    description: y"  # no schema yet, no final line break
    )
    new = [{"name": "b", "type": "decimal(10,2)", "comment": "gross, in EUR"}]
    one = replace_schema(text, "one", new)
    assert one == text.replace(
        "  - schema: [{name: a, type: int}]  # flow, first key, CRLF\r\n",
        '  - schema:\r\n      - {name: b, type: "decimal(10,2)", comment: "gross, in EUR"}\r\n',
    )
    two = replace_schema(text, "two", new)
    assert two == text + '\r\n    schema:\r\n      - {name: b, type: "decimal(10,2)", comment: "gross, in EUR"}\r\n'
    with pytest.raises(ScaffoldError, match="written as one"):
        replace_schema("tables:\n  - {name: three, schema: []}\n", "three", new)
    with pytest.raises(ScaffoldError, match="table 'four' is not in tables.yml"):
        replace_schema(text, "four", new)


# The CLI: the diff, --yes, one line on a bad file, no Spark noise -------------------------------


def test_cli_shows_the_diff_and_writes_only_with_yes(bare_project: Path, tmp_path: Path) -> None:
    (bare_project / "tables.yml").write_text(TABLES)
    sample = tmp_path / "orders.csv"
    sample.write_text(CSV)

    shown = scaffold(bare_project, "profile", str(sample), "--table", "orders")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert (bare_project / "tables.yml").read_text() == TABLES
    assert "+      - {name: customer_name, type: string}" in shown.stdout
    assert "tables.yml is unchanged: run again with --yes" in shown.stdout
    assert "candidate keys (unique, never null here): order_id, ordered_at, code" in shown.stdout
    assert "malformed record: 4,Di,4.00" in shown.stdout
    assert shown.stderr == "" and "WARN" not in shown.stdout  # the JVM writes to its own log

    applied = scaffold(bare_project, "profile", str(sample), "--table", "orders", "--yes")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "wrote the schema of orders to tables.yml" in applied.stdout
    assert "{name: customer_name, type: string}" in (bare_project / "tables.yml").read_text()
    assert json.loads((bare_project / ".scaffold/profiles/orders.json").read_text())["rows"] == 5


def test_cli_malformed_file_gives_one_line_and_leaves_tables_yml(bare_project: Path, tmp_path: Path) -> None:
    (bare_project / "tables.yml").write_text(
        TABLES.replace("format: csv\n      options:\n        header: true\n", "format: parquet\n")
    )
    before = (bare_project / "tables.yml").read_text()
    garbage = tmp_path / "orders.parquet"
    garbage.write_bytes(b"PAR1 but not really")
    result = scaffold(bare_project, "profile", str(garbage))
    assert result.returncode == 2
    assert result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {garbage}: Spark cannot read it as parquet (")
    assert (bare_project / "tables.yml").read_text() == before


# Unity Catalog through databricks-sdk ----------------------------------------------------------

UC_TABLE = {
    "name": "orders",
    "catalog_name": "main",
    "schema_name": "sales",
    "full_name": "main.sales.orders",
    "table_type": "MANAGED",
    "columns": [
        {"name": "order_id", "type_text": "string", "type_name": "STRING", "position": 0, "nullable": False},
        {
            "name": "Amount",
            "type_text": "decimal(12,2)",
            "type_name": "DECIMAL",
            "type_precision": 12,
            "type_scale": 2,
            "position": 1,
            "nullable": True,
            "comment": "gross, in EUR",
        },
        {"name": "tags", "type_text": "array<string>", "type_name": "ARRAY", "position": 2, "nullable": True},
        {"name": "meta", "type_text": "struct<a:int>", "type_name": "STRUCT", "position": 3, "nullable": True},
        {"name": "qty", "type_text": "short", "type_name": "SHORT", "position": 4, "nullable": False},
    ],
}


def unity_catalog(seen: Seen) -> Reply:
    if seen.path == "/api/2.1/unity-catalog/tables/main.sales.orders":
        return Reply(body=UC_TABLE)
    return Reply(404, {"error_code": "NOT_FOUND", "message": f"{seen.path} does not exist"})


def databricks_env(tmp_path: Path, host: str) -> dict[str, str]:
    return {
        "DATABRICKS_HOST": host,
        "DATABRICKS_TOKEN": "x",
        "HOME": str(tmp_path),
        "DATABRICKS_CONFIG_FILE": str(tmp_path / "no.databrickscfg"),
    }


def test_unity_catalog_table_through_the_sdk(bare_project: Path, tmp_path: Path) -> None:
    (bare_project / "tables.yml").write_text(TABLES)
    with LoopbackEndpoint(unity_catalog) as workspace:
        env = databricks_env(tmp_path, workspace.url)
        result = scaffold(bare_project, "profile", "main.sales.orders", "--yes", env=env)
        missing = scaffold(bare_project, "profile", "main.sales.nope", "--table", "orders", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    [get] = workspace.to("/api/2.1/unity-catalog/tables/main.sales.orders")
    assert get.method == "GET" and get.headers["authorization"] == "Bearer x"
    entry = load_tables(bare_project / "tables.yml").get("orders")
    assert [(c.name, c.type, c.nullable, c.comment) for c in entry.schema_] == [
        ("order_id", "string", False, "from the shop"),
        ("amount", "decimal(12,2)", True, "gross, in EUR"),
        ("tags", "array<string>", True, ""),
        ("meta", "string", True, ""),  # a struct: its JSON text
        ("qty", "smallint", False, ""),
        ("_ingested_at", "timestamp", False, ""),
        ("_source_file", "string", True, ""),
    ]
    stats = TableProfile.model_validate_json((bare_project / ".scaffold/profiles/orders.json").read_text())
    assert stats.kind == "unity-catalog" and stats.source == "main.sales.orders" and stats.rows is None
    assert missing.returncode == 2
    assert one_line(missing.stderr).startswith("error: Unity Catalog table main.sales.nope not found (")


def test_unreachable_workspace_gives_one_line(
    bare_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (bare_project / "tables.yml").write_text(TABLES)
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for name, value in databricks_env(tmp_path, f"http://127.0.0.1:{port}").items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ScaffoldError) as caught:
        profile_table(load_project(bare_project), "main.sales.orders", apply=True, retry_timeout_seconds=1)
    message = one_line(str(caught.value))
    assert message.startswith(
        f"cannot reach the Databricks workspace http://127.0.0.1:{port} to read main.sales.orders"
    )
    assert message.endswith("check DATABRICKS_HOST / DATABRICKS_TOKEN or run `databricks auth login`")
    assert (bare_project / "tables.yml").read_text() == TABLES


# `scaffold add bronze` without columns ----------------------------------------------------------


def test_add_bronze_without_columns_profiles_the_landed_files(bare_project: Path) -> None:
    landing = bare_project / "data" / "landing" / "refunds"
    landing.mkdir(parents=True)
    (landing / "refunds.csv").write_text(
        "refund_id,order_id,amount,refunded_on\nr1,1,2.50,2024-02-01\nr2,,1.00,2024-02-03\n"
    )
    result = scaffold(bare_project, "add", "bronze", "refunds", "--source", "refunds", "--description", "Refunds.")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "schema inferred from data/landing/refunds (2 rows)" in result.stdout
    entry = load_tables(bare_project / "tables.yml").get("refunds")
    assert [(c.name, c.type, c.nullable) for c in entry.schema_] == [
        ("refund_id", "string", True),
        ("order_id", "int", True),
        ("amount", "double", True),
        ("refunded_on", "date", True),
        ("_ingested_at", "timestamp", False),
        ("_source_file", "string", True),
    ]
    assert entry.source is not None and entry.source.options == {"header": "true"}
    assert (bare_project / "src/shop/transformations/bronze/refunds.py").is_file()
    assert "T.DateType()" in (bare_project / "src/shop/transformations/bronze/refunds.py").read_text()
    stats = json.loads((bare_project / ".scaffold/profiles/refunds.json").read_text())
    assert stats["candidate_keys"] == ["refund_id", "refunded_on"]

    nothing = scaffold(bare_project, "add", "bronze", "returns", "--source", "returns", "--description", "x")
    assert nothing.returncode == 2
    assert one_line(nothing.stderr).startswith("error: --source returns: no files at data/landing/returns to profile")
    silver = scaffold(bare_project, "add", "silver", "s", "--input", "refunds", "--description", "x")
    assert silver.returncode == 2 and "silver tables need their columns: --column NAME:TYPE" in silver.stderr
