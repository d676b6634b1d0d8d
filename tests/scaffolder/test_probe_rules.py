"""The probe's regression tests must be passable by the right code.

A bronze table keeps every landed value as it came, and every test call's output is checked
against tables.yml's NOT NULL columns. A regression test that feeds a landed null into a NOT NULL
column can therefore never pass, and once carried into the next attempt it blocks the right
reply for good (CI caught this: the shrunk row was the null-id one about one time in six).
These tests are pure data, no Spark: the judge's side of the probe.
"""

from __future__ import annotations

from typing import Any

from lakeforge.tables import parse_tables
from scaffolder import probes
from scaffolder.inside.protocol import Call, Frame

from .conftest import PAYMENT_COLUMNS, bronze_table

LANDED = [("id", "int"), ("amount", "decimal(10,2)")]
OUT = [*LANDED, ("_ingested_at", "timestamp"), ("_source_file", "string")]


def payments() -> Any:
    return parse_tables({"version": 1, "tables": [bronze_table("payments", PAYMENT_COLUMNS)]}).get("payments")


def frame(columns: list[tuple[str, str]], rows: list[list[Any]]) -> Frame:
    return Frame(columns=columns, nullable=[True] * len(columns), rows=rows, total=len(rows))


def times_100(rows: list[list[Any]]) -> Frame:
    """What the wrong reply returned: every amount a hundred times too big."""
    out = [[r[0], None if r[1] is None else f"{float(r[1]) * 100:.2f}", "2026-11-30T00:00:00", None] for r in rows]
    return frame(OUT, out)


def test_the_shrunk_finding_shows_a_row_a_test_can_pin() -> None:
    spec = payments()
    landed = [[None, "0.01"], [7, "12.50"]]  # both rows show the bug; the first one has a null id
    contract = probes.Planned("contract", "contract", {"raw": frame(LANDED, landed)})
    finding = probes.judge(spec, [contract], [Call(test="contract", index=0, output=times_100(landed))])[0]
    assert "bronze keeps the landed values as they came" in finding.rule

    sources = probes.inputs_of(spec, parse_tables({"version": 1, "tables": []}), ["raw"])
    tries = probes.shrink_plan(finding, [contract], sources, spec)
    calls = [Call(test=t.label, index=0, output=times_100(t.inputs["raw"].rows)) for t in tries]
    best = probes.shrunk(spec, finding, tries, calls, {})

    assert best.rows == {"raw": [[7, "12.50"]]}
    test = probes.regression_test(spec, best, ["raw"], 0)
    assert test is not None
    assert 'make_df(spark, [(7, Decimal("12.50"))]' in test
    assert "assert_landed_rows_kept(result, raw)" in test


def test_no_regression_test_pins_a_landed_null_in_a_not_null_column() -> None:
    spec = payments()
    only_null_id = probes.Finding("bronze keeps the landed values as they came", "contract", {"raw": [[None, "0.01"]]})
    only_null_id.columns = {"raw": LANDED}
    assert probes.regression_test(spec, only_null_id, ["raw"], 0) is None

    null_amount = probes.Finding("bronze keeps every landed row", "contract", {"raw": [[3, None]]}, {"raw": LANDED})
    assert probes.regression_test(spec, null_amount, ["raw"], 0) is not None  # amount may be null


def test_no_regression_test_pins_two_landed_rows_with_one_key() -> None:
    spec = payments().model_copy(update={"keys": ["id"]})
    twice = probes.Finding("bronze keeps every landed row", "contract", {"raw": [[3, "1.00"], [3, "2.00"]]})
    twice.columns = {"raw": LANDED}
    assert probes.regression_test(spec, twice, ["raw"], 0) is None
    once = probes.Finding("bronze keeps every landed row", "contract", {"raw": [[3, "1.00"], [4, "2.00"]]})
    once.columns = {"raw": LANDED}
    assert probes.regression_test(spec, once, ["raw"], 0) is not None


def test_bronze_also_gets_landed_rows_that_hold_no_fixed_edge_value() -> None:
    """A module that behaves only when the batch holds a probe's edge value ("Ünïcode ✓ 😀") or
    a test's row meets rows drawn for the round; judged like the contract call, so values it
    changes are a finding."""
    spec = payments()
    tables = parse_tables({"version": 1, "tables": [bronze_table("payments", PAYMENT_COLUMNS)]})
    _, planned = probes.plan(spec, tables, ["raw"], [], seed=20261130)
    (landed,) = [p for p in planned if p.label == "landed"]
    assert landed.kind == "contract"
    sources = probes.inputs_of(spec, tables, ["raw"])
    fixed = {repr(v) for name, kind in sources[0].columns for v in probes.edge_values(kind)}
    rows = landed.inputs["raw"].rows
    assert rows and all(v is not None and repr(v) not in fixed for row in rows for v in row), rows
    _, again = probes.plan(spec, tables, ["raw"], [], seed=20261201)
    assert next(p for p in again if p.label == "landed").inputs["raw"].rows != rows  # drawn per round
    assert [name for name, _ in sources[0].columns] == ["id", "amount"]
    kept = frame(OUT, [[*row, "2026-11-30T00:00:00", None] for row in rows])
    assert probes.judge(spec, [landed], [Call(test="landed", index=0, output=kept)]) == []
    (finding,) = probes.judge(spec, [landed], [Call(test="landed", index=0, output=times_100(rows))])
    assert "landed values" in finding.rule, finding.rule
