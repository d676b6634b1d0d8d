"""One run of one table, in a forked worker: write the repo, import the module, run, report once.

The same code runs for every kind of run — the real module (twice), each mutant (its source at
the module's own path), each probe — so nothing the module or its tests can observe tells them
apart: same paths, same environment, same imports in the same order, same fixtures, tests in an
order drawn from a seed the run does not see. The worker records every call of `transform` (what
went in, what came out) and each test's outcome, sends one report on its own pipe and exits
without running anyone's exit handlers. It decides nothing: the judge outside reads the report.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import random
import re
import signal
import sys
import time
import traceback
from collections.abc import Generator
from pathlib import Path
from typing import Any

import _pytest.nodes
import pytest
from _pytest.runner import runtestprotocol

from scaffolder.inside import isolate
from scaffolder.inside.protocol import (
    MAX_REPORT,
    Call,
    Coverage,
    Covered,
    RunRequest,
    TestResult,
    WorkerReport,
    dump,
    short,
    write_frame,
)
from scaffolder.inside.rows import dataframe_of, frame_of


class TestTimedOut(BaseException):
    """A test's time limit: a BaseException, so `except Exception` in a test cannot swallow it."""


def _exception_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return short(f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": "))


class Recorder:
    """Wraps the module's `transform`: each call's inputs and output, as data, per test."""

    def __init__(self, record_inputs: bool) -> None:
        self.record_inputs = record_inputs
        self.calls: list[Call] = []
        self.results: list[tuple[Call, Any]] = []  # outputs still to read
        self.inputs: list[tuple[Call, dict[str, Any]]] = []  # inputs still to read
        self.test = ""
        self.index = 0

    def start(self, test: str) -> None:
        self.test, self.index = test, 0

    def wrap(self, module: Any) -> None:
        original = module.transform
        recorder = self

        def transform(*args: Any, **kwargs: Any) -> Any:
            return recorder.call(original, args, kwargs)

        transform.__name__ = "transform"
        transform.__doc__ = original.__doc__
        module.transform = transform

    def call(self, original: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        from pyspark.sql import DataFrame

        record = Call(test=self.test, index=self.index)
        self.index += 1
        self.calls.append(record)
        if self.record_inputs:  # read after the tests, like the outputs: nothing a test can see
            names = [f"#{i}" for i in range(len(args))] + list(kwargs)
            values = [*args, *kwargs.values()]
            if all(isinstance(v, DataFrame) for v in values):
                self.inputs.append((record, dict(zip(names, values, strict=True))))
        try:
            result = original(*args, **kwargs)
        except BaseException as exc:
            record.error = f"transform raised {_exception_line(exc)}"
            raise
        if not isinstance(result, DataFrame):
            record.error = f"transform returned a {type(result).__name__}, not a DataFrame"
            return result
        self.results.append((record, result))
        return result

    def settle(self) -> None:
        """Read every input and output now (after the tests): a run whose test failed never needs them."""
        for record, frames in self.inputs:
            with contextlib.suppress(Exception):
                record.inputs = {name: frame_of(frame) for name, frame in frames.items()}
        self.inputs.clear()
        for record, result in self.results:
            try:
                record.output = frame_of(result)
            except Exception as exc:  # the plan fails when it runs: the test may never have looked
                record.error = f"transform's output fails when collected: {_exception_line(exc)}"
        self.results.clear()


def _test_id(item: pytest.Item) -> str:
    return item.nodeid.split("::", 1)[1] if "::" in item.nodeid else item.name


def _report_message(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple):  # a skip: (path, line, reason)
        return str(longrepr[2])
    crash = getattr(longrepr, "reprcrash", None)
    message = crash.message if crash is not None else str(longrepr)
    prefix = "" if report.when == "call" else f"in {report.when}: "
    return prefix + (message.strip().splitlines()[0] if message.strip() else "no message")


class Session:
    """The `spark` fixture's session: this run's own, on the round's Spark Connect server."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.session: Any = None

    def get(self) -> Any:
        if self.session is None:
            from pyspark.sql import SparkSession

            self.session = SparkSession.builder.remote(self.url).create()
        return self.session


class WorkerPlugin:
    """The run's pytest plugin: its own loop (order, time limits, first failure), no other plugins."""

    def __init__(
        self, request: RunRequest, repo: Path, recorder: Recorder, spark: Session, coverage: Any, progress: int
    ) -> None:
        self.request = request
        self.progress = progress
        self.tmp: Path | None = None
        self.filled: list[str] = []  # caps a test hit (and may have swallowed the error for)
        self.repo = repo
        self.recorder = recorder
        self.spark_session = spark
        self.coverage = coverage
        self.results: list[TestResult] = []
        self.collect_errors: list[tuple[str, str]] = []
        self.timed_out = False

    @pytest.fixture(scope="session")
    def spark(self) -> Any:
        return self.spark_session.get()

    def _rel(self, path: Any) -> str:
        with contextlib.suppress(ValueError):
            return str(Path(str(path)).relative_to(self.repo))
        return str(path)

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(self, collector: pytest.Collector) -> Generator[None, Any, Any]:
        report = yield
        if isinstance(collector, pytest.Module) and report.failed:
            text = str(report.longrepr)
            errors = [line[1:].strip() for line in text.splitlines() if line.startswith("E ")]
            message = errors[-1] if errors else (text.strip().splitlines() or ["collection failed"])[-1]
            self.collect_errors.append((self._rel(collector.path), short(message)))
        return report

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, Any, Any]:
        limit = self.request.test_timeout

        def expire(signum: int, frame: Any) -> None:
            self.timed_out = True
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
                self.timed_out = True  # it swallowed the alarm, but the limit still passed

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool:
        items = list(session.items)
        if self.request.only is not None:
            wanted = set(self.request.only)
            items = [i for i in items if _test_id(i) in wanted]
        random.Random(self.request.seed).shuffle(items)
        for item in items:
            outcome = self._run(item)
            self.results.append(outcome)
            if self.request.stop_at_first_failure and outcome.outcome in ("failed", "timeout"):
                break
        with contextlib.suppress(Exception):
            session._setupstate.teardown_exact(None)
        return True

    def _run(self, item: pytest.Item) -> TestResult:
        test = _test_id(item)
        with contextlib.suppress(OSError):  # the zygote's watch: which test runs, since when
            os.write(self.progress, (test[:200].replace("\n", " ") + "\n").encode())
        self.recorder.start(test)
        self.timed_out = False
        if self.coverage is not None:
            self.coverage.switch_context(test)
        started = time.perf_counter()
        with contextlib.suppress(Exception):
            item.session._setupstate.teardown_exact(item)
        reports = runtestprotocol(item, log=False, nextitem=_Parents(item))  # type: ignore[arg-type]
        seconds = time.perf_counter() - started
        for message in _filled(self.tmp, self.request):  # now: pytest's own temp files go at the end
            if message not in self.filled:
                self.filled.append(message)
        failed = [r for r in reports if r.failed]
        result = TestResult(test=test, file=self._rel(item.path), outcome="passed", seconds=seconds)
        if self.timed_out:
            result.outcome, result.message = "timeout", f"took longer than {self.request.test_timeout:g}s"
        elif failed:
            result.outcome, result.message = "failed", short(_report_message(failed[0]))
        elif any(getattr(r, "wasxfail", None) is not None for r in reports):
            result.outcome, result.message = "xfailed", "marked xfail"
        elif any(r.skipped for r in reports):
            result.outcome = "skipped"
            result.message = short(_report_message(next(r for r in reports if r.skipped)))
        return result


