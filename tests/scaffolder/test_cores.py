"""Fast tests of scaffold's pure cores: text or objects in, text or objects out; no Spark, no sandbox.

Each core here also runs inside slower tests (a fill, a validation round); these pin the rules
themselves, on inputs small enough to read, so a change that breaks one fails in a second.
"""

from __future__ import annotations

import ast
import contextlib
import fcntl
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st

from lakeforge.tables import TablesFile, TableSpec, parse_tables
from scaffolder import checks, judge, mutation, safe_subset
from scaffolder.cleanup import remove_tree
from scaffolder.cli import cli_errors
from scaffolder.errors import ScaffoldError, first_line
from scaffolder.inside.protocol import Call, Frame, RunDone, TestResult, WorkerReport, dump
from scaffolder.merging import merge_tests
from scaffolder.offline import _literals
from scaffolder.sql_eval import parse as parse_condition

TABLES: TablesFile = parse_tables(
    {
        "version": 1,
        "tables": [
            {
                "name": "raw_orders",
                "layer": "bronze",
                "description": "Orders as landed.",
                "source": {"path": "orders", "format": "csv"},
                "schema": [
                    {"name": "order_id", "type": "string"},
                    {"name": "amount", "type": "double"},
                    {"name": "ordered_at", "type": "timestamp"},
                ],
            },
            {
                "name": "customers",
                "layer": "bronze",
                "description": "Customers as landed.",
                "source": {"path": "customers", "format": "csv"},
                "schema": [{"name": "customer_id", "type": "string"}],
            },
            {
                "name": "orders",
                "layer": "silver",
                "description": "One row per order.",
                "inputs": ["raw_orders"],
                "schema": [
                    {"name": "order_id", "type": "string", "nullable": False},
                    {"name": "amount", "type": "double"},
                    {"name": "ordered_at", "type": "timestamp"},
                ],
                "keys": ["order_id"],
                "not_null": ["order_id"],
                "dedupe": {"order_by": "ordered_at"},
            },
        ],
    }
)
ORDERS = TABLES.get("orders")
MODULE_PATH = "src/shop/transformations/silver/orders.py"
TEST_PATH = "tests/unit/silver/test_orders.py"


# --- errors.first_line -------------------------------------------------------------------------


class _JavaError:
    """What py4j hands over: getMessage / getCause, the innermost cause the one that says it."""

    def __init__(self, message: str | None, cause: _JavaError | None = None) -> None:
        self._message, self._cause = message, cause

    def getMessage(self) -> str | None:
        return self._message

    def getCause(self) -> _JavaError | None:
        return self._cause


def test_first_line_is_the_first_non_blank_line_else_the_type() -> None:
    assert first_line(ValueError("\n\n  the cause  \nthe traceback\n")) == "the cause"
    assert first_line(KeyError()) == "KeyError"
    assert first_line(RuntimeError("   ")) == "RuntimeError"
    long = first_line(OSError("x" * 1000))
    assert len(long) == 300 and long.endswith("...")


def test_first_line_of_a_py4j_error_is_its_innermost_java_cause() -> None:
    exc = RuntimeError("An error occurred while calling o57.load.")
    exc.java_exception = _JavaError("outer", _JavaError(None, _JavaError("file.csv is not a Parquet file\nat ...")))  # type: ignore[attr-defined]
    assert first_line(exc) == "file.csv is not a Parquet file"


# --- TableSpec: where a table's files are ------------------------------------------------------


def test_a_tables_test_files_are_named_in_one_place() -> None:
    assert ORDERS.module_path("shop") == MODULE_PATH
    assert ORDERS.test_path() == TEST_PATH
    assert ORDERS.scaffold_test_path() == "tests/unit/silver/test_orders_scaffold.py"
    assert ORDERS.more_test_path() == "tests/unit/silver/test_orders_more.py"


# --- checks / safe_subset ----------------------------------------------------------------------


def policy(source: str, is_test: bool = False) -> list[str]:
    context = safe_subset.context_for(ORDERS, TABLES, "shop", is_test)
    path = TEST_PATH if is_test else MODULE_PATH
    problems = checks.check_policy(path, ast.parse(source), context)
    assert all(p.kind.value == "policy" for p in problems)
    return [str(p) for p in problems]


