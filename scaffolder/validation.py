"""The validation round, from outside: run every candidate in the sandbox, run by run, and judge.

`RoundSpark` starts the sandbox once per `scaffold` command: inside it, the zygote starts one
Spark Connect server (one JVM) and forks a fresh worker for every run. `run_round` plans the
runs of each table — the real module twice, each mutant once, the contract probes — sends them
in an order drawn at random (real runs are not always first), several at a time, and hands what
comes back to `judge.py`, which decides each table's verdict in this process. Nothing from a
reply is imported here.

A run that hangs is killed at its deadline by the zygote and fails only its own table; a run
that kills the server costs the round a new server and its unfinished runs are retried there.
"""

from __future__ import annotations

import ast
import contextlib
import os
import random
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from lakeforge.jvm import cache_dir
from lakeforge.tables import TablesFile, TableSpec, load_tables
from scaffolder import judge, probes, server_archive
from scaffolder.checks import test_functions
from scaffolder.cleanup import remove_tree
from scaffolder.errors import ScaffoldError
from scaffolder.inside.protocol import (
    MAX_RELAY,
    ZYGOTE_MESSAGE,
    Config,
    DropRound,
    Fatal,
    Limits,
    Probe,
    ProbeCall,
    Ready,
    RoundFiles,
    RunDone,
    RunRequest,
    Stop,
    dump,
    read_frame,
    write_frame,
)
from scaffolder.judge import Coverage, MutantOutcome, MutationScore, Run, Verdict
from scaffolder.mutation import SourceMutant, mutants_for
from scaffolder.problems import Problem, ProblemKind
from scaffolder.progress import Progress, quiet
from scaffolder.sandbox import (
    INSIDE_DATA,
    INSIDE_HOME,
    INSIDE_SCRATCH,
    Sandbox,
    SandboxMode,
    round_layout,
    sandbox_environment,
    worker_tmp,
)
from scaffolder.sanitize import clean
from scaffolder.stubs import parameters

__all__ = [
    "Candidate",
    "Coverage",
    "MutantOutcome",
    "MutationScore",
    "RoundResult",
    "RoundSettings",
    "RoundSpark",
    "Verdict",
    "run_round",
]

KEEP_VAR = "SCAFFOLD_KEEP_ROUND"  # keep the round's host folder (command line, logs) to debug it
PORT = 15002  # inside the sandbox's own network namespace nothing else listens
READY_SECONDS = 300.0


class RoundError(ScaffoldError):
    """The round's machinery failed (not the code under test): the message says what and how to fix it."""


@dataclass
class Candidate:
    spec: TableSpec
    files: dict[str, str]  # repo-relative path -> text (module and generated tests)
    extra_tests: list[str] = field(default_factory=list)  # the module's existing tests, repo-relative
    mutants: bool = True
    coverage: bool = False  # measure the module's line and branch coverage per test
    mutate_passing: bool = False  # run the mutants against the passing tests even if others failed
    persons: set[str] = field(default_factory=set)  # test files in `files` a person wrote: they may skip
    probes: bool = True  # the contract probe and the metamorphic runs (inputs the tests did not choose)


@dataclass
class RoundSettings:
    test_timeout: float = 60.0
    round_timeout: float = 600.0
    repeat: int = 2
    jobs: int = 0  # runs at a time; 0: one per core, plus one


@dataclass
class RoundResult:
    verdicts: dict[str, Verdict]
    jvm_starts: int
    seconds: float
    mutation_seconds: float = 0.0  # the mutant runs' own time, added up
    test_seconds: float = 0.0  # the real runs' own time, added up
    runs: int = 0
    setup_seconds: float = 0.0  # until the first run could start: the server's boot (if any), the files, the plan


