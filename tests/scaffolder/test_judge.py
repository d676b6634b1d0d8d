"""The judge and the mutants as pure functions: reports and sources in, verdicts and sources out.

No Spark, no sandbox: these run in milliseconds and pin down the rules a table is kept by — a
report for another run is not believed, a mutant that cannot run survives, a test that failed
the real runs kills nothing, zero mutants to kill proves nothing, the contract is read from the
rows themselves.
"""

from __future__ import annotations

import ast

import pytest

from lakeforge.tables import TableSpec
from scaffolder import judge
from scaffolder.inside.protocol import Call, Frame, RunDone, TestResult, WorkerReport, dump
from scaffolder.mutation import mutants_for
from scaffolder.problems import ProblemKind

SPEC = TableSpec.model_validate(
    {
        "name": "orders",
        "layer": "silver",
        "description": "Orders.",
        "inputs": ["raw_orders", "customers"],
        "schema": [
            {"name": "order_id", "type": "string", "nullable": False},
            {"name": "amount", "type": "decimal(10,2)"},
        ],
        "keys": ["order_id"],
        "not_null": ["order_id"],
        "dedupe": {"order_by": "ordered_at"},
    }
)
COLUMNS = [("order_id", "string"), ("amount", "decimal(10,2)")]


def frame(*rows: tuple[object, ...], columns: list[tuple[str, str]] = COLUMNS) -> Frame:
    return Frame(columns=columns, rows=[list(r) for r in rows], total=len(rows))


def report(run_id: str, tests: dict[str, str], calls: list[Call] | None = None, **extra: object) -> WorkerReport:
    return WorkerReport(
        run_id=run_id,
        nonce=f"n-{run_id}",
        imported=True,
        tests=[TestResult(test=t, file="tests/unit/silver/test_orders.py", outcome=o) for t, o in tests.items()],  # type: ignore[arg-type]
        calls=calls or [],
        **extra,  # type: ignore[arg-type]
    )


def run(
    kind: judge.RunKind, name: str, body: WorkerReport | None, status: str = "reported", run_id: str = ""
) -> judge.Run:
    run_id = run_id or (body.run_id if body else name)
    done = RunDone(run_id=run_id, status=status, report=dump(body).decode() if body else None)  # type: ignore[arg-type]
    return judge.read_run(kind, name, done, run_id, f"n-{run_id}")


GOOD = [("o-1", "10.00"), ("o-2", "5.50")]


def real_runs(output: Frame | None = None) -> list[judge.Run]:
    output = output or frame(*GOOD)
    calls = [Call(test="test_a", index=0, output=output)]
    return [run("real", f"real-{n}", report(f"r{n}", {"test_a": "passed", "test_b": "passed"}, calls)) for n in (1, 2)]


def test_a_report_for_another_run_is_not_believed() -> None:
    body = report("someone-else", {"test_a": "passed"})
    forged = judge.read_run(
        "real", "real-1", RunDone(run_id="r1", status="reported", report=dump(body).decode()), "r1", "n-r1"
    )
    assert forged.report is None and forged.invalid == "its report speaks for another run"
    wrong_nonce = report("r1", {"test_a": "passed"})
    wrong_nonce.nonce = "guessed"
    guessed = judge.read_run(
        "real", "real-1", RunDone(run_id="r1", status="reported", report=dump(wrong_nonce).decode()), "r1", "n-r1"
    )
    assert guessed.invalid == "its report speaks for another run"
    problems = judge.real_problems(SPEC, [forged, guessed], set(), set())
    assert problems and all(p.kind is ProblemKind.POLICY for p in problems)


@pytest.mark.parametrize(
    ("status", "why"),
    [
        ("extra", "sent more than one report"),
        ("no-report", "ended without a report"),
        ("crashed", "crashed"),
        ("timeout", "did not finish in time"),
        ("oversize", "sent a report over the size limit"),
        ("limit", "hit a resource limit"),
    ],
)
def test_a_run_that_did_not_end_cleanly_fails_the_table(status: str, why: str) -> None:
    broken = run("real", "real-1", None, status=status, run_id="r1")
    problems = [str(p) for p in judge.real_problems(SPEC, [broken, *real_runs()[1:]], set(), set())]
    assert any(why in p for p in problems), problems


def test_a_report_that_is_not_the_schema_is_not_believed() -> None:
    done = RunDone(
        run_id="r1", status="reported", report='{"run_id": "r1", "nonce": "n-r1", "imported": true, "done": 1}'
    )
    assert judge.read_run("real", "real-1", done, "r1", "n-r1").invalid.startswith("its report is not valid")