def test_a_plain_transformation_is_inside_the_subset() -> None:
    source = (
        "from pyspark.sql import DataFrame\n"
        "from pyspark.sql import functions as F\n\n\n"
        "def transform(raw_orders: DataFrame) -> DataFrame:\n"
        "    return raw_orders.filter(F.col('order_id').isNotNull())\n"
    )
    assert policy(source) == []


@pytest.mark.parametrize(
    ("source", "rule", "line"),
    [
        ("import os\n", "import-not-allowed", 1),
        ("x = 1\nimport subprocess\n", "import-not-allowed", 2),
        ("x = eval('1')\n", "name-not-allowed", 1),
        ("with open('f') as f:\n    pass\n", "name-not-allowed", 1),
        ("def transform(raw_orders):\n    return raw_orders.__class__\n", "no-dunder", 2),
    ],
)
def test_each_way_out_of_the_subset_names_its_rule_and_line(source: str, rule: str, line: int) -> None:
    found = policy(source)
    assert len(found) == 1, found
    assert found[0].startswith(f"policy: {rule}: {MODULE_PATH} line {line}: ")


def test_tests_may_import_the_tables_module_but_not_the_network() -> None:
    assert policy("from shop.transformations.silver.orders import transform\n", is_test=True) == []
    assert policy("from shop.transformations.silver.orders import transform\n") != []  # a module may not
    (refused,) = policy("import socket\n", is_test=True)
    assert "import socket" in refused and "shop.transformations.silver.orders" in refused


def test_every_test_must_exist_and_assert() -> None:
    assert [str(p) for p in checks.check_tests("t.py", ast.parse("def helper():\n    pass\n"))] == [
        "tests: t.py has no test functions"
    ]
    source = (
        "import pytest\n\n"
        "def test_a():\n    x = 1\n\n"
        "def test_b():\n    with pytest.raises(ValueError):\n        int('x')\n\n"
        "class TestC:\n    def test_d(self):\n        assert 1\n"
    )
    assert [str(p) for p in checks.check_tests("t.py", ast.parse(source))] == ["tests: test_a in t.py asserts nothing"]


# --- mutation: hint mutants ---------------------------------------------------------------------

DEDUPING_MODULE = """from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F


def transform(raw_orders: DataFrame) -> DataFrame:
    latest = Window.partitionBy("order_id").orderBy(F.col("ordered_at").desc())
    kept = raw_orders.filter(F.col("order_id").isNotNull())
    return kept.withColumn("_rn", F.row_number().over(latest)).filter(F.col("_rn") == 1).drop("_rn")
"""


def spec_with(**changes: Any) -> TableSpec:
    return ORDERS.model_copy(update=changes)


def test_hint_mutants_follow_what_tables_yml_declares() -> None:
    def names(spec: TableSpec) -> list[str]:
        return [name for name, _, _ in mutation.hint_rewriters(spec)]

    assert names(ORDERS) == ["no-dedupe", "no-not-null-filter", "order-flipped"]
    assert names(spec_with(not_null=[], dedupe=None)) == ["no-dedupe"]
    assert names(spec_with(layer="gold", not_null=[], dedupe=None)) == []  # gold keys are not deduplicated
    assert "join-swapped" in names(spec_with(inputs=["raw_orders", "customers"]))


def test_each_hint_mutant_undoes_exactly_its_hint() -> None:
    found = {m.name: m for m in mutation.mutants_for(ORDERS, DEDUPING_MODULE, ["raw_orders"], salt="s1")}
    hints = {name: m.source for name, m in found.items() if m.hint}
    assert set(hints) == {"no-dedupe", "no-not-null-filter", "order-flipped"}
    assert "F.row_number().over(latest)" not in hints["no-dedupe"]
    assert "_lfs1_F.lit(1)" in hints["no-dedupe"]
    assert (
        ".isNotNull()" not in hints["no-not-null-filter"] and "filter(_lfs1_F.lit(True))" in hints["no-not-null-filter"]
    )
    assert ".desc()" not in hints["order-flipped"] and "F.col('ordered_at').asc()" in hints["order-flipped"]
    for source in hints.values():  # everything else is the module as written
        assert "def transform(raw_orders: DataFrame) -> DataFrame:" in source
        ast.parse(source)
    assert all(not m.hint for name, m in found.items() if name not in hints)