class RoundSpark:
    """The sandbox with its Spark Connect server and zygote: started once, serves every round of a command."""

    def __init__(self, root: Path, sandbox: Sandbox, environ: Mapping[str, str] | None = None) -> None:
        self.root = root.resolve()
        self.sandbox = sandbox
        self.environ = dict(os.environ if environ is None else environ)
        self.base = Path(tempfile.mkdtemp(prefix="scaffold-round-")).resolve()
        self.process: subprocess.Popen[bytes] | None = None
        self.pending: dict[str, Future[RunDone]] = {}
        self.lock = threading.Lock()
        self.ready_event = threading.Event()
        self.ready_message: Ready | None = None
        self.fatal = ""
        self.jvm_starts = 0
        self.generation = 0  # which start the reader thread belongs to: an old one's end is not news
        self.to_zygote = -1
        self.started_at = 0.0

    # --- life -----------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the sandbox and its server; returns at once (the server warms up meanwhile)."""
        if self.process is not None:
            return
        self.started_at = time.perf_counter()
        bwrap = self.sandbox.mode is SandboxMode.BWRAP
        layout = round_layout(self.sandbox, self.root, self.base, self.environ)
        scratch = layout.scratch
        data = self.root / "data"
        pass_fds = [layout.seccomp_fd] if layout.seccomp_fd is not None else []
        zygote_in, self.to_zygote = os.pipe()
        from_zygote, zygote_out = os.pipe()
        pass_fds += [zygote_in, zygote_out]
        argv = self.sandbox.wrap(
            [sys.executable, "-m", "scaffolder.inside.zygote", str(zygote_in), str(zygote_out)], layout
        )
        home = INSIDE_HOME if bwrap else str(self.base / "home")
        if not bwrap:
            (self.base / "home").mkdir()
        tmp = INSIDE_SCRATCH if bwrap else str(scratch)
        env = sandbox_environment(
            self.environ,
            home,
            {
                "TMPDIR": tmp,
                "PYTHONDONTWRITEBYTECODE": "1",
                "PYTHONNOUSERSITE": "1",
                "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
                "SPARK_LOCAL_IP": "127.0.0.1",
                "LAKEFORGE_CACHE_DIR": str(cache_dir()),
                "TZ": "UTC",
            },
        )
        (self.base / "command.txt").write_text(" ".join(argv) + "\n")
        log = (self.base / "sandbox.log").open("wb")
        try:
            self.process = subprocess.Popen(
                argv,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=pass_fds,
                start_new_session=True,
                cwd=str(self.base),
            )
        except OSError as exc:
            raise RoundError(f"the sandbox could not start ({exc}): check `scaffold sandbox`") from None
        finally:
            log.close()
            for fd in (zygote_in, zygote_out, *([layout.seccomp_fd] if layout.seccomp_fd is not None else [])):
                os.close(fd)
        self.jvm_starts += 1
        self.generation += 1
        threading.Thread(
            target=self._read, args=(from_zygote, self.generation), name="scaffold-round-reader", daemon=True
        ).start()
        archive = server_archive.ready_archive()
        self._send(
            Config(
                port=PORT if bwrap else _free_port(),
                cores=os.cpu_count() or 2,
                scratch=INSIDE_SCRATCH if bwrap else str(scratch),
                archive=archive,
                private_workers=bwrap,
                data=INSIDE_DATA if bwrap and data.is_dir() else (str(data) if data.is_dir() else None),
                writable=[home],
                credentials=[str(p) for p in layout.credentials],
                worker_tmp=worker_tmp(layout.readable) if bwrap else "/tmp",
            )
        )

    def ensure_running(self, fresh: bool = False) -> None:
        """A sandbox whose server or zygote died (model code can stop its own JVM) is replaced;
        `fresh` replaces it anyway (a JVM that is still shutting down looks alive for a while)."""
        if self.process is not None and (fresh or self.process.poll() is not None or self.fatal):
            self._stop()
            self.base = Path(tempfile.mkdtemp(prefix="scaffold-round-")).resolve()
            self.process, self.fatal, self.ready_message = None, "", None
            self.ready_event = threading.Event()
        self.start()

    def wait_ready(self, timeout: float = READY_SECONDS) -> Ready:
        if self.process is None:
            self.start()
        if not self.ready_event.wait(timeout):
            raise RoundError(
                f"the round's Spark server was not ready within {timeout:g}s: see {self.base / 'sandbox.log'}"
            )
        if self.ready_message is None:
            raise RoundError(f"the round's sandbox could not start: {self.fatal or self._log_tail()}")
        return self.ready_message

    def close(self) -> None:
        self._stop()

    def _stop(self) -> None:
        with contextlib.suppress(OSError):
            self._send(Stop())
        with contextlib.suppress(OSError):
            os.close(self.to_zygote)
        if self.process is not None:
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.process.pid, 9)
                self.process.wait()
        self._fail_pending("the round's sandbox was closed")
        if not self.environ.get(KEEP_VAR):
            remove_tree(self.base)

    def __enter__(self) -> RoundSpark:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- talking to the zygote ------------------------------------------------------------------

    def _send(self, message: Config | RoundFiles | RunRequest | Stop | DropRound) -> None:
        with self.lock:
            write_frame(self.to_zygote, dump(message))

    def send_round(self, files: dict[str, str], data: bool) -> str:
        round_id = secrets.token_hex(8)
        self._send(RoundFiles(round_id=round_id, files=files, data_dir=data))
        return round_id

    def drop_round(self, round_id: str) -> None:
        with contextlib.suppress(OSError):
            self._send(DropRound(round_id=round_id))

    def run(self, request: RunRequest) -> Future[RunDone]:
        future: Future[RunDone] = Future()
        with self.lock:
            if self.fatal:
                future.set_result(RunDone(run_id=request.run_id, status="crashed", detail=self.fatal))
                return future
            self.pending[request.run_id] = future
        try:
            self._send(request)
        except OSError:
            self._fail_pending(self.fatal or "the round's sandbox stopped")
        return future

    def _read(self, fd: int, generation: int) -> None:
        try:
            while True:
                message = ZYGOTE_MESSAGE.validate_json(read_frame(fd, MAX_RELAY))
                if generation != self.generation:
                    break
                if isinstance(message, Ready):
                    self.ready_message = message
                    self.ready_event.set()
                elif isinstance(message, Fatal):
                    self.fatal = message.message
                    break
                else:
                    with self.lock:
                        future = self.pending.pop(message.run_id, None)
                    if future is not None:
                        future.set_result(message)
        except (EOFError, OSError, ValidationError, Exception) as exc:
            if not self.fatal and generation == self.generation:
                self.fatal = f"the round's sandbox stopped ({type(exc).__name__}: {self._log_tail()})"
        finally:
            with contextlib.suppress(OSError):
                os.close(fd)
            if generation == self.generation:  # a sandbox replaced since is none of this thread's business
                self.ready_event.set()
                self._fail_pending(self.fatal or "the round's sandbox stopped")

    def _fail_pending(self, why: str) -> None:
        with self.lock:
            pending, self.pending = self.pending, {}
            if not self.fatal:
                self.fatal = why
        for run_id, future in pending.items():
            if not future.done():
                future.set_result(RunDone(run_id=run_id, status="crashed", detail=why))

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            lines = [ln for ln in (self.base / "sandbox.log").read_text(errors="replace").splitlines() if ln.strip()]
            if lines:
                return lines[-1][:300]
        return "no output"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None and not self.fatal


