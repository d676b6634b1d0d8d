"""The validation round's pytest plugin: one process, one JVM, every table judged in it.

Loaded first (`-p scaffolder.inside.plugin`), before any model-written code is imported, it:

1. installs the detector (an audit hook) for the candidates' own files;
2. imports each table's module and wraps its `transform` with the output-contract check
   (`lakeforge.testing.TransformGuard`), recording every call;
3. runs each table's tests, table after table, every test `repeat` times under its own time
   limit (its own loop: no marker in a generated test can switch the repeat or the limit off),
   restoring the shared helpers before each test, so one table's tests cannot monkeypatch
   `lakeforge.testing` or another table's `transform` for the rest of the round;
4. when a table's tests all passed, runs its mutants, each until the first test that kills it;
5. reports everything as events on the channel the parent reads while the round runs.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import signal
import sys
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from _pytest.runner import runtestprotocol

from lakeforge.contract import row_problems
from lakeforge.tables import TablesFile, load_tables
from lakeforge.testing import Call, TransformGuard
from scaffolder.inside.guard import Detector
from scaffolder.inside.mutants import Mutant, MutantMachineryError, Recorded, equivalent, mutants_for
from scaffolder.inside.plan import (
    MAX_MESSAGE,
    PLAN_VAR,
    CollectError,
    Contract,
    Covered,
    Done,
    Imported,
    Measurable,
    MutantOutcome,
    Mutants,
    Policy,
    Result,
    RoundPlan,
    Started,
    TablePlan,
)

PROTECTED_MODULES = ("lakeforge", "chispa", "pyspark.sql.functions", "pyspark.testing")


class TestTimedOut(BaseException):
    """The time limit of one test: a BaseException, so `except Exception` in a test cannot swallow it."""


class Channel:
    """JSON lines to the parent; each line one `write` (short messages stay atomic on a pipe)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.broken = False

    def send(self, event: Any) -> None:
        data = (event.model_dump_json() + "\n").encode()
        try:
            os.write(self.fd, data)
        except OSError:
            self.broken = True


