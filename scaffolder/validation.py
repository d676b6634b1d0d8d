"""The validation round: run the candidates' tests on local Spark, in the sandbox, and judge them.

All tables of a round share one pytest process (one JVM start). The candidates are laid over a
shadow copy of the repo, so nothing in the repo changes until a table has passed; the round
runs under the OS sandbox (`sandbox.py`) with the plugin from `inside/` loaded first. The plugin
reports events on a pipe while it runs; from them this module builds one verdict per table:

- every test passed each of its runs (a flaky test, a failure, a hang or a skipped generated
  test fails the table);
- the DataFrames `transform` returned honoured the contract (`lakeforge.contract`);
- the code tried nothing the detector forbids (processes, network, writes outside the round,
  credential reads);
- the tests killed every mutant that differs from the real output on their inputs.

A test that hangs past its limit and defeats the in-process timer is stopped from outside: the
round is killed, that table fails ("hung"), and the tables not yet judged run again in a new
round, so one bad reply never costs the others their verdict.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from lakeforge.jvm import cache_dir
from lakeforge.tables import TableSpec
from scaffolder.inside.plan import (
    EVENT,
    PLAN_FILE,
    PLAN_VAR,
    CollectError,
    Contract,
    Covered,
    Done,
    Event,
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
from scaffolder.problems import Problem, ProblemKind
from scaffolder.sandbox import (
    Layout,
    Sandbox,
    SandboxMode,
    credential_paths,
    interpreter_paths,
    sandbox_environment,
    user_homes,
)

KEEP_VAR = "SCAFFOLD_KEEP_ROUND"  # keep the round's folder (shadow copy, plan, pytest.log) to debug it
GRACE_SECONDS = 15.0  # past a test's own limit before the round is stopped from outside
SETUP_SECONDS = 180.0  # a test's set-up (the first one waits for Spark to start)


@dataclass
class Candidate:
    spec: TableSpec
    files: dict[str, str]  # repo-relative path -> text (module and generated tests)
    extra_tests: list[str] = field(default_factory=list)  # the module's existing tests, repo-relative
    mutants: bool = True
    coverage: bool = False  # measure the module's line and branch coverage per test
    mutate_passing: bool = False  # run the mutants against the passing tests even if others failed
    persons: set[str] = field(default_factory=set)  # test files in `files` a person wrote: they may skip


@dataclass
class MutationScore:
    killed: int
    required: int
    equivalent: int

    def __str__(self) -> str:
        return f"{self.killed}/{self.required} mutants killed ({self.equivalent} equivalent on the tests' inputs)"


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
    outcomes: dict[str, list[str]] = field(default_factory=dict)  # test -> its runs' outcomes


@dataclass
class RoundResult:
    verdicts: dict[str, Verdict]
    jvm_starts: int
    seconds: float
    mutation_seconds: float = 0.0  # the part of `seconds` spent on mutants
    test_seconds: float = 0.0  # the part spent running the real tests


@dataclass
class RoundSettings:
    test_timeout: float = 60.0
    round_timeout: float = 600.0
    repeat: int = 2


def run_round(
    root: Path,
    package: str,
    candidates: list[Candidate],
    settings: RoundSettings,
    sandbox: Sandbox,
    environ: Mapping[str, str] | None = None,
) -> RoundResult:
    """Judge every candidate in as few sandboxed pytest processes as possible (normally one)."""
    environ = os.environ if environ is None else environ
    start = time.perf_counter()
    result = RoundResult({}, 0, 0.0)
    remaining = list(candidates)
    keep = bool(environ.get(KEEP_VAR))
    base = Path(tempfile.mkdtemp(prefix="scaffold-round-")).resolve()
    try:
        attempt = 0
        while remaining:
            attempt += 1
            process = _Process(base / f"run{attempt}", root, package, remaining, settings, sandbox, environ)
            judged, unjudged = process.run()
            result.jvm_starts += 1
            result.verdicts.update(judged)
            result.mutation_seconds += process.mutation_seconds
            result.test_seconds += process.test_seconds
            if len(unjudged) == len(remaining):  # nothing judged: never loop forever
                for c in unjudged:
                    result.verdicts[c.spec.name] = Verdict(False, [Problem(ProblemKind.TESTS, process.abandoned)])
                break
            remaining = unjudged
    finally:
        if not keep:
            shutil.rmtree(base, ignore_errors=True)
    result.seconds = time.perf_counter() - start
    return result


class _Process:
    """One sandboxed pytest process for some candidates, watched from outside."""

    def __init__(
        self,
        folder: Path,
        root: Path,
        package: str,
        candidates: list[Candidate],
        settings: RoundSettings,
        sandbox: Sandbox,
        environ: Mapping[str, str],
    ) -> None:
        self.folder = folder
        self.root = root
        self.package = package
        self.candidates = candidates
        self.settings = settings
        self.sandbox = sandbox
        self.environ = environ
        self.events: list[Event] = []
        self.lock = threading.Lock()
        self.activity: tuple[str, str, str, float] | None = None  # (table, what, kind, since)
        self.abandoned = "tests: the validation round stopped before any table was judged"
        self.mutation_seconds = 0.0
        self.test_seconds = 0.0

    # --- lay-out ------------------------------------------------------------------------------

    def _lay_out(self) -> tuple[Path, RoundPlan, Layout]:
        shadow, scratch, home = self.folder / "repo", self.folder / "tmp", self.folder / "home"
        for folder in (shadow, scratch, home):
            folder.mkdir(parents=True)
        shutil.copytree(self.root / "src", shadow / "src", ignore=shutil.ignore_patterns("__pycache__"))
        for name in ("tables.yml", "pyproject.toml"):
            if (self.root / name).is_file():
                shutil.copy2(self.root / name, shadow / name)
        if (self.root / "config").is_dir():
            shutil.copytree(self.root / "config", shadow / "config")
        mounts: list[tuple[Path, Path]] = []
        if (self.root / "data").is_dir():
            if self.sandbox.mode is SandboxMode.OFF:
                shutil.copytree(self.root / "data", shadow / "data")  # a copy: nothing reaches the real repo
            else:
                (shadow / "data").mkdir()
                mounts.append(((self.root / "data").resolve(), shadow / "data"))
        tables = []
        for c in self.candidates:
            for rel, text in c.files.items():
                (shadow / rel).parent.mkdir(parents=True, exist_ok=True)
                (shadow / rel).write_text(text, encoding="utf-8")
            for rel in c.extra_tests:
                (shadow / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(self.root / rel, shadow / rel)
            module_rel = c.spec.module_path(self.package)
            generated = [rel for rel in c.files if rel.startswith("tests/")]
            tables.append(
                TablePlan(
                    name=c.spec.name,
                    module=c.spec.module_name(self.package),
                    files=[str(shadow / module_rel), *(str(shadow / rel) for rel in generated)],
                    tests=[str(shadow / rel) for rel in [*generated, *c.extra_tests]],
                    generated=[str(shadow / rel) for rel in generated],
                    mutants=c.mutants,
                    coverage=c.coverage,
                    mutate_passing=c.mutate_passing,
                )
            )
        homes = user_homes(self.environ)
        plan = RoundPlan(
            root=str(shadow),
            package=self.package,
            tables=tables,
            test_timeout=self.settings.test_timeout,
            repeat=self.settings.repeat,
            channel_fd=-1,
            writable=[str(scratch), str(home)],
            credentials=[str(p) for p in credential_paths(homes, self.root)],
            private_tmp=self.sandbox.mode is SandboxMode.BWRAP,
        )
        (self.folder / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        readable = [*interpreter_paths(), shadow, self.folder / PLAN_FILE, self.folder / "pytest.ini"]
        jvm_cache = cache_dir()
        if jvm_cache.is_dir():
            readable.append(jvm_cache.resolve())
        layout = Layout(
            workdir=shadow,
            home=home,
            writable=[scratch],
            readable=readable,
            mounts=mounts,
            hidden=[*homes, self.root.resolve()],
            credentials=[Path(p) for p in plan.credentials],
        )
        return shadow, plan, layout

    def _command(self, shadow: Path, plan: RoundPlan) -> list[str]:
        return [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "scaffolder.inside.plugin",
            "-p",
            "lakeforge.testing",
            "-p",
            "no:cacheprovider",
            "-c",
            str(self.folder / "pytest.ini"),
            f"--rootdir={shadow}",
            "--noconftest",
            "--import-mode=importlib",
            "-o",
            "lakeforge_contract=false",
            "-W",
            "ignore::pytest.PytestAssertRewriteWarning",
            "-q",
            "--continue-on-collection-errors",
            *dict.fromkeys(path for table in plan.tables for path in table.tests),
        ]

    # --- running and watching -----------------------------------------------------------------

    def run(self) -> tuple[dict[str, Verdict], list[Candidate]]:
        shadow, plan, layout = self._lay_out()
        read_fd, write_fd = os.pipe()
        plan.channel_fd = write_fd
        (self.folder / PLAN_FILE).write_text(plan.model_dump_json(), encoding="utf-8")
        scratch = self.folder / "tmp"
        python_path = os.pathsep.join(filter(None, [str(shadow / "src"), self.environ.get("PYTHONPATH")]))
        env = sandbox_environment(
            self.environ,
            layout.home,
            {
                "PYTHONPATH": python_path,
                "PYTHONDONTWRITEBYTECODE": "1",
                "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
                PLAN_VAR: str(self.folder / PLAN_FILE),
                "LAKEFORGE_CACHE_DIR": str(cache_dir()),
                "TMPDIR": str(scratch),
                "SPARK_LOCAL_DIRS": str(scratch),
                # The JVM's temp files go to the round's scratch too, so /tmp stays the code's alone.
                "JAVA_TOOL_OPTIONS": f"-Djava.io.tmpdir={scratch} -XX:-UsePerfData",
                # No Python call sites recorded for every DataFrame call: ~10% of a test's time, and
                # the round reports a failure's first line only.
                "PYSPARK_SUBMIT_ARGS": "--conf spark.python.sql.dataFrameDebugging.enabled=false pyspark-shell",
                "PYSPARK_PYTHON": sys.executable,
            },
        )
        argv = self.sandbox.wrap(self._command(shadow, plan), layout)
        (self.folder / "command.txt").write_text(shlex.join(argv) + "\n", encoding="utf-8")
        log = (self.folder / "pytest.log").open("w")
        started = time.perf_counter()
        try:
            process = subprocess.Popen(
                argv,
                cwd=shadow,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=[write_fd],
                start_new_session=True,
            )
        finally:
            os.close(write_fd)
            log.close()
        reader = threading.Thread(target=self._read, args=(read_fd,), daemon=True)
        reader.start()
        blamed = self._watch(process, started)
        reader.join(timeout=10)
        return self._verdicts(blamed)

    def _read(self, fd: int) -> None:
        with os.fdopen(fd, "rb") as stream:
            for line in stream:
                try:
                    event = EVENT.validate_json(line)
                except ValidationError:
                    continue  # not the plugin's: the candidate wrote to the pipe
                now = time.perf_counter()
                with self.lock:
                    self.events.append(event)
                    if isinstance(event, Started):
                        self.activity = (event.table, event.test, event.phase, now)
                    elif isinstance(event, Imported):
                        self.activity = (event.table, event.file, "import", now)
                    elif isinstance(event, (Result, Mutants, Done)):
                        self.activity = None

    def _watch(self, process: subprocess.Popen[bytes], started: float) -> tuple[str, str] | None:
        """Wait for the process; stop it when a test outlives its limit. Returns (table, why) to blame."""
        limit = self.settings.test_timeout + GRACE_SECONDS
        while True:
            try:
                process.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                pass
            now = time.perf_counter()
            with self.lock:
                activity = self.activity
            if activity is not None:
                table, what, kind, since = activity
                allowed = SETUP_SECONDS if kind == "setup" else limit
                if now - since > allowed:
                    self._kill(process)
                    where = f"importing {Path(what).name}" if kind == "import" else f"{what} ({kind})"
                    return (
                        table,
                        f"{where} did not finish within {allowed:g}s and was stopped (a hang the time limit could not interrupt)",
                    )
            if now - started > self.settings.round_timeout:
                self._kill(process)
                table = activity[0] if activity else ""
                return table, f"the validation round hit its {self.settings.round_timeout:g}s limit"
        with self.lock:
            done = any(isinstance(e, Done) for e in self.events)
            activity = self.activity
        if not done:
            tail = _tail(self.folder / "pytest.log")
            why = f"the round's process exited with code {process.returncode} ({tail})"
            return (activity[0] if activity else ""), why
        return None

    @staticmethod
    def _kill(process: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    # --- verdicts -----------------------------------------------------------------------------

    def _verdicts(self, blamed: tuple[str, str] | None) -> tuple[dict[str, Verdict], list[Candidate]]:
        """Verdicts for the tables the process finished; the ones it never reached run again."""
        with self.lock:
            events = list(self.events)
        by_table: dict[str, list[Event]] = {c.spec.name: [] for c in self.candidates}
        order: list[str] = []  # tables in the order their tests started
        for event in events:
            table = getattr(event, "table", None)
            if table in by_table:
                by_table[table].append(event)
                if isinstance(event, Started) and table not in order:
                    order.append(table)
            elif isinstance(event, Done):
                self.test_seconds, self.mutation_seconds = event.test_seconds, event.mutant_seconds
        if blamed is None:  # the plugin said Done: every table was judged
            return {c.spec.name: self._verdict(c, by_table[c.spec.name]) for c in self.candidates}, []
        blamed_table, why = blamed
        if not blamed_table:
            self.abandoned = why
        finished = set(order[:-1])  # a later table started, so these ran to their end
        judged: dict[str, Verdict] = {}
        unjudged: list[Candidate] = []
        for c in self.candidates:
            name = c.spec.name
            if name == blamed_table:
                verdict = self._verdict(c, by_table[name])
                verdict.problems.append(Problem(ProblemKind.TESTS, why))
                verdict.passed = False
                judged[name] = verdict
            elif name in finished:
                judged[name] = self._verdict(c, by_table[name])
            else:
                unjudged.append(c)
        return judged, unjudged

    def _verdict(self, candidate: Candidate, events: list[Event]) -> Verdict:
        shadow = self.folder / "repo"
        generated = {
            str(shadow / rel) for rel in candidate.files if rel.startswith("tests/") and rel not in candidate.persons
        }
        problems: list[Problem] = []
        for event in events:
            if isinstance(event, Policy):
                problems.append(Problem(ProblemKind.POLICY, event.message))
            elif isinstance(event, CollectError):
                where = Path(event.file).relative_to(shadow) if event.file.startswith(str(shadow)) else event.file
                problems.append(Problem(ProblemKind.TESTS, f"could not import {where}: {event.message}"))
        runs: dict[tuple[str, str], list[Result]] = {}
        for event in events:
            if isinstance(event, Result):
                runs.setdefault((event.file, event.test), []).append(event)
        failure_text = []
        for (file, test), results in runs.items():
            outcomes = [r.outcome for r in results]
            message = next((r.message for r in results if r.outcome in ("failed", "timeout")), "")
            failure_text.append(message)
            if "timeout" in outcomes:
                problems.append(Problem(ProblemKind.TESTS, f"{test} timed out: {message}"))
            elif all(o == "failed" for o in outcomes):
                problems.append(Problem(ProblemKind.TESTS, f"{test} failed: {message}"))
            elif "failed" in outcomes:
                problems.append(
                    Problem(
                        ProblemKind.TESTS,
                        f"{test} is flaky: passed {outcomes.count('passed')} of {len(outcomes)} runs ({message})",
                    )
                )
            elif file in generated and any(o in ("skipped", "xfailed") for o in outcomes):
                problems.append(
                    Problem(ProblemKind.TESTS, f"{test} is {outcomes[0]}: generated tests must run and pass, not skip")
                )
        if not runs and not any(p.kind is ProblemKind.TESTS for p in problems):
            problems.append(Problem(ProblemKind.TESTS, f"no test ran for {candidate.spec.name}"))
        seen: set[str] = set()
        for event in events:
            if isinstance(event, Contract) and event.message not in seen:
                seen.add(event.message)
                if not any(event.message in text for text in failure_text):
                    problems.append(Problem(ProblemKind.CONTRACT, event.message))
        coverage = None
        if candidate.coverage:
            coverage = Coverage()
            for event in events:
                if isinstance(event, Measurable):
                    coverage.statements, coverage.branches = set(event.statements), {tuple(a) for a in event.branches}
                elif isinstance(event, Covered):
                    coverage.lines[event.test] = set(event.lines)
                    coverage.arcs[event.test] = {tuple(a) for a in event.arcs}
        mutation = None
        mutants = [e for e in events if isinstance(e, Mutants)]
        if mutants:
            outcomes_: list[MutantOutcome] = mutants[-1].outcomes
            killed = sum(1 for o in outcomes_ if o.status == "killed")
            survived = [o for o in outcomes_ if o.status == "survived"]
            equivalent = sum(1 for o in outcomes_ if o.status == "equivalent")
            mutation = MutationScore(killed, killed + len(survived), equivalent)
            problems += [Problem(ProblemKind.MUTANTS, f"your tests still pass {o.advice}") for o in survived]
        elif candidate.mutants and not problems:
            problems.append(Problem(ProblemKind.MUTANTS, "the mutation check did not run"))
        killed = mutants[-1].outcomes if mutants else []
        per_test = {test: [r.outcome for r in results] for (_, test), results in runs.items()}
        return Verdict(not problems, _unique(problems), len(runs), mutation, killed, list(per_test), coverage, per_test)


def _unique(problems: list[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))


def _tail(log: Path) -> str:
    try:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no output"
    return lines[-1][:300] if lines else "no output"