def _free_port() -> int:
    from scaffolder.inside.server import free_port

    return free_port()


# --- planning and judging a round ---------------------------------------------------------------


@dataclass
class _Planned:
    request: RunRequest
    table: str
    kind: judge.RunKind
    name: str
    mutant: SourceMutant | None = None


@dataclass
class _Table:
    candidate: Candidate
    module: str
    module_rel: str
    source: str
    tests: list[str]
    generated: set[str]
    runs: dict[str, Run] = field(default_factory=dict)  # name -> run
    mutants: list[SourceMutant] = field(default_factory=list)
    cancelled: bool = False
    seconds: float = 0.0
    tables_file: TablesFile | None = None
    parameters: list[str] = field(default_factory=list)
    probe: list[probes.Planned] | None = None  # what the probe run was sent (once the real runs passed)
    shrink: list[probes.Planned] | None = None  # smaller inputs for a contract finding
    request: Callable[..., RunRequest] | None = None  # builds this table's run requests
    round_id: str = ""  # the files the current sandbox holds (a new sandbox, a new id)


def repo_files(root: Path) -> dict[str, str]:
    """What the candidates see of the repo: src/, tables.yml, pyproject.toml, config/ (text files).

    Every package `__init__.py` under src/ is empty here: importing a table's module runs them,
    no table's verdict ever judged them, and one that hashes the module file tells a mutant run
    from a real one (a red-team pass forged `validate` that way). The template writes them with a
    docstring only.
    """
    files: dict[str, str] = {}
    for rel in ("tables.yml", "pyproject.toml"):
        if (root / rel).is_file():
            files[rel] = (root / rel).read_text(encoding="utf-8")
    for folder in ("src", "config"):
        for path in sorted((root / folder).rglob("*")) if (root / folder).is_dir() else []:
            if path.is_file() and "__pycache__" not in path.parts and not path.is_symlink():
                with contextlib.suppress(UnicodeDecodeError, OSError):
                    text = "" if folder == "src" and path.name == "__init__.py" else path.read_text(encoding="utf-8")
                    files[path.relative_to(root).as_posix()] = text
    return files