class _Parents:
    """Stands in for "the next item": tear down this item only, keep its module and session."""

    def __init__(self, item: pytest.Item) -> None:
        self._chain = item.listchain()[:-1]

    def listchain(self) -> list[_pytest.nodes.Node]:
        return self._chain


def _write_repo(repo: Path, files: dict[str, str], request: RunRequest, data: str | None) -> None:
    for rel, text in {**files, request.module_path: request.source}.items():
        target = repo / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    if data is not None:
        with contextlib.suppress(OSError):
            (repo / "data").symlink_to(data)


def _pytest_args(request: RunRequest, repo: Path, tmp: Path) -> list[str]:
    return [
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
        "-p",
        "no:xdist",
        "-c",
        os.devnull,
        f"--rootdir={repo}",
        # Collection starts at the repo: a fallback worker's repo sits among every earlier run's
        # folders, and pytest would scan them all (each run slower than the last).
        f"--confcutdir={repo}",
        f"--basetemp={tmp / 'pytest'}",
        "--noconftest",
        "--import-mode=importlib",
        "--tb=native",
        "-p",
        "no:logging",
        "-p",  # its teardown runs gc.collect() twice, a tenth of a second per run
        "no:unraisableexception",
        "-p",
        "no:threadexception",
        "-q",
        "-W",
        "ignore::pytest.PytestAssertRewriteWarning",
        "--continue-on-collection-errors",
        *(str(repo / rel) for rel in request.tests),
    ]


def run(
    request: RunRequest,
    files: dict[str, str],
    result_fd: int,
    progress_fd: int,
    url: str,
    private: bool,
    data: str | None,
    writable: list[str],
    credentials: list[str],
    worker_tmp: str = "/tmp",
) -> None:
    """The whole life of a worker (in the forked child). Never returns."""
    code = 0
    try:
        place = isolate.enter(private, request.limits, os.environ.get("TMPDIR", "/tmp"), worker_tmp)
        _write_repo(place.repo, files, request, data)
        isolate.seal(place)
        report = _run(request, place, url, writable, credentials, progress_fd)
        payload = dump(report)
        if len(payload) > MAX_REPORT:  # say so ourselves rather than be cut off
            report.calls = []
            report.policy.append("the run recorded more data than a report may carry")
            payload = dump(report)
        write_frame(result_fd, payload)
    except BaseException:
        traceback.print_exc()
        code = 70
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os._exit(code)