def _short(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


class Isolation:
    """A snapshot of the shared helpers (lakeforge, chispa, pyspark functions, the pipeline package).

    Only functions, classes and modules are tracked (state like a started session may change).
    Checked after every test module is imported and after every test: whatever a table's tests
    replaced is put back, and named, because a kept test that patches `lakeforge.testing` would
    break the repo's own suite later.
    """

    def __init__(self, package: str) -> None:
        prefixes = (*PROTECTED_MODULES, package)
        self.owners: list[tuple[str, Any, dict[str, Any]]] = [
            (name, module, _callables(vars(module)))
            for name, module in list(sys.modules.items())
            if module is not None and name.startswith(prefixes)
        ]
        self.owners += [(f"{c.__module__}.{c.__qualname__}", c, _callables(vars(c))) for c in _protected_classes()]
        self.modules = {name: module for name, module, _ in self.owners if isinstance(module, ModuleType)}

    def restore(self) -> list[str]:
        """Put back what changed; returns the names that had changed."""
        changed = []
        for name, module in self.modules.items():
            if sys.modules.get(name) is not module:
                sys.modules[name] = module
                changed.append(f"sys.modules[{name!r}]")
        for name, owner, saved in self.owners:
            current = vars(owner)
            for key, value in saved.items():
                if current.get(key, _MISSING) is not value:
                    with contextlib.suppress(AttributeError, TypeError):
                        setattr(owner, key, value)
                    changed.append(f"{name}.{key}")
        return changed


def _callables(namespace: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in namespace.items() if callable(v) or isinstance(v, ModuleType)}


_MISSING = object()


def _protected_classes() -> list[type]:
    from pyspark.sql import Column, DataFrame, GroupedData, Row, SparkSession, Window
    from pyspark.sql.classic.column import Column as ClassicColumn
    from pyspark.sql.classic.dataframe import DataFrame as ClassicDataFrame
    from pyspark.sql.window import WindowSpec

    return [DataFrame, ClassicDataFrame, Column, ClassicColumn, GroupedData, Row, SparkSession, Window, WindowSpec]


class _Parents:
    """Stands in for "the next item" so pytest tears down this item only and keeps its parents.

    The round decides what runs next as it goes (a mutant stops at its first kill), so each run
    ends by tearing down just the item; the session's Spark fixture lives on for the next one.
    """

    def __init__(self, item: pytest.Item) -> None:
        self._chain = item.listchain()[:-1]

    def listchain(self) -> list[pytest.Node]:
        return self._chain


@dataclass
class Outcome:
    outcome: str  # passed | failed | skipped | xfailed | timeout
    message: str = ""


@dataclass
class Round:
    plan: RoundPlan
    channel: Channel
    detector: Detector
    tables: TablesFile | None = None
    guard: TransformGuard | None = None
    isolation: Isolation | None = None
    table_of_file: dict[str, str] = field(default_factory=dict)
    current_table: str = ""
    phase: str = "normal"  # normal | mutant
    run_number: int = 1
    recorded: dict[str, list[Recorded]] = field(default_factory=dict)  # per table, first runs
    by_test: dict[tuple[str, str], list[Recorded]] = field(default_factory=dict)  # per (table, test), in call order
    pending: list[Call] = field(default_factory=list)  # this run's calls, rows still to check
    watched: dict[int, Call] = field(default_factory=dict)  # id(returned DataFrame) -> its call
    call_index: int = 0
    current_test: str = ""
    timed_out: bool = False
    test_seconds: float = 0.0
    mutant_seconds: float = 0.0
    tmp_entries: set[str] = field(default_factory=set)
    own_collect: Any = None  # DataFrame.collect as it was before the round wrapped it
    coverage: Any = None  # a coverage.Coverage measuring the modules of tables that asked for it

    # --- set-up, before any test module is collected ------------------------------------------

    def import_tables(self) -> None:
        """Import each table's module under the detector, one `import` event each (a hang names it)."""
        self.start_coverage()
        for table in self.plan.tables:
            self.channel.send(Imported(table=table.name, file=table.files[0]))
            try:
                importlib.import_module(table.module)
            except BaseException as exc:
                if isinstance(exc, KeyboardInterrupt):
                    raise
                self.channel.send(CollectError(table=table.name, file=table.files[0], message=_exception_line(exc)))

    def install_guard(self) -> None:
        if self.plan.private_tmp:
            self.tmp_entries = set(os.listdir("/tmp"))
        self.tables = load_tables(Path(self.plan.root) / "tables.yml")
        # Rows are checked after each test, from the test's own collect() when it made one: one
        # Spark job fewer per call than collecting them again inside transform.
        self.guard = TransformGuard(self.tables, self.plan.package, check_rows=False)
        self.guard.install()
        self.guard.listeners.append(self.on_call)
        self._capture_collects()
        self.isolation = Isolation(self.plan.package)

    def _capture_collects(self) -> None:
        from pyspark.sql.classic.dataframe import DataFrame

        collect = DataFrame.collect
        watched = self.watched

        def collect_and_keep(df: Any) -> list[Any]:
            rows = collect(df)
            call = watched.get(id(df))
            if call is not None and call.rows is None:
                call.rows = rows
            return rows

        DataFrame.collect = collect_and_keep  # type: ignore[method-assign]
        self.own_collect = collect

    def on_call(self, call: Call) -> None:
        if self.phase != "normal":
            return
        for problem in call.problems:
            self.channel.send(Contract(table=call.spec.name, message=_short(problem)))
        if not call.problems:
            self.pending.append(call)
            self.watched[id(call.result)] = call

    def settle_calls(self, table: str) -> None:
        """Check the rows of this run's calls, and record the first run's for the mutants."""
        for call in self.pending:
            try:
                rows = call.rows if call.rows is not None else self.own_collect(call.result)
            except Exception as exc:  # the plan fails when it runs: the test never looked
                self.channel.send(
                    Contract(
                        table=call.spec.name,
                        message=_short(f"transform's output fails when collected: {_exception_line(exc)}"),
                    )
                )
                continue
            for problem in row_problems(rows, call.spec):
                self.channel.send(Contract(table=call.spec.name, message=_short(problem)))
            if self.run_number == 1 and call.spec.name == table:
                schema = call.result.schema
                columns = [(f.name, f.dataType.simpleString()) for f in schema.fields]
                record = Recorded(call.args, call.kwargs, columns, [tuple(r) for r in rows], schema)
                self.recorded.setdefault(table, []).append(record)
                self.by_test.setdefault((table, self.current_test), []).append(record)
        self.pending.clear()
        self.watched.clear()

    # --- running ------------------------------------------------------------------------------

    def restore(self, table: str, where: str) -> None:
        """Undo what the code under test replaced in shared helpers, and reject it by name."""
        assert self.isolation is not None
        for name in self.isolation.restore():
            self.channel.send(
                Policy(
                    table=table,
                    message=f"{where} replaced {name} for every later test (patch in a test with the "
                    "monkeypatch fixture, which undoes it)",
                )
            )

    def run(self, item: pytest.Item, table: str, mutant: str = "") -> Outcome:
        assert self.isolation is not None
        self.isolation.restore()
        self.current_table = table
        self.timed_out = False
        test = _test_name(item)
        self.current_test, self.call_index = test, 0
        self.channel.send(Started(table=table, test=test, phase="setup", mutant=mutant))
        with contextlib.suppress(Exception):
            item.session._setupstate.teardown_exact(item)  # leave the previous test's module/class
        if self.coverage is not None:  # what each test executes, from its first real run only
            measured = not mutant and self.run_number == 1
            self.coverage.switch_context(f"{table}::{test}" if measured else "-")
        reports = runtestprotocol(item, log=False, nextitem=_Parents(item))  # type: ignore[arg-type]
        self.scan_private_tmp(table, test)
        if not mutant:
            self.settle_calls(table)
            self.restore(table, test)
        failed = [r for r in reports if r.failed]
        if self.timed_out:
            return Outcome("timeout", f"took longer than {self.plan.test_timeout:g}s (endless loop?)")
        if failed:
            return Outcome("failed", _report_message(failed[0]))
        if any(getattr(r, "wasxfail", None) is not None for r in reports):
            return Outcome("xfailed", "marked xfail")
        if any(r.skipped for r in reports):
            skipped = next(r for r in reports if r.skipped)
            return Outcome("skipped", _report_message(skipped))
        return Outcome("passed")

    def start_coverage(self) -> None:
        """Measure the modules of the tables that asked, from before they are imported."""
        files = [t.files[0] for t in self.plan.tables if t.coverage]
        if not files:
            return
        import coverage

        self.coverage = coverage.Coverage(data_file=None, branch=True, include=files)
        self.coverage.start()

    def report_coverage(self) -> None:
        if self.coverage is None:
            return
        self.coverage.stop()
        data = self.coverage.get_data()
        contexts = data.measured_contexts()
        for table in (t for t in self.plan.tables if t.coverage):
            module = table.files[0]
            with contextlib.suppress(Exception):  # a module that never imported has nothing to report
                analysis = self.coverage._analyze(module)
                exits = analysis.exit_counts
                branches = [arc for arc in analysis.arc_possibilities if exits.get(arc[0], 0) > 1]
                self.channel.send(
                    Measurable(table=table.name, statements=sorted(analysis.statements), branches=sorted(branches))
                )
                for context in sorted(contexts):
                    if context == "-" or (context and not context.startswith(f"{table.name}::")):
                        continue
                    data.set_query_contexts([f"^{re.escape(context)}$"])  # patterns: exactly this one
                    self.channel.send(
                        Covered(
                            table=table.name,
                            test=context.split("::", 1)[1] if context else "",
                            lines=sorted(data.lines(module) or []),
                            arcs=sorted(data.arcs(module) or []),
                        )
                    )
                data.set_query_contexts(None)

    def scan_private_tmp(self, table: str, test: str) -> None:
        """Writes no audit hook sees (Spark's JVM, a child process) still leave files in /tmp.

        Inside the sandbox /tmp is private and the round's own temp folders (Python's, the JVM's,
        Spark's) live elsewhere, so a new entry there was written by the code under test.
        """
        if not self.plan.private_tmp:
            return
        entries = set(os.listdir("/tmp"))
        for name in sorted(entries - self.tmp_entries):
            self.channel.send(Policy(table=table, message=f"{test} wrote outside the round: /tmp/{name}"))
        self.tmp_entries = entries

    def run_table(self, table: TablePlan, items: list[pytest.Item]) -> None:
        self.phase = "normal"
        passing: list[pytest.Item] = []
        started = time.perf_counter()
        for item in items:
            outcomes = []
            for run in range(1, self.plan.repeat + 1):
                self.run_number = run
                outcome = self.run(item, table.name)
                outcomes.append(outcome.outcome)
                self.channel.send(
                    Result(
                        table=table.name,
                        file=str(item.path),
                        test=_test_name(item),
                        run=run,
                        outcome=outcome.outcome,  # type: ignore[arg-type]
                        message=_short(outcome.message),
                    )
                )
            if all(o == "passed" for o in outcomes):
                passing.append(item)
        self.test_seconds += time.perf_counter() - started
        # A table with a failing test has failed: its mutants would tell nothing more. The
        # testing agent asks anyway, of the tests that passed (`mutate_passing`).
        if table.mutants and passing and (len(passing) == len(items) or table.mutate_passing):
            started = time.perf_counter()
            self.run_mutants(table, passing)
            self.mutant_seconds += time.perf_counter() - started

    def _serving(self, table: str, mutant: Mutant) -> Any:
        """The override for a mutant run: the k-th call of a test gets the k-th call it recorded."""

        def override(original: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            calls = self.by_test.get((table, self.current_test), [])
            index, self.call_index = self.call_index, self.call_index + 1
            return mutant.override(original, args, kwargs, calls[index] if index < len(calls) else None)

        return override

    def run_mutants(self, table: TablePlan, items: list[pytest.Item]) -> None:
        assert self.guard is not None and self.tables is not None
        spec = self.tables.get(table.name)
        original = self.guard.originals.get(table.name)
        calls = self.recorded.get(table.name, [])
        outcomes: list[MutantOutcome] = []
        if original is None or not calls:
            outcomes.append(
                MutantOutcome(
                    name="never-called",
                    status="survived",
                    advice="while never calling transform: each test must call transform and assert its rows",
                )
            )
            self.channel.send(Mutants(table=table.name, outcomes=outcomes))
            return
        self.phase = "mutant"
        self.guard.checks = False
        kills: dict[str, int] = {}
        try:
            for mutant in mutants_for(spec, table.module):
                try:
                    same = equivalent(mutant, calls, original)
                except MutantMachineryError:
                    outcomes.append(MutantOutcome(name=mutant.name, status="not-applicable", advice=mutant.broke))
                    continue
                if same:
                    outcomes.append(MutantOutcome(name=mutant.name, status="equivalent"))
                    continue
                self.guard.overrides[table.name] = self._serving(table.name, mutant)
                status, killer = "survived", ""
                # The test that killed the most mutants so far goes first: it likely kills this one too.
                for item in sorted(items, key=lambda i: -kills.get(i.nodeid, 0)):
                    before, mutant.broke = mutant.invocations, ""
                    outcome = self.run(item, table.name, mutant=mutant.name)
                    if mutant.broke:
                        status = "not-applicable"
                        break
                    if outcome.outcome in ("failed", "timeout") and mutant.invocations > before:
                        status, killer = "killed", _test_name(item)
                        kills[item.nodeid] = kills.get(item.nodeid, 0) + 1
                        break
                self.guard.overrides.pop(table.name, None)
                outcomes.append(
                    MutantOutcome(name=mutant.name, status=status, advice=mutant.advice, killed_by=killer)  # type: ignore[arg-type]
                )
        finally:
            self.guard.overrides.pop(table.name, None)
            self.guard.checks = True
            self.phase = "normal"
        self.channel.send(Mutants(table=table.name, outcomes=outcomes))


def _test_name(item: pytest.Item) -> str:
    """The test's id without its file: `test_x`, `TestOrders::test_x`, `test_y[case-1]`."""
    return item.nodeid.split("::", 1)[1] if "::" in item.nodeid else item.name


def _exception_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return _short(f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": "))


def _report_message(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple):  # a skip: (path, line, reason)
        return str(longrepr[2])
    crash = getattr(longrepr, "reprcrash", None)
    message = crash.message if crash is not None else str(longrepr)
    prefix = "" if report.when == "call" else f"in {report.when}: "
    return prefix + message.strip().splitlines()[0] if message.strip() else prefix + "no message"


# --- the plugin hooks -------------------------------------------------------------------------


def _load() -> Round:
    plan = RoundPlan.model_validate_json(Path(os.environ[PLAN_VAR]).read_text(encoding="utf-8"))
    channel = Channel(plan.channel_fd)
    files = {path: table.name for table in plan.tables for path in table.files}

    def report(table: str, message: str) -> None:
        channel.send(Policy(table=table, message=_short(message)))

    detector = Detector(files, plan.writable, plan.credentials, report, plan.root)
    detector.install()
    return Round(plan, channel, detector, table_of_file={p: t.name for t in plan.tables for p in t.tests})


ROUND = _load()  # at import: the detector is on before any candidate file is imported


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    ROUND.import_tables()
    ROUND.install_guard()


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, Any]:
    table = ROUND.table_of_file.get(str(getattr(collector, "path", "")))
    if isinstance(collector, pytest.Module) and table:
        ROUND.channel.send(Imported(table=table, file=str(collector.path)))
    report = yield
    if isinstance(collector, pytest.Module) and ROUND.isolation is not None:
        where = str(collector.path).removeprefix(ROUND.plan.root + os.sep)
        ROUND.restore(table or "", f"{where} (at import)")  # undone before the next module imports
    if table and report.failed:
        message = _collection_message(report)
        ROUND.channel.send(CollectError(table=table, file=str(collector.path), message=_short(message)))
    return report