def _test_count(files: dict[str, str]) -> int:
    count = 0
    for text in files.values():
        with contextlib.suppress(SyntaxError):
            count += len(test_functions(ast.parse(text)))
    return count


def _plan(
    root: Path, package: str, candidate: Candidate, settings: RoundSettings, round_id: str
) -> tuple[_Table, list[_Planned]]:
    spec = candidate.spec
    module_rel = spec.module_path(package)
    source = candidate.files.get(module_rel)
    if source is None:
        source = (root / module_rel).read_text(encoding="utf-8")
    generated = {rel for rel in candidate.files if rel.startswith("tests/")}
    tests = [*sorted(generated), *candidate.extra_tests]
    table = _Table(candidate, spec.module_name(package), module_rel, source, tests, generated, round_id=round_id)
    test_files = {rel: candidate.files.get(rel) or (root / rel).read_text(encoding="utf-8") for rel in tests}
    deadline = min(settings.round_timeout, settings.test_timeout * (_test_count(test_files) + 2) + 60)

    def request(source: str, **extra: object) -> RunRequest:
        fields: dict[str, object] = {
            "run_id": secrets.token_hex(8),
            "round_id": round_id,
            "nonce": secrets.token_hex(16),
            "table": spec.name,
            "module": spec.module_name(package),
            "module_path": module_rel,
            "source": source,
            "tests": tests,
            "test_timeout": settings.test_timeout,
            "deadline": deadline,
            "seed": secrets.randbits(32),
            "limits": Limits(),
        }
        return RunRequest(**{**fields, **extra})  # type: ignore[arg-type]

    table.request = request
    table.parameters = parameters(spec)
    if candidate.probes and (root / "tables.yml").is_file():
        table.tables_file = load_tables(root / "tables.yml")
    planned = [
        _Planned(request(source, coverage=candidate.coverage), spec.name, "real", f"real-{n}")
        for n in range(1, settings.repeat + 1)
    ]
    if candidate.mutants:
        try:
            table.mutants = mutants_for(spec, source, parameters(spec), salt=secrets.token_hex(4))
        except SyntaxError:
            table.mutants = []
        for mutant in table.mutants:
            planned.append(
                _Planned(
                    request(mutant.source, stop_at_first_failure=True),
                    spec.name,
                    "mutant",
                    mutant.name,
                    mutant,
                )
            )
    return table, planned