def test_a_hint_with_no_site_in_the_code_makes_no_mutant() -> None:
    plain = "from pyspark.sql import DataFrame\n\n\ndef transform(raw_orders: DataFrame) -> DataFrame:\n    return raw_orders\n"
    assert [m.name for m in mutation.mutants_for(ORDERS, plain, ["raw_orders"]) if m.hint] == []


# --- merging kept tests -------------------------------------------------------------------------

EXISTING = '''"""Tests of orders."""

from shop.transformations.silver.orders import transform


def rows(n):
    return list(range(n))


def test_mine():
    assert transform
'''

NEW = """import pytest

from shop.transformations.silver.orders import transform


def rows(n):
    return list(range(n))


def doubled(n):
    return rows(n) * 2


def test_kept():
    assert len(doubled(2)) == 4


@pytest.mark.parametrize("n", [1, 2])
def test_param(n):
    assert rows(n)


def test_dropped():
    assert False


class TestGroup:
    def test_in(self):
        assert True

    def test_out(self):
        assert False
"""


def test_kept_tests_come_with_their_helpers_and_imports_and_nothing_else() -> None:
    merge = merge_tests(EXISTING, NEW, {"test_kept"})
    assert merge.merged == ["test_kept"] and merge.conflicts == {}
    assert merge.text.startswith(
        EXISTING.rstrip("\n").replace("import transform\n", "import transform\nimport pytest\n")
    )
    added = merge.text[len(EXISTING) :]
    assert "def doubled(n):" in added and "def test_kept():" in added
    assert "def rows" not in added  # the same helper is already there
    assert "test_dropped" not in merge.text and "TestGroup" not in merge.text
    assert merge.text.count("def rows(n):") == 1
    ast.parse(merge.text)


def test_parametrized_and_class_tests_merge_by_their_pytest_names() -> None:
    merge = merge_tests(EXISTING, NEW, {"test_param[1]", "TestGroup::test_in"})
    assert sorted(merge.merged) == ["TestGroup::test_in", "test_param[1]"]
    tree = ast.parse(merge.text)
    group = next(n for n in tree.body if isinstance(n, ast.ClassDef))
    assert [f.name for f in group.body if isinstance(f, ast.FunctionDef)] == ["test_in"]
    assert "def test_param(n):" in merge.text


def test_a_helper_the_file_defines_differently_is_a_conflict_not_a_merge() -> None:
    existing = EXISTING.replace("return list(range(n))", "return [0] * n")
    merge = merge_tests(existing, NEW, {"test_kept", "test_mine_too"})
    assert merge.merged == [] and merge.text == existing
    assert merge.conflicts == {"test_kept": "it uses rows, which the existing tests define differently"}


def test_tests_merge_into_an_empty_file() -> None:
    merge = merge_tests("", NEW, {"test_kept"})
    assert merge.merged == ["test_kept"]
    assert [n.name for n in ast.parse(merge.text).body if isinstance(n, ast.FunctionDef)] == [
        "rows",
        "doubled",
        "test_kept",
    ]


# --- judge: verdicts from constructed reports ----------------------------------------------------

COLUMNS = [("order_id", "string"), ("amount", "double")]


def frame(*rows: tuple[object, ...]) -> Frame:
    return Frame(columns=COLUMNS, rows=[list(r) for r in rows], total=len(rows))


def run(name: str, tests: dict[str, str], calls: list[Call] | None = None, kind: judge.RunKind = "real") -> judge.Run:
    body = WorkerReport(
        run_id=name,
        nonce=f"n-{name}",
        imported=True,
        tests=[TestResult(test=t, file=TEST_PATH, outcome=o) for t, o in tests.items()],  # type: ignore[arg-type]
        calls=calls or [],
    )
    return judge.read_run(
        kind, name, RunDone(run_id=name, status="reported", report=dump(body).decode()), name, f"n-{name}"
    )