def test_failures_flaky_and_skipped_tests_are_named() -> None:
    first = run("real", "real-1", report("r1", {"test_a": "passed", "test_b": "failed", "test_c": "skipped"}))
    second = run("real", "real-2", report("r2", {"test_a": "failed", "test_b": "failed", "test_c": "skipped"}))
    problems = [str(p) for p in judge.real_problems(SPEC, [first, second], {"tests/unit/silver/test_orders.py"}, set())]
    assert "tests: test_a is flaky: passed 1 of 2 runs" in problems
    assert "tests: test_b failed: " in problems
    assert "tests: test_c is skipped: generated tests must run and pass, not skip" in problems


def test_the_contract_is_read_from_the_rows() -> None:
    wrong_type = frame(("o-1", "10.0"), columns=[("order_id", "string"), ("amount", "double")])
    nulls_and_twins = frame(("o-1", "1.00"), ("o-1", "2.00"), (None, "3.00"))
    calls = [Call(test="t", index=0, output=wrong_type), Call(test="t", index=1, output=nulls_and_twins)]
    found = judge.contract_problems(SPEC, calls)
    assert "transform returns amount as double; SCHEMA and tables.yml say decimal(10,2)" in found
    assert any("null(s) in order_id" in p for p in found)
    assert any("2 rows for the key order_id='o-1'" in p for p in found)
    said = judge.contract_problems(
        SPEC,
        calls,
        failures=["AssertionError: transform returns amount as double; SCHEMA and tables.yml say decimal(10,2)"],
    )
    assert not any("as double" in p for p in said), "what a failing test already said is not said twice"


def test_a_mutant_is_killed_only_by_a_test_that_passed_the_real_runs_and_called_transform() -> None:
    real = real_runs()
    killers = judge.eligible(real)
    assert killers == {"test_a", "test_b"}
    called = [Call(test="test_a", index=0)]
    killed = run("mutant", "row-missing", report("m1", {"test_a": "failed"}, called))
    outcome, retry = judge.judge_mutant("row-missing", "advice", killed, real, killers)
    assert (outcome.status, outcome.killed_by, retry) == ("killed", "test_a", False)
    no_call = run("mutant", "row-missing", report("m2", {"test_b": "failed"}))
    assert judge.judge_mutant("row-missing", "advice", no_call, real, killers)[0].status == "survived"
    stranger = run("mutant", "row-missing", report("m3", {"test_new": "failed"}, [Call(test="test_new", index=0)]))
    outcome, retry = judge.judge_mutant("row-missing", "advice", stranger, real, killers)
    assert (outcome.status, retry) == ("survived", True), (
        "a test that did not pass the real runs kills nothing: run again"
    )


def test_a_mutant_that_cannot_run_survives() -> None:
    real = real_runs()
    for broken in (
        run("mutant", "no-rows", None, status="crashed", run_id="m1"),
        run("mutant", "no-rows", None, status="timeout", run_id="m2"),
        run("mutant", "no-rows", report("m3", {}, import_error="ImportError: boom")),
    ):
        outcome, _ = judge.judge_mutant("no-rows", "when transform returns no rows", broken, real, judge.eligible(real))
        assert outcome.status == "survived", broken


def test_equivalence_is_decided_on_the_rows_the_real_code_reproduced() -> None:
    stamped = [("order_id", "string"), ("loaded_at", "timestamp")]
    real = [
        run(
            "real",
            "real-1",
            report(
                "r1",
                {"t": "passed"},
                [Call(test="t", index=0, output=frame(("o-1", "2026-01-01T00:00:01"), columns=stamped))],
            ),
        ),
        run(
            "real",
            "real-2",
            report(
                "r2",
                {"t": "passed"},
                [Call(test="t", index=0, output=frame(("o-1", "2026-01-01T00:00:02"), columns=stamped))],
            ),
        ),
    ]
    same_but_later = run(
        "mutant",
        "null-x",
        report(
            "m1",
            {"t": "passed"},
            [Call(test="t", index=0, output=frame(("o-1", "2026-01-01T00:00:09"), columns=stamped))],
        ),
    )
    assert judge.judge_mutant("null-x", "a", same_but_later, real, {"t"})[0].status == "equivalent"
    other_rows = run(
        "mutant",
        "null-x",
        report(
            "m2",
            {"t": "passed"},
            [Call(test="t", index=0, output=frame(("o-9", "2026-01-01T00:00:09"), columns=stamped))],
        ),
    )
    assert judge.judge_mutant("null-x", "a", other_rows, real, {"t"})[0].status == "survived"


def test_zero_mutants_to_kill_proves_nothing() -> None:
    score, problems = judge.mutation_problems([judge.MutantOutcome("no-rows", "equivalent")])
    assert (score.killed, score.required) == (0, 0)
    assert problems and "no mutant could be told apart" in str(problems[0])