def run_round(
    root: Path,
    package: str,
    candidates: list[Candidate],
    settings: RoundSettings,
    sandbox: Sandbox,
    environ: Mapping[str, str] | None = None,
    spark: RoundSpark | None = None,
    progress: Progress | None = None,
) -> RoundResult:
    """Judge every candidate; `spark` is the command's running sandbox (one is started when None)."""
    started = time.perf_counter()
    own = spark is None
    engine = spark or RoundSpark(root, sandbox, environ)
    starts_before = engine.jvm_starts
    notify = progress or quiet
    result = RoundResult({}, 0, 0.0)
    try:
        engine.ensure_running()
        engine.wait_ready()
        files = repo_files(root)
        for candidate in candidates:
            files.update(candidate.files)
            for rel in candidate.extra_tests:
                files[rel] = (root / rel).read_text(encoding="utf-8")
        round_id = engine.send_round(files, (root / "data").is_dir())
        tables: dict[str, _Table] = {}
        queue: list[_Planned] = []
        for candidate in candidates:
            table, planned = _plan(root, package, candidate, settings, round_id)
            tables[candidate.spec.name] = table
            queue += planned
        random.SystemRandom().shuffle(queue)
        result.setup_seconds = time.perf_counter() - started
        stage = _Stage(engine, tables, settings, time.monotonic() + settings.round_timeout, notify)
        _execute(stage, queue)
        round_id = _survive(stage, queue, files, root, round_id)
        _retry_mutants(stage, round_id)
        for name, table in tables.items():
            verdict = _verdict(table)
            result.verdicts[name] = verdict
            notify(name, "proven" if verdict.passed else "not proven")
        result.runs = sum(len(t.runs) for t in tables.values())
        result.test_seconds = sum(r.done.seconds for t in tables.values() for r in t.runs.values() if r.kind == "real")
        result.mutation_seconds = sum(
            r.done.seconds for t in tables.values() for r in t.runs.values() if r.kind == "mutant"
        )
        engine.drop_round(round_id)
    finally:
        result.jvm_starts = engine.jvm_starts - starts_before
        if own:
            engine.close()
    result.seconds = time.perf_counter() - started
    return result


def _jobs(settings: RoundSettings) -> int:
    return settings.jobs or (os.cpu_count() or 2) + 1


@dataclass
class _Stage:
    """What the stages of one round share: its sandboxed Spark, its tables, settings, deadline and progress."""

    engine: RoundSpark
    tables: dict[str, _Table]
    settings: RoundSettings
    deadline: float
    notify: Progress


def _execute(stage: _Stage, queue: list[_Planned]) -> None:
    """Run the queue, `jobs` at a time; a table whose real run failed has its queued runs dropped."""
    tables, settings = stage.tables, stage.settings
    queue = list(queue)
    in_flight: dict[str, tuple[_Planned, Future[RunDone]]] = {}
    done_event = threading.Event()
    started_tables: set[str] = set()
    while queue or in_flight:
        while queue and len(in_flight) < _jobs(settings) and time.monotonic() < stage.deadline:
            planned = queue.pop(0)
            table = tables[planned.table]
            if table.cancelled:
                continue
            if planned.table not in started_tables:
                started_tables.add(planned.table)
                stage.notify(planned.table, "running in the sandbox")
            future = stage.engine.run(planned.request)
            future.add_done_callback(lambda _: done_event.set())
            in_flight[planned.request.run_id] = (planned, future)
        if not in_flight:
            if queue and time.monotonic() >= stage.deadline:
                for planned in queue:
                    tables[planned.table].cancelled = True
                    _round_limit(tables[planned.table], settings)
                queue.clear()
            continue
        done_event.wait(0.5)
        done_event.clear()
        for run_id, (planned, future) in list(in_flight.items()):
            if not future.done():
                continue
            del in_flight[run_id]
            table = tables[planned.table]
            run = judge.read_run(planned.kind, planned.name, future.result(), run_id, planned.request.nonce)
            table.runs[planned.name] = run
            table.seconds += run.done.seconds
            if planned.kind == "real" and not table.candidate.mutate_passing and _failed(table, run):
                table.cancelled = True  # its verdict is decided: no more runs for it
            elif planned.kind == "real" and table.probe is None:
                probe = _plan_probe(table, settings)
                if probe is not None:  # after the real runs, on the rows their tests chose
                    queue.insert(random.randrange(len(queue) + 1), probe)
            elif planned.name == "probe" and table.shrink is None:
                shrink = _plan_shrink(table, settings)
                if shrink is not None:  # the fewest rows that show what broke, for the model and the regression
                    queue.insert(0, shrink)