def _run(
    request: RunRequest, place: isolate.Place, url: str, writable: list[str], credentials: list[str], progress: int
) -> WorkerReport:
    from lakeforge.guard import Detector

    repo = place.repo
    os.environ["TMPDIR"] = str(place.tmp)
    os.chdir(repo)
    sys.path.insert(0, str(repo / "src"))
    started = time.perf_counter()
    report = WorkerReport(run_id=request.run_id, nonce=request.nonce, imported=False)
    module_file = str(repo / request.module_path)
    candidates = {module_file: request.table, **{str(repo / t): request.table for t in request.tests}}
    detector = Detector(
        candidates,
        [str(place.tmp), *writable],
        credentials,
        lambda table, message: report.policy.append(short(message)),
        str(repo),
    )
    detector.install()
    coverage = None
    if request.coverage:
        import coverage as coverage_module

        coverage = coverage_module.Coverage(data_file=None, branch=True, include=[module_file])
        coverage.start()
        coverage.switch_context("")
    recorder = Recorder(request.record_inputs)
    spark = Session(url)
    try:
        module = importlib.import_module(request.module)
        if not callable(getattr(module, "transform", None)):
            raise AttributeError(f"{request.module_path} defines no transform()")
        recorder.wrap(module)
        report.imported = True
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        report.import_error = _exception_line(exc)
    if report.imported and request.probe is not None:
        _probe(request, module, recorder, spark, repo)
    elif report.imported or request.tests:
        plugin = WorkerPlugin(request, repo, recorder, spark, coverage, progress)
        plugin.tmp = place.tmp if place.private else None
        pytest.main(_pytest_args(request, repo, place.tmp), plugins=[plugin])
        report.tests, report.collect_errors = plugin.results, plugin.collect_errors
        report.policy += plugin.filled
    failed = any(t.outcome in ("failed", "timeout") for t in report.tests)
    if not (request.stop_at_first_failure and failed):
        recorder.settle()
    detector.suspended = True
    if coverage is not None:
        coverage.stop()
        report.coverage = _coverage(coverage, module_file)
    report.calls = recorder.calls
    report.seconds = time.perf_counter() - started
    return report


def _filled(tmp: Path | None, request: RunRequest) -> list[str]:
    """A full private /tmp means the code hit its cap (and may have swallowed the error): name it."""
    if tmp is None:
        return []
    try:
        stats = os.statvfs(tmp)
    except OSError:
        return []
    found = []
    if stats.f_ffree == 0:
        found.append(f"created more than {request.limits.tmp_files} files in /tmp (the cap for one run)")
    if stats.f_bavail == 0:
        found.append(f"wrote more than {request.limits.tmp_bytes // (1024 * 1024)} MiB to /tmp (the cap for one run)")
    return found


def _probe(request: RunRequest, module: Any, recorder: Recorder, spark: Session, repo: Path) -> None:
    """Call transform on inputs the judge chose (no test runs here): each call recorded, its output
    read, and the table's named checks counted on it (SQL only Spark can evaluate)."""
    assert request.probe is not None
    session = spark.get()
    spec = _spec(repo, request.table)
    for call in request.probe.calls:
        recorder.start(call.label)
        try:
            frames = {name: dataframe_of(session, frame) for name, frame in call.inputs.items()}
        except Exception as exc:
            recorder.calls.append(Call(test=call.label, index=0, error=f"probe input: {_exception_line(exc)}"))
            continue
        with contextlib.suppress(Exception):
            result = module.transform(**frames)
            record = recorder.calls[-1]
            if spec is not None and getattr(spec, "checks", None) and record.test == call.label and not record.error:
                with contextlib.suppress(Exception):
                    from lakeforge.contract import check_violations

                    counts = check_violations(result, spec)
                    record.checks = {name: int(counts.get(name, 0)) for name in spec.checks}
    recorder.settle()


def _spec(repo: Path, table: str) -> Any:
    with contextlib.suppress(Exception):
        from lakeforge.tables import load_tables

        return load_tables(repo / "tables.yml").get(table)
    return None


def _coverage(cov: Any, module_file: str) -> Coverage | None:
    with contextlib.suppress(Exception):
        analysis = cov._analyze(module_file)
        exits = analysis.exit_counts
        branches = [arc for arc in analysis.arc_possibilities if exits.get(arc[0], 0) > 1]
        data = cov.get_data()
        covered = []
        for context in sorted(data.measured_contexts()):
            data.set_query_contexts([f"^{re.escape(context)}$"])
            covered.append(
                Covered(
                    test=context, lines=sorted(data.lines(module_file) or []), arcs=sorted(data.arcs(module_file) or [])
                )
            )
        data.set_query_contexts(None)
        return Coverage(statements=sorted(analysis.statements), branches=sorted(branches), tests=covered)
    return None
