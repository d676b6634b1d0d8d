"""Writing tables.yml: free text is data, the file's own lines stay, what is written reads back.

Pure string-in / string-out tests of `scaffolder.tables_writer` (no Spark, no copy): Hypothesis
feeds arbitrary text (YAML indicators, quotes, line breaks, control and non-ASCII characters)
where people write free text: descriptions, column comments, check SQL.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from lakeforge.tables import parse_tables
from scaffolder.errors import ScaffoldError
from scaffolder.tables_writer import append_entry, entry_text, replace_schema, set_entry_key, validated

HEADER = """\
# Our tables: this comment, the layout and the entry below must survive every edit.
version: 1
tables:
  # the first table, hand-written
  - name: raw_orders
    layer: bronze
    description: Orders.   # keep me
    source: {path: orders, format: csv}
    schema:
      - {name: order_id, type: string}
"""
# What YAML reads as something other than text when it starts a plain scalar, and friends.
INDICATORS = ["@", "`", "*", "%", "!", "&", "|", ">", "'", '"', "#", "- ", "? ", ": ", "{", "[", "]", ","]
INDICATORS += ["---", "...", "true", "no", "null", "~", "0x1F", "1e3", "12", " ", "\t", "\n", "a: b", "a #b"]
free_text = st.one_of(
    st.text(min_size=1, max_size=60),
    st.builds(lambda a, b: a + b, st.sampled_from(INDICATORS), st.text(max_size=30)),
)


def bronze(name: str, description: str, comment: str = "", check: str = "amount >= 0") -> dict[str, Any]:
    column: dict[str, Any] = {"name": "amount", "type": "decimal(10,2)"}
    if comment:
        column["comment"] = comment
    return {
        "name": name,
        "layer": "bronze",
        "description": description,
        "source": {"path": "refunds", "format": "csv", "options": {"header": True}},
        "schema": [{"name": "refund_id", "type": "string", "nullable": False}, column],
        "keys": ["refund_id"],
        "checks": {"amount_positive": check},
        "on_violation": "drop",
    }


@settings(max_examples=300, deadline=None)
@given(description=free_text, comment=free_text, check=free_text)
@example(description="@refunds: `x` * %! #1", comment="gross, in EUR", check="status IN ('a', 'b')")
@example(description="line one\nline two\r\n\x85\u2028\ufeff\x00", comment="'single' \"double\"", check="a # b")
def test_any_text_reads_back_unchanged_and_the_file_keeps_its_lines(description: str, comment: str, check: str) -> None:
    entry = bronze("refunds", description, comment, check)
    text = append_entry(HEADER, entry)
    assert text.startswith(HEADER)  # nothing above the new entry changes
    assert yaml.safe_load(text)["tables"][1] == entry  # never parsed as YAML syntax: read back as written


def test_the_new_entry_is_written_in_the_templates_style() -> None:
    text = entry_text(bronze("refunds", "Refunds: one row per refund, #1", "in EUR"))
    assert text == (
        "  - name: refunds\n"
        "    layer: bronze\n"
        '    description: "Refunds: one row per refund, #1"\n'
        "    source:\n"
        "      path: refunds\n"
        "      format: csv\n"
        "      options:\n"
        "        header: true\n"
        "    schema:\n"
        "      - {name: refund_id, type: string, nullable: false}\n"
        '      - {name: amount, type: "decimal(10,2)", comment: in EUR}\n'
        "    keys: [refund_id]\n"
        "    checks:\n"
        "      amount_positive: amount >= 0\n"
        "    on_violation: drop\n"
    )
    assert append_entry("version: 1\ntables: []\n", bronze("a", "x")).startswith("version: 1\ntables:\n\n  - name: a\n")


@settings(max_examples=200, deadline=None)
@given(comment=free_text)
def test_replacing_one_key_keeps_every_other_line(comment: str) -> None:
    columns = [{"name": "order_id", "type": "string", "nullable": False, "comment": comment}]
    text = replace_schema(HEADER, "raw_orders", columns)
    assert yaml.safe_load(text)["tables"][0]["schema"] == columns
    before, after = HEADER.splitlines(), text.splitlines()
    assert after[: before.index("    schema:") + 1] == before[: before.index("    schema:") + 1]
    keyed = set_entry_key(text, "raw_orders", "keys", ["order_id"])
    assert keyed == text + "    keys: [order_id]\n"
    assert parse_tables(yaml.safe_load(keyed)).get("raw_orders").keys == ["order_id"]


def test_an_edit_that_breaks_the_contract_is_one_line_and_names_the_field() -> None:
    with pytest.raises(ScaffoldError) as caught:
        validated(set_entry_key(HEADER, "raw_orders", "keys", ["nope"]))
    message = str(caught.value)
    assert "\n" not in message
    assert message == (
        "tables.yml: table 'raw_orders': keys: ['nope'] not in the table's schema columns ['order_id'] "
        "(nothing was written)"
    )
    with pytest.raises(ScaffoldError, match="tables.yml is not valid YAML"):
        validated("tables: [oops\n")
