"""The verdict on one table, decided in scaffold's own process from what its runs reported.

Nothing here imports, runs or evaluates model code: the inputs are the workers' reports (data,
validated against `inside.protocol.WorkerReport`) and how each worker ended. A table is proven
when

- its tests passed in both real runs (a failure, a flaky test, a hang, a skipped generated test,
  a crash or a missing, second or foreign report fails it);
- every DataFrame its `transform` returned honours the contract in `tables.yml`;
- the detector saw nothing forbidden in any run;
- every mutant is killed — a test that passed both real runs failed under it, after calling
  `transform` — or is equivalent there (it returned the same rows as the real code on every call
  the tests made). A mutant whose run did not report cleanly survives: a mutant that cannot be
  built or run is not a proof. A table whose tests leave no mutant to kill has proven nothing.

Why a worker cannot win by lying: it cannot tell a real run from a mutant run, so whatever it
says, it says in both; "everything passed" makes every mutant survive and "something failed"
fails the real runs. Only tests that really notice the mutants' wrong output pass this judge.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from lakeforge.contract import column_problems, row_problems
from lakeforge.tables import TableSpec
from scaffolder.inside.protocol import WORKER_REPORT, Call, Frame, RunDone, WorkerReport, short
from scaffolder.problems import Problem, ProblemKind
from scaffolder.sanitize import clean

RunKind = Literal["real", "mutant", "probe"]
MutantStatus = Literal["killed", "survived", "equivalent"]


@dataclass
class Run:
    """One finished run as the judge sees it: how it ended and what it reported (if believed)."""

    kind: RunKind
    name: str  # "real-1", "real-2", a mutant's name, a probe's
    done: RunDone
    report: WorkerReport | None = None
    invalid: str = ""  # why the report is not believed

    @property
    def clean(self) -> bool:
        return self.report is not None and not self.invalid


def read_run(kind: RunKind, name: str, done: RunDone, run_id: str, nonce: str) -> Run:
    """Validate a relayed report: its shape, its size (already bounded), and whose it is."""
    run = Run(kind, name, done)
    if done.status != "reported" or done.report is None:
        run.invalid = _ended(done)
        return run
    try:
        report = WORKER_REPORT.validate_json(done.report)
    except ValidationError as exc:
        run.invalid = f"its report is not valid ({exc.error_count()} error(s): {exc.errors()[0]['msg']})"
        return run
    if report.run_id != run_id or report.nonce != nonce:
        run.invalid = "its report speaks for another run"
        return run
    run.report = report
    return run


def _ended(done: RunDone) -> str:
    return {
        "no-report": "ended without a report",
        "crashed": "crashed",
        "timeout": "did not finish in time",
        "oversize": "sent a report over the size limit",
        "extra": "sent more than one report",
        "limit": "hit a resource limit",
    }.get(done.status, done.status) + (f": {clean(done.detail)}" if done.detail else "")


@dataclass
class MutationScore:
    killed: int
    required: int
    equivalent: int

    def __str__(self) -> str:
        return f"{self.killed}/{self.required} mutants killed ({self.equivalent} equivalent on the tests' inputs)"


@dataclass
class MutantOutcome:
    name: str
    status: MutantStatus
    advice: str = ""
    killed_by: str = ""


@dataclass
class Coverage:
    """What there is to cover in a module, and what each test (and the import, test "") covered."""

    statements: set[int] = field(default_factory=set)
    branches: set[tuple[int, int]] = field(default_factory=set)
    lines: dict[str, set[int]] = field(default_factory=dict)
    arcs: dict[str, set[tuple[int, int]]] = field(default_factory=dict)

    def covered(self, tests: Iterable[str]) -> tuple[set[int], set[tuple[int, int]]]:
        names = {"", *tests}
        lines = set().union(*(self.lines.get(t, set()) for t in names)) & self.statements
        arcs = set().union(*(self.arcs.get(t, set()) for t in names)) & self.branches
        return lines, arcs

    def percent(self, tests: Iterable[str]) -> float:
        """Line and branch coverage together, as coverage.py reports it (lines + branch arcs)."""
        lines, arcs = self.covered(tests)
        total = len(self.statements) + len(self.branches)
        return 100.0 * (len(lines) + len(arcs)) / total if total else 100.0


@dataclass
class Verdict:
    passed: bool
    problems: list[Problem]
    tests_run: int = 0
    mutation: MutationScore | None = None
    mutants: list[MutantOutcome] = field(default_factory=list)
    tests: list[str] = field(default_factory=list)  # the tests that ran, as pytest names them
    coverage: Coverage | None = None
    outcomes: dict[str, list[str]] = field(default_factory=dict)  # test -> its real runs' outcomes
    seconds: float = 0.0  # this table's own runs, added up
    regressions: list[str] = field(default_factory=list)  # tests that pin what the probe found (source)


# --- the real runs ------------------------------------------------------------------------------


def outcomes_by_test(real: Sequence[Run]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for run in real:
        if run.report is None:
            continue
        for result in run.report.tests:
            found.setdefault(result.test, []).append(result.outcome)
    return found


def eligible(real: Sequence[Run]) -> set[str]:
    """Tests that passed in every real run: only they can kill a mutant."""
    if not real or not all(run.clean for run in real):
        return set()
    outcomes = outcomes_by_test(real)
    return {test for test, seen in outcomes.items() if len(seen) == len(real) and all(o == "passed" for o in seen)}


def real_problems(spec: TableSpec, real: Sequence[Run], generated: set[str], persons: set[str]) -> list[Problem]:
    """What the real runs say: the runs ended cleanly, every test passed twice, nothing forbidden."""
    problems: list[Problem] = []
    for run in real:
        if run.invalid:
            kind = ProblemKind.POLICY if "another run" in run.invalid else ProblemKind.TESTS
            problems.append(Problem(kind, f"the tests' run {run.invalid}"))
    reports = [run.report for run in real if run.report is not None]
    for report in reports:
        problems += [Problem(ProblemKind.POLICY, clean(message)) for message in report.policy]
        if report.import_error:
            problems.append(
                Problem(ProblemKind.TESTS, f"could not import {spec.name}'s module: {clean(report.import_error)}")
            )
        for file, message in report.collect_errors:
            problems.append(Problem(ProblemKind.TESTS, f"could not import {clean(file)}: {clean(message)}"))
    runs: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for report in reports:
        for result in report.tests:
            runs.setdefault((result.file, result.test), []).append((result.outcome, result.message))
    for (file, test), seen in runs.items():
        outcomes = [o for o, _ in seen]
        message = clean(next((m for o, m in seen if o in ("failed", "timeout")), ""))
        name = clean(test)
        if "timeout" in outcomes:
            problems.append(Problem(ProblemKind.TESTS, f"{name} timed out: {message}"))
        elif all(o == "failed" for o in outcomes) and len(outcomes) == len(reports):
            problems.append(Problem(ProblemKind.TESTS, f"{name} failed: {message}"))
        elif "failed" in outcomes or len(outcomes) < len(reports):
            passed = outcomes.count("passed")
            detail = f" ({message})" if message else ""
            problems.append(
                Problem(ProblemKind.TESTS, f"{name} is flaky: passed {passed} of {len(reports)} runs{detail}")
            )
        elif file in generated and file not in persons and any(o in ("skipped", "xfailed") for o in outcomes):
            problems.append(
                Problem(ProblemKind.TESTS, f"{name} is {outcomes[0]}: generated tests must run and pass, not skip")
            )
    if reports and not runs and not any(p.kind is ProblemKind.TESTS for p in problems):
        problems.append(Problem(ProblemKind.TESTS, f"no test ran for {spec.name}"))
    return problems


def contract_problems(spec: TableSpec, calls: Iterable[Call], failures: Sequence[str] = ()) -> list[str]:
    """Every contract problem of the outputs recorded, once each (what a failing test said already aside)."""
    found: list[str] = []
    for call in calls:
        messages: list[str] = []
        if call.error:
            messages.append(clean(call.error))
        if call.output is not None:
            messages += frame_problems(call.output, spec)
        for message in messages:
            if message not in found and not any(message in failure for failure in failures):
                found.append(message)
    return found


def frame_problems(frame: Frame, spec: TableSpec) -> list[str]:
    problems = column_problems(frame.columns, spec)
    if problems:
        return problems
    names = [name for name, _ in frame.columns]
    rows = [dict(zip(names, (_hashable(v) for v in row), strict=True)) for row in frame.rows]
    return row_problems(rows, spec)


def _hashable(value: Any) -> Any:
    return tuple(_hashable(v) for v in value) if isinstance(value, list) else value


# --- mutants ------------------------------------------------------------------------------------


def _calls_by_key(report: WorkerReport) -> dict[tuple[str, int], Call]:
    return {(call.test, call.index): call for call in report.calls}


def stable_columns(first: Frame, second: Frame | None) -> list[int]:
    """Columns a second real run reproduced exactly (a load timestamp differs; no test can know it)."""
    width = len(first.columns)
    if second is None or second.columns != first.columns:
        return list(range(width))
    return [
        i for i in range(width) if sorted(repr(r[i]) for r in first.rows) == sorted(repr(r[i]) for r in second.rows)
    ]


def same_output(real: Frame, other: Frame, stable: list[int]) -> bool:
    """Same columns, same rows on the stable columns, and on the others the same nulls.

    A column the real code itself does not reproduce (a load time, a random value) cannot be
    compared by value; whether it is null still can, so nulling it is never "equivalent".
    """
    if list(real.columns) != list(other.columns) or real.total != other.total:
        return False
    unstable = [i for i in range(len(real.columns)) if i not in stable]

    def project(frame: Frame) -> list[str]:
        return sorted(repr([row[i] for i in stable] + [row[i] is None for i in unstable]) for row in frame.rows)

    return project(real) == project(other)


def judge_mutant(
    name: str, advice: str, run: Run, real: Sequence[Run], killers: set[str], hint: bool = False
) -> tuple[MutantOutcome, bool]:
    """(outcome, retry): retry when the first failure came from a test that is not eligible."""
    if run.report is None or run.invalid:
        why = run.invalid or "did not report"
        return MutantOutcome(
            name, "survived", f"{advice} (the mutant's run {why}: a mutant that cannot be run is not killed)"
        ), False
    report = run.report
    calls = _calls_by_key(report)
    real_calls = _calls_by_key(real[0].report) if real and real[0].report is not None else {}
    for result in report.tests:
        if result.outcome not in ("failed", "timeout"):
            continue
        mine = [call for (test, _), call in calls.items() if test == result.test]
        if result.test in killers and mine:
            broke = next(
                (
                    c
                    for c in mine
                    if c.error.startswith("transform raised")
                    and not real_calls.get((c.test, c.index), c).error.startswith("transform raised")
                ),
                None,
            )
            if broke is not None:  # the mutant's transform itself raised where the real one did not
                why = f"{advice} (the mutant's transform raised instead of returning rows: a mutant that cannot run is not killed)"
                return MutantOutcome(name, "survived", why), False
            return MutantOutcome(name, "killed", advice, killed_by=result.test), False
        if result.test not in killers:
            return MutantOutcome(name, "survived", advice), True
    if report.import_error or report.collect_errors:
        return MutantOutcome(name, "survived", f"{advice} (the mutant could not even be imported)"), False
    first, second = real[0].report, real[1].report if len(real) > 1 else None
    assert first is not None
    real_calls = _calls_by_key(first)
    again = _calls_by_key(second) if second is not None else {}
    if set(real_calls) != set(calls):
        return MutantOutcome(name, "survived", advice), False
    for key, call in real_calls.items():
        other = calls[key]
        if call.output is None or other.output is None:
            if (call.output is None) != (other.output is None) or call.error != other.error:
                return MutantOutcome(name, "survived", advice), False
            continue
        previous = again.get(key)
        stable = stable_columns(call.output, previous.output if previous is not None else None)
        if not same_output(call.output, other.output, stable):
            return MutantOutcome(name, "survived", advice), False
    if hint:  # what tables.yml declares, and no test input where it makes a difference
        return MutantOutcome(name, "survived", f"{advice} (no test input makes a difference to it yet)"), False
    return MutantOutcome(name, "equivalent"), False


def empty_outputs(real: Sequence[Run]) -> bool:
    """Every call of transform in the tests returned no rows: nothing about its rows was tested."""
    outputs = [call.output for run in real if run.report for call in run.report.calls if call.output is not None]
    return bool(outputs) and all(frame.total == 0 for frame in outputs)


def mutation_problems(outcomes: Sequence[MutantOutcome]) -> tuple[MutationScore, list[Problem]]:
    killed = sum(1 for o in outcomes if o.status == "killed")
    survived = [o for o in outcomes if o.status == "survived"]
    equivalent = sum(1 for o in outcomes if o.status == "equivalent")
    score = MutationScore(killed, killed + len(survived), equivalent)
    problems = [Problem(ProblemKind.MUTANTS, f"your tests still pass {o.advice}") for o in survived]
    if outcomes and score.required == 0:
        problems.append(
            Problem(
                ProblemKind.MUTANTS,
                "no mutant could be told apart on your tests' inputs (every wrong version returns the same rows "
                "there): feed rows that make transform's output non-empty and its columns hold values, then "
                "assert those rows",
            )
        )
    return score, problems


def coverage_of(real: Sequence[Run]) -> Coverage | None:
    report = real[0].report if real else None
    if report is None or report.coverage is None:
        return None
    found = report.coverage
    coverage = Coverage(set(found.statements), {tuple(a) for a in found.branches})  # type: ignore[misc]
    for covered in found.tests:
        coverage.lines[covered.test] = set(covered.lines)
        coverage.arcs[covered.test] = {tuple(a) for a in covered.arcs}  # type: ignore[misc]
    return coverage


def unique(problems: Iterable[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))


def message_of(problems: Sequence[Problem]) -> list[str]:
    return [short(str(p)) for p in problems]