def test_only_tests_that_passed_every_real_run_may_kill_a_mutant() -> None:
    first = run("r1", {"test_a": "passed", "test_b": "passed", "test_c": "failed"})
    second = run("r2", {"test_a": "passed", "test_b": "failed", "test_c": "failed"})
    assert judge.outcomes_by_test([first, second]) == {
        "test_a": ["passed", "passed"],
        "test_b": ["passed", "failed"],
        "test_c": ["failed", "failed"],
    }
    assert judge.eligible([first, second]) == {"test_a"}
    broken = judge.read_run("real", "r3", RunDone(run_id="r3", status="crashed"), "r3", "n-r3")
    assert judge.eligible([first, broken]) == set()  # a run that did not end cleanly proves nothing


def test_a_mutant_first_failed_by_an_ineligible_test_is_run_again() -> None:
    output = [Call(test="test_a", index=0, output=frame(("o-1", 1.0)))]
    real = [run(f"r{n}", {"test_a": "passed", "test_b": "failed"}, output) for n in (1, 2)]
    killers = judge.eligible(real)
    by_b = run("m1", {"test_b": "failed", "test_a": "failed"}, output, kind="mutant")
    outcome, retry = judge.judge_mutant("m1", "drop a row", by_b, real, killers)
    assert (outcome.status, retry) == ("survived", True)
    by_a = run("m2", {"test_a": "failed"}, [Call(test="test_a", index=0, output=frame())], kind="mutant")
    outcome, retry = judge.judge_mutant("m2", "drop a row", by_a, real, killers)
    assert (outcome.status, outcome.killed_by, retry) == ("killed", "test_a", False)


def test_a_mutant_with_the_real_rows_is_equivalent_unless_it_undoes_a_hint() -> None:
    output = [Call(test="test_a", index=0, output=frame(("o-1", 1.0), ("o-2", None)))]
    real = [run(f"r{n}", {"test_a": "passed"}, output) for n in (1, 2)]
    same = run("m", {"test_a": "passed"}, [Call(test="test_a", index=0, output=frame(("o-2", None), ("o-1", 1.0)))])
    assert judge.judge_mutant("m", "advice", same, real, {"test_a"})[0].status == "equivalent"  # row order is free
    hint = judge.judge_mutant("m", "without the dedupe", same, real, {"test_a"}, hint=True)[0]
    assert hint.status == "survived" and hint.advice.endswith("(no test input makes a difference to it yet)")
    other = run("m", {"test_a": "passed"}, [Call(test="test_a", index=0, output=frame(("o-1", 2.0), ("o-2", None)))])
    assert judge.judge_mutant("m", "advice", other, real, {"test_a"})[0].status == "survived"


def test_a_column_the_real_code_does_not_reproduce_is_compared_by_nullness_only() -> None:
    first, second = frame(("o-1", 0.25)), frame(("o-1", 0.75))  # amount differs between the real runs
    stable = judge.stable_columns(first, second)
    assert stable == [0]
    assert judge.same_output(first, frame(("o-1", 9.0)), stable)
    assert not judge.same_output(first, frame(("o-1", None)), stable)
    assert not judge.same_output(first, frame(("o-2", 0.25)), stable)


def test_the_mutation_score_and_what_survivors_say() -> None:
    outcomes = [
        judge.MutantOutcome("a", "killed", killed_by="test_a"),
        judge.MutantOutcome("b", "survived", "when a row is dropped: assert the count"),
        judge.MutantOutcome("c", "equivalent"),
    ]
    score, problems = judge.mutation_problems(outcomes)
    assert str(score) == "1/2 mutants killed (1 equivalent on the tests' inputs)"
    assert [str(p) for p in problems] == ["mutants: your tests still pass when a row is dropped: assert the count"]
    score, problems = judge.mutation_problems([judge.MutantOutcome("c", "equivalent")])
    assert score.required == 0 and len(problems) == 1 and "no mutant could be told apart" in str(problems[0])
    assert judge.mutation_problems([]) == (judge.MutationScore(0, 0, 0), [])


