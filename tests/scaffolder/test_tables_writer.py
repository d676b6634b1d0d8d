"""Writing tables.yml: free text is data, the file's own lines stay, what is written reads back.

Pure string-in / string-out tests of `scaffolder.tables_writer` (no Spark, no copy): Hypothesis
feeds arbitrary text (YAML indicators, quotes, line breaks, control and non-ASCII characters)
where people write free text: descriptions, column comments, check SQL.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from lakeforge.tables import parse_tables
from scaffolder.errors import ScaffoldError
from scaffolder.tables_writer import append_entry, entry_text, replace_schema, set_entry_key, unified_diff, validated

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


@settings(max_examples=100, deadline=None)
@given(description=free_text, eol=st.sampled_from(["\n", "\r\n"]), empty=st.booleans())
def test_an_entry_appended_to_a_crlf_or_empty_file_keeps_every_table_and_the_line_breaks(
    description: str, eol: str, empty: bool
) -> None:
    header = "version: 1\ntables: []  # none yet\n" if empty else HEADER
    text = append_entry(header.replace("\n", eol), bronze("refunds", description))
    tables = yaml.safe_load(text)["tables"]
    assert [t["name"] for t in tables] == ([] if empty else ["raw_orders"]) + ["refunds"]
    assert tables[-1]["description"] == description
    assert len(re.findall(r"^tables:", text, flags=re.M)) == 1  # one `tables:` key: no table is lost
    if eol == "\r\n":
        assert "\n" not in text.replace("\r\n", ""), "a CRLF file gets no bare line break"


@settings(max_examples=150, deadline=None)
@given(description=free_text)
def test_setting_a_key_to_free_text_reads_back_and_touches_no_other_line(description: str) -> None:
    text = set_entry_key(HEADER, "raw_orders", "description", description)
    assert yaml.safe_load(text)["tables"][0]["description"] == description
    before, after = HEADER.splitlines(), text.splitlines()
    at = before.index("    description: Orders.   # keep me")
    assert after[:at] == before[:at]
    assert after[-4:] == before[-3:] or after[-3:] == before[-3:]  # source and schema lines as they were
    assert set_entry_key(text, "raw_orders", "description", "Orders.") == HEADER.replace("   # keep me", "")


def test_what_set_entry_key_cannot_do_safely_is_one_line_and_writes_nothing() -> None:
    flow = "version: 1\ntables:\n  - {name: a, layer: bronze}\n"
    with pytest.raises(ScaffoldError, match=r"table 'a' is written as one \{\.\.\.\} mapping; write it as a block"):
        set_entry_key(flow, "a", "keys", ["id"])
    with pytest.raises(ScaffoldError, match="^table 'nope' is not in tables.yml$"):
        set_entry_key(HEADER, "nope", "keys", ["id"])
    cramped = HEADER.replace(
        "    source: {path: orders, format: csv}\n", "    source: {path: orders, format: csv}\n    keys: [order_id]\n"
    )
    assert set_entry_key(cramped, "raw_orders", "keys", ["a", "b"]) == cramped.replace("[order_id]", "[a, b]")
    no_final_break = HEADER.rstrip("\n")
    assert set_entry_key(no_final_break, "raw_orders", "keys", ["order_id"]) == HEADER + "    keys: [order_id]\n"


def test_the_diff_names_tables_yml_on_both_sides() -> None:
    assert unified_diff("a\nb\n", "a\nc\n") == "--- a/tables.yml\n+++ b/tables.yml\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n"
    assert unified_diff("same\n", "same\n") == ""