def _survive(stage: _Stage, queue: list[_Planned], files: dict[str, str], root: Path, round_id: str) -> str:
    """The server or zygote died under the round (model code can stop its own JVM): find who.

    Every run of the round is suspect then, not only the ones that crashed: a test that failed,
    or a mutant that looked killed, may have died of the dying server. So the whole round goes
    again on a new sandbox; if that dies too, table by table, each on a sandbox of its own, so the
    table whose runs stop it fails with that said and every other table gets a verdict from a
    sandbox nothing stopped.
    """
    engine, tables = stage.engine, stage.tables
    if engine.alive:
        return round_id

    def fresh(always: bool = False) -> str:
        engine.ensure_running(fresh=always)
        engine.wait_ready()
        new_id = engine.send_round(files, (root / "data").is_dir())
        for planned in queue:  # new ids and nonces too: nothing a dead sandbox saw names a new run
            planned.request.round_id = new_id
            planned.request.run_id, planned.request.nonce = secrets.token_hex(8), secrets.token_hex(16)
        for table in tables.values():
            table.round_id = new_id
        return new_id

    _forget_runs(tables.values())
    round_id = fresh()
    stage.deadline = time.monotonic() + stage.settings.round_timeout  # the rerun gets a whole round's time
    _execute(stage, queue)
    if engine.alive:
        return round_id
    for name, table in tables.items():
        _forget_runs([table])
        round_id = fresh(always=True)  # a sandbox of its own: what dies now died of this table
        stage.deadline = time.monotonic() + stage.settings.round_timeout
        _execute(stage, [p for p in queue if p.table == name])
        for _ in range(30):  # a JVM that exits runs its shutdown hooks first
            if not engine.alive:
                break
            time.sleep(0.1)
        crashed = any(
            r.done.status == "crashed" and r.done.detail.startswith("the round's") for r in table.runs.values()
        )
        if crashed or not engine.alive:
            _forget_runs([table])
            table.cancelled = True
            table.runs["server-stopped"] = Run(
                "real",
                "server-stopped",
                RunDone(run_id="-", status="crashed"),
                invalid="stopped the round's Spark server or sandbox, twice: its code or tests end processes they do not own",
            )
    return fresh(always=True)


def _forget_runs(tables: Iterable[_Table]) -> None:
    """Forget what these tables' runs said (a sandbox died under them): they run again from the start."""
    for table in tables:
        table.runs.clear()
        table.probe = table.shrink = None
        table.cancelled = False
        table.seconds = 0.0


def _plan_probe(table: _Table, settings: RoundSettings) -> _Planned | None:
    """The probe run, once every real run reported cleanly and passed (it uses their tests' rows)."""
    real = _real_runs(table)
    if table.tables_file is None or table.request is None or len(real) < settings.repeat:
        return None
    if not all(r.clean and not _failed(table, r) for r in real):
        return None
    first = real[0].report
    assert first is not None
    spec = table.candidate.spec
    probe, planned = probes.plan(spec, table.tables_file, table.parameters, first.calls, secrets.randbits(32))
    table.probe = planned
    round_id = _current_round(table)
    request = table.request(table.source, probe=probe, tests=[], record_inputs=False, round_id=round_id)
    request.deadline = min(settings.round_timeout, settings.test_timeout * (len(probe.calls) + 2) + 60)
    return _Planned(request, spec.name, "probe", "probe")