def _collection_message(report: pytest.CollectReport) -> str:
    text = str(report.longrepr)
    errors = [line[1:].strip() for line in text.splitlines() if line.startswith("E ")]
    return errors[-1] if errors else (text.strip().splitlines() or ["collection failed"])[-1]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    limit = ROUND.plan.test_timeout
    ROUND.channel.send(Started(table=ROUND.current_table, test=_test_name(item), phase="call"))

    def expire(signum: int, frame: Any) -> None:
        ROUND.timed_out = True
        raise TestTimedOut(f"took longer than {limit:g}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, limit)
    start = time.monotonic()
    try:
        return (yield)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if time.monotonic() - start > limit:
            ROUND.timed_out = True  # it swallowed the alarm, but the limit still passed


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> bool:
    by_table: dict[str, list[pytest.Item]] = {t.name: [] for t in ROUND.plan.tables}
    for item in session.items:
        table = ROUND.table_of_file.get(str(item.path))
        if table is not None:
            by_table[table].append(item)
    try:
        for table in ROUND.plan.tables:
            ROUND.run_table(table, by_table[table.name])
    finally:
        with contextlib.suppress(Exception):
            session._setupstate.teardown_exact(None)
        ROUND.detector.suspended = True
        ROUND.report_coverage()
        ROUND.channel.send(Done(test_seconds=ROUND.test_seconds, mutant_seconds=ROUND.mutant_seconds))
    return True