def test_coverage_counts_lines_and_branches_of_the_tests_and_the_import() -> None:
    coverage = judge.Coverage(
        statements={1, 2, 3, 4},
        branches={(2, 3), (2, 4)},
        lines={"": {1}, "test_a": {2, 3, 99}, "test_b": {4}},
        arcs={"test_a": {(2, 3)}, "test_b": {(2, 4)}},
    )
    assert coverage.percent(["test_a"]) == pytest.approx(100 * 4 / 6)  # 1 (import) + 2, 3 and one arc
    assert coverage.percent(["test_a", "test_b"]) == 100.0
    assert judge.Coverage().percent([]) == 100.0  # nothing to cover


def test_tests_that_only_see_empty_outputs_prove_nothing() -> None:
    empty = [run("r1", {"test_a": "passed"}, [Call(test="test_a", index=0, output=frame())])]
    assert judge.empty_outputs(empty)
    full = [run("r1", {"test_a": "passed"}, [Call(test="test_a", index=0, output=frame(("o-1", 1.0)))])]
    assert not judge.empty_outputs(full)
    assert not judge.empty_outputs([run("r1", {"test_a": "passed"})])  # no call, no claim


# --- sql_eval: a check's tree ---------------------------------------------------------------------


def test_a_checks_columns_and_literals_come_from_one_walk_of_its_tree() -> None:
    checks_ = {
        "a": parse_condition("amount >= 0 AND status IN ('a', 'b')"),
        "b": parse_condition("x IS NOT NULL OR (y BETWEEN 1.5 AND 10 AND NOT flag = TRUE)"),
    }
    assert checks_["a"].columns() == {"amount", "status"}
    assert checks_["b"].columns() == {"x", "y", "flag"}
    assert [str(v) for v in _literals(checks_)] == ["0", "a", "b", "1.5", "10"]  # no booleans, in source order


# --- small helpers that must not fail quietly ------------------------------------------------------


def test_remove_tree_removes_read_only_folders_and_never_follows_links(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    root = tmp_path / "round"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "f").write_text("x")
    (root / "link").symlink_to(outside)
    (root / "a").chmod(0o500)
    assert remove_tree(root) == []
    assert not root.exists() and outside.read_text() == "keep"
    assert remove_tree(root) == []  # already gone: nothing to report


def test_cli_errors_turn_scaffold_errors_into_exit_2_and_keep_the_signature(capsys: pytest.CaptureFixture[str]) -> None:
    @cli_errors
    def command(name: str, count: int = 1) -> str:
        """Help text."""
        if count < 0:
            raise ScaffoldError(f"{name}: count must be >= 0")
        return name * count

    assert command("a", count=2) == "aa"
    assert command.__doc__ == "Help text." and command.__name__ == "command"
    with pytest.raises(typer.Exit) as caught:
        command("t", count=-1)
    assert caught.value.exit_code == 2
    assert "error: t: count must be >= 0" in capsys.readouterr().err


def test_the_zygote_reads_a_workers_pipes_until_they_end() -> None:
    from scaffolder.inside import zygote

    def pipe() -> tuple[int, int]:
        read, write = os.pipe()
        fcntl.fcntl(read, fcntl.F_SETFL, fcntl.fcntl(read, fcntl.F_GETFL) | os.O_NONBLOCK)
        return read, write

    (result, result_w), (errors, errors_w), (progress, progress_w) = pipe(), pipe(), pipe()
    request = zygote.RunRequest.model_construct(run_id="r1")
    run = zygote.Running(request, -1, result, errors, progress, 0.0)
    server = zygote.Zygote(-1, -1)
    killed: list[str] = []
    server._kill = lambda r: killed.append(r.request.run_id)  # type: ignore[method-assign]
    server._read_errors(run)  # nothing written yet: nothing read, nothing closed
    assert run.errors_open and run.open_pipes() == [result, errors, progress]
    os.write(errors_w, b"e" * 5000)
    server._read_errors(run)
    assert len(run.stderr) == 4096  # only the tail is kept
    os.write(progress_w, b"test_a\ntest_b\n")
    server._read_progress(run)
    assert run.test == "test_b"
    os.write(result_w, b"abc")
    server._read_result(run)
    assert bytes(run.buffer) == b"abc" and not run.oversize
    os.close(errors_w)
    server._read_errors(run)
    assert not run.errors_open and run.open_pipes() == [result, progress]
    fcntl.fcntl(result_w, fcntl.F_SETFL, fcntl.fcntl(result_w, fcntl.F_GETFL) | os.O_NONBLOCK)
    chunk = b"x" * 65536
    while run.result_open:  # a report over the limit: the run is stopped and its pipe closed
        with contextlib.suppress(BlockingIOError):
            os.write(result_w, chunk)
        server._read_result(run)
    assert run.oversize and killed == ["r1"] and len(run.buffer) == zygote.MAX_REPORT + 4
    for fd in (result_w, progress_w, progress):
        os.close(fd)