def _findings(table: _Table, run: Run | None) -> list[probes.Finding]:
    if run is None or run.report is None or run.invalid or table.probe is None:
        return []
    checks = {call.test: call.checks for call in run.report.calls if call.checks}
    return probes.judge(table.candidate.spec, table.probe, run.report.calls, checks)


def _plan_shrink(table: _Table, settings: RoundSettings) -> _Planned | None:
    findings = [f for f in _findings(table, table.runs.get("probe")) if f.label == "contract"]
    if not findings or table.tables_file is None or table.request is None or table.probe is None:
        return None
    sources = probes.inputs_of(table.candidate.spec, table.tables_file, table.parameters)
    table.shrink = probes.shrink_plan(findings[0], table.probe, sources, table.candidate.spec)
    if not table.shrink:
        return None
    probe = Probe(calls=[ProbeCall(label=p.label, inputs=p.inputs) for p in table.shrink])
    request = table.request(table.source, probe=probe, tests=[], record_inputs=False, round_id=table.round_id)
    request.deadline = min(settings.round_timeout, settings.test_timeout * 4 + 2 * len(probe.calls) + 60)
    return _Planned(request, table.candidate.spec.name, "probe", "shrink")


def _current_round(table: _Table) -> str:
    return table.round_id


def _failed(table: _Table, run: Run) -> bool:
    if not run.clean or run.report is None:
        return True
    report = run.report
    return bool(
        report.import_error
        or report.collect_errors
        or report.policy
        or any(t.outcome in ("failed", "timeout") for t in report.tests)
    )


def _round_limit(table: _Table, settings: RoundSettings) -> None:
    table.runs.setdefault(
        "round-limit",
        Run(
            "real",
            "round-limit",
            RunDone(run_id="-", status="timeout"),
            invalid=f"hit the round's {settings.round_timeout:g}s limit",
        ),
    )


def _retry_mutants(stage: _Stage, round_id: str) -> None:
    """Mutants first failed by a test that did not pass the real runs: again, with the tests that did."""
    tables, settings = stage.tables, stage.settings
    queue: list[_Planned] = []
    for table in tables.values():
        real = _real_runs(table)
        if table.cancelled or not real or not all(r.clean for r in real):
            continue
        killers = judge.eligible(real)
        if not killers:
            continue
        for mutant in table.mutants:
            run = table.runs.get(mutant.name)
            if run is None:
                continue
            _, retry = judge.judge_mutant(mutant.name, mutant.advice, run, real, killers, mutant.hint)
            if retry:
                request = RunRequest(
                    run_id=secrets.token_hex(8),
                    round_id=round_id,
                    nonce=secrets.token_hex(16),
                    table=table.candidate.spec.name,
                    module=table.module,
                    module_path=table.module_rel,
                    source=mutant.source,
                    tests=table.tests,
                    only=sorted(killers),
                    stop_at_first_failure=True,
                    test_timeout=settings.test_timeout,
                    deadline=settings.round_timeout,
                    seed=secrets.randbits(32),
                )
                queue.append(_Planned(request, table.candidate.spec.name, "mutant", mutant.name, mutant))
    if queue:
        random.SystemRandom().shuffle(queue)
        _execute(stage, queue)