MODULE = '''"""orders."""
from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.functions import row_number

SCHEMA = None


def transform(raw_orders: DataFrame, customers: DataFrame) -> DataFrame:
    w = Window.partitionBy("order_id").orderBy(F.desc("ordered_at"))
    valid = raw_orders.where(F.col("order_id").isNotNull()).dropna(subset=["amount"])
    joined = valid.join(customers, "customer_id", "left")
    return joined.select("*", row_number().over(w).alias("r")).where("r = 1").dropDuplicates(["order_id"])
'''


def test_mutants_are_the_module_source_changed_at_each_site() -> None:
    mutants = {m.name: m.source for m in mutants_for(SPEC, MODULE, ["raw_orders", "customers"], salt="x7")}
    assert set(mutants) >= {
        "input-unchanged",
        "no-rows",
        "row-missing",
        "row-duplicated",
        "null-order_id",
        "null-amount",
    }
    for name, source in mutants.items():
        ast.parse(source)  # every mutant is valid Python
        assert "_lfx7_" in source or name == "input-unchanged", name
    no_dedupe = mutants["no-dedupe"]
    assert "row_number()" not in no_dedupe and "dropDuplicates" not in no_dedupe and "_lfx7_F.lit(1)" in no_dedupe
    assert ".isNotNull()" not in mutants["no-not-null-filter"] and "dropna" not in mutants["no-not-null-filter"]
    assert "_lfx7_F.asc('ordered_at')" in mutants["order-flipped"]
    assert "'inner'" in mutants["join-swapped"]
    assert mutants["input-unchanged"].rstrip().endswith("return raw_orders")
    assert "_lfx7_mutate(_lfx7_original(raw_orders, customers), 'amount', 'decimal(10,2)')" in mutants["null-amount"]
    assert "import null_column as _lfx7_mutate" in mutants["null-amount"]
    assert "import value_changed as _lfx7_mutate" in mutants["value-amount"]


def test_a_hint_mutant_with_nothing_to_rewrite_does_not_exist() -> None:
    plain = "from pyspark.sql import DataFrame\n\n\ndef transform(raw_orders: DataFrame, customers: DataFrame) -> DataFrame:\n    return raw_orders\n"
    names = {m.name for m in mutants_for(SPEC, plain, ["raw_orders", "customers"])}
    assert "no-dedupe" not in names and "order-flipped" not in names
    assert "join-swapped" not in names
    assert {"input-unchanged", "no-rows", "row-missing", "row-duplicated"} <= names, "output mutants always exist"


def test_nulling_a_column_the_real_code_does_not_reproduce_is_still_noticed() -> None:
    stamped = [("order_id", "string"), ("loaded_at", "timestamp")]
    real = [
        run(
            "real",
            f"real-{n}",
            report(
                f"r{n}",
                {"t": "passed"},
                [Call(test="t", index=0, output=frame(("o-1", f"2026-01-01T00:00:0{n}"), columns=stamped))],
            ),
        )
        for n in (1, 2)
    ]
    nulled = run(
        "mutant",
        "null-loaded_at",
        report("m1", {"t": "passed"}, [Call(test="t", index=0, output=frame(("o-1", None), columns=stamped))]),
    )
    assert judge.judge_mutant("null-loaded_at", "a", nulled, real, {"t"})[0].status == "survived"


def test_a_hint_mutant_the_tests_never_exercise_survives() -> None:
    real = real_runs()
    same = run(
        "mutant",
        "no-dedupe",
        report("m1", {"test_a": "passed", "test_b": "passed"}, [Call(test="test_a", index=0, output=frame(*GOOD))]),
    )
    assert judge.judge_mutant("no-dedupe", "advice", same, real, judge.eligible(real))[0].status == "equivalent"
    outcome, _ = judge.judge_mutant("no-dedupe", "advice", same, real, judge.eligible(real), hint=True)
    assert outcome.status == "survived" and "no test input makes a difference" in outcome.advice


def test_a_mutant_whose_transform_raises_is_not_killed() -> None:
    real = real_runs()
    raised = run(
        "mutant",
        "no-rows",
        report(
            "m1", {"test_a": "failed"}, [Call(test="test_a", index=0, error="transform raised ValueError: not today")]
        ),
    )
    outcome, _ = judge.judge_mutant("no-rows", "advice", raised, real, judge.eligible(real))
    assert outcome.status == "survived" and "raised" in outcome.advice


def test_tests_that_only_ever_get_no_rows_back_prove_nothing() -> None:
    assert judge.empty_outputs(real_runs(frame()))
    assert not judge.empty_outputs(real_runs())