# --- properties ----------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(message=st.text(max_size=400))
def test_first_line_is_always_one_short_line(message: str) -> None:
    line = first_line(RuntimeError(message))
    assert line and "\n" not in line and "\r" not in line and len(line) <= 300


# --- what the MCP tools hand back ------------------------------------------------------------------


def test_a_progress_event_at_a_safe_point_stops_a_cancelled_request_before_it_is_sent() -> None:
    from scaffolder.mcp_server import Reporter, ToolCancelled

    sent: list[str] = []
    reporter = Reporter(sent.append)
    reporter.step("asking offline (attempt 1)", ("asking ",), "orders: asking offline (attempt 1)")
    reporter.step("parsing the reply", ("asking ",))
    reporter.cancel()
    reporter.step("parsing the reply again", ("asking ",))  # not a safe point: the engine goes on
    with pytest.raises(ToolCancelled):
        reporter.step("asking offline (attempt 2)", ("asking ",))
    assert sent == ["orders: asking offline (attempt 1)", "parsing the reply", "parsing the reply again"]


def test_a_tool_result_reads_the_fields_it_shares_with_the_engines_report() -> None:
    from scaffolder.judge import MutationScore
    from scaffolder.mcp_results import filled_table

    # fill's TableOutcome, duck-typed (importing fill would import every provider's client)
    outcome = SimpleNamespace(
        name="orders",
        layer="silver",
        status=SimpleNamespace(value="failed"),
        attempts=2,
        kept_at=None,
        prompt_tokens=10,
        completion_tokens=0,
        seconds=0.0,
        errors=["tests: test_a failed"],
        problems=["not read: the result's problems are the outcome's errors"],
        note="n",
        diff="",
        mutation=MutationScore(killed=7, required=9, equivalent=1),
    )
    result = filled_table(outcome)  # type: ignore[arg-type]
    assert result.model_dump() == {
        "name": "orders",
        "layer": "silver",
        "status": "failed",
        "attempts": 2,
        "kept_at": None,
        "prompt_tokens": 10,
        "completion_tokens": 0,
        "seconds": 0.0,
        "problems": ["tests: test_a failed"],
        "note": "n",
        "diff": "",
        "mutation": "7/9 mutants killed (1 equivalent on the tests' inputs)",
        "mutation_score": {"killed": 7, "required": 9, "equivalent": 1},
    }


def test_the_cost_line_says_whose_prices_and_a_repos_own_price_wins() -> None:
    from decimal import Decimal

    from scaffolder.cli import _cost_line
    from scaffolder.fill import FillReport, TableOutcome
    from scaffolder.project import ScaffoldSettings

    settings = ScaffoldSettings.model_validate({"prices": {"My-Endpoint": {"input": 1, "output": 2}}})
    assert settings.price_table().cost("my-endpoint", 1_000_000, 500_000) == Decimal(2)
    assert settings.price_table().cost("gpt-4.1-mini", 1_000_000, 0) == Decimal("0.40")  # the list stays
    outcome = TableOutcome("orders", "silver", prompt_tokens=1200, completion_tokens=300)
    report = FillReport("openai", "my-endpoint", "", [outcome], cost_usd=Decimal("0.0018"), priced_by="your prices")
    assert _cost_line(report) == "tokens 1200 in / 300 out; estimated cost $0.0018 (your prices)"
    report.cost_usd = None
    assert "cost unknown: no price for my-endpoint" in (_cost_line(report) or "")