def _probe_problems(table: _Table) -> tuple[list[Problem], list[str]]:
    """The probe's findings as problems, and the regression tests that keep them fixed."""
    run = table.runs.get("probe")
    if run is None:
        return [Problem(ProblemKind.CONTRACT, "the contract probe did not run (the round ended first)")], []
    if run.report is None or run.invalid:
        return [Problem(ProblemKind.CONTRACT, f"probe: transform's run on rows it did not choose {run.invalid}")], []
    if run.report.import_error:
        return [
            Problem(ProblemKind.CONTRACT, f"probe: could not import the module: {clean(run.report.import_error)}")
        ], []
    findings = _findings(table, run)
    shrink = table.runs.get("shrink")
    if shrink is not None and shrink.report is not None and table.shrink:
        checks = {call.test: call.checks for call in shrink.report.calls if call.checks}
        spec = table.candidate.spec
        findings = [
            probes.shrunk(spec, f, table.shrink, shrink.report.calls, checks) if f.label == "contract" else f
            for f in findings
        ]
    tests = [
        test
        for number, finding in enumerate(findings)
        if (test := probes.regression_test(table.candidate.spec, finding, table.parameters, number)) is not None
    ]
    return [Problem(ProblemKind.CONTRACT, clean(f.message())) for f in findings], tests


def _real_runs(table: _Table) -> list[Run]:
    return [run for name, run in sorted(table.runs.items()) if run.kind == "real"]


def _verdict(table: _Table) -> Verdict:
    candidate = table.candidate
    spec = candidate.spec
    real = _real_runs(table)
    problems = judge.real_problems(spec, real, table.generated, candidate.persons)
    reports = [r.report for r in real if r.report is not None]
    failures = [t.message for report in reports for t in report.tests if t.outcome in ("failed", "timeout")]
    calls = [call for report in reports for call in report.calls]
    problems += [Problem(ProblemKind.CONTRACT, m) for m in judge.contract_problems(spec, calls, failures)]
    for run in table.runs.values():
        if run.kind != "real" and run.report is not None:
            problems += [Problem(ProblemKind.POLICY, clean(m)) for m in run.report.policy]
    passing = not problems  # the probe's findings come after: they must not hide the mutants' advice
    regressions: list[str] = []
    if candidate.probes and table.probe is not None and passing:
        found, regressions = _probe_problems(table)
        problems += found
    outcomes: list[MutantOutcome] = []
    mutation: MutationScore | None = None
    clean_real = bool(real) and all(r.clean for r in real) and len(real) >= 1
    may_mutate = clean_real and (passing or candidate.mutate_passing)
    if candidate.mutants and may_mutate:
        killers = judge.eligible(real)
        for mutant in table.mutants:
            mutant_run = table.runs.get(mutant.name)
            if mutant_run is None:
                outcomes.append(MutantOutcome(mutant.name, "survived", f"{mutant.advice} (the mutant did not run)"))
                continue
            outcome, _ = judge.judge_mutant(mutant.name, mutant.advice, mutant_run, real, killers, mutant.hint)
            outcomes.append(outcome)
        if not any(r.report and r.report.calls for r in real):
            outcomes = [
                MutantOutcome(
                    "never-called",
                    "survived",
                    "while never calling transform: each test must call transform and assert its rows",
                )
            ]
        mutation, found = judge.mutation_problems(outcomes)
        problems += found
        if judge.empty_outputs(real):
            problems.append(
                Problem(
                    ProblemKind.MUTANTS,
                    "transform returned no rows on every input your tests gave: feed rows it keeps and assert them",
                )
            )
    elif candidate.mutants and passing:
        problems.append(Problem(ProblemKind.MUTANTS, "the mutation check did not run"))
    per_test = judge.outcomes_by_test(real)
    coverage = judge.coverage_of(real)
    unique = judge.unique(problems)
    return Verdict(
        passed=not unique,
        problems=unique,
        tests_run=len(per_test),
        mutation=mutation,
        mutants=outcomes,
        tests=list(per_test),
        coverage=coverage,
        outcomes=per_test,
        seconds=table.seconds,
        regressions=regressions,
    )
