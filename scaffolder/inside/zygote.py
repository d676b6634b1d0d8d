"""The sandbox's entry point: start Spark, then fork one worker per run and relay its report.

`python -m scaffolder.inside.zygote IN_FD OUT_FD` reads length-prefixed requests from the host on
IN_FD and writes length-prefixed answers on OUT_FD. It

1. starts the Spark Connect server (a JVM) and waits until it listens;
2. imports everything a run needs (pytest, the Connect client, pandas, pyarrow, chispa,
   lakeforge) — never a line of model code — while the JVM boots;
3. forks a worker per run request: a fresh process whose only way out is its own pipe. The
   zygote reads at most one bounded frame from it, waits for it to exit, kills it at its
   deadline, and tells the host how the run ended, passing the report on unread.

It stays single-threaded so every fork starts from the same clean state (gRPC is never opened
here: a fork after a gRPC channel exists is not safe).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import resource
import secrets
import select
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Literal

from scaffolder.inside.protocol import (
    HOST_MESSAGE,
    MAX_REPORT,
    MAX_REQUEST,
    Config,
    DropRound,
    Fatal,
    Ready,
    RoundFiles,
    RunDone,
    RunRequest,
    RunStatus,
    Stop,
    dump,
    read_frame,
    write_frame,
)

_HEADER = 4
_STDERR_TAIL = 4096
GRACE_SECONDS = 15.0  # past a test's own limit before its worker is stopped from outside
SETUP_SECONDS = 120.0  # from fork to the first test: the repo written, the module imported, collection

Pipe = Literal["result", "errors", "progress"]  # a worker's pipes, read by the zygote


@dataclass
class Running:
    request: RunRequest
    pid: int
    result: int  # read end of the worker's report pipe
    errors: int  # read end of its stderr
    progress: int  # read end of its progress lines (the test it starts; for the watch only)
    started: float
    test: str = ""  # the test running now, as the worker said
    test_started: float = 0.0
    progress_buffer: bytearray = field(default_factory=bytearray)
    progress_open: bool = True
    buffer: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    oversize: bool = False
    exited: float | None = None
    status: int | None = None
    killed: bool = False
    why: str = ""  # why the zygote stopped it
    result_open: bool = True
    errors_open: bool = True

    def open_pipes(self) -> list[int]:
        """The read ends still open, to select on (and close when the run is reaped)."""
        pipes = ((self.result, self.result_open), (self.errors, self.errors_open), (self.progress, self.progress_open))
        return [fd for fd, is_open in pipes if is_open]

    def close(self, pipe: Pipe) -> None:
        setattr(self, f"{pipe}_open", False)
        os.close(getattr(self, pipe))


class Zygote:
    def __init__(self, in_fd: int, out_fd: int) -> None:
        self.in_fd = in_fd
        self.out_fd = out_fd
        self.config: Config | None = None
        self.rounds: dict[str, RoundFiles] = {}
        self.running: dict[int, Running] = {}  # pid -> run
        self.server: subprocess.Popen[bytes] | None = None
        self.private = False
        self.url = ""

    # --- set-up -------------------------------------------------------------------------------

    def start(self, config: Config) -> None:
        from scaffolder.inside import isolate, server

        self.config = config
        started = time.perf_counter()
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            resource.setrlimit(resource.RLIMIT_FSIZE, (config.file_bytes, config.file_bytes))
        os.makedirs(f"{config.scratch}/spark", exist_ok=True)
        log = open(f"{config.scratch}/server.log", "wb")  # noqa: SIM115 - the server's lifetime
        command = server.server_command(config.port, config.cores, config.scratch, config.heap, config.archive)
        self.server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        _preload()  # while the JVM boots: the other core is free
        if not server.wait_for_port(config.port, 240, lambda: self.server is not None and self.server.poll() is None):
            tail = _tail(f"{config.scratch}/server.log")
            raise RuntimeError(f"the round's Spark Connect server did not start ({tail})")
        server_seconds = time.perf_counter() - started
        self.url = f"sc://127.0.0.1:{config.port}"
        self.private = (
            config.private_workers
            and os.path.isdir("/repo")
            and os.path.isdir(config.worker_tmp)
            and isolate.namespaces_work(config.worker_tmp)
        )
        self._send(Ready(server_seconds=server_seconds, private_workers=self.private))

    # --- the loop -----------------------------------------------------------------------------

    def serve(self) -> None:
        while True:
            readable = [self.in_fd]
            for run in self.running.values():
                readable += run.open_pipes()
            ready, _, _ = select.select(readable, [], [], 0.05)
            if self.in_fd in ready and not self._host():
                return
            for run in list(self.running.values()):
                if run.result_open and run.result in ready:
                    self._read_result(run)
                if run.errors_open and run.errors in ready:
                    self._read_errors(run)
                if run.progress_open and run.progress in ready:
                    self._read_progress(run)
            self._reap()
            self._enforce_deadlines()
            self._check_server()

    def _host(self) -> bool:
        try:
            message = HOST_MESSAGE.validate_json(read_frame(self.in_fd, MAX_REQUEST))
        except EOFError:
            return False
        if isinstance(message, Stop):
            return False
        if isinstance(message, RoundFiles):
            self.rounds[message.round_id] = message
        elif isinstance(message, DropRound):
            self.rounds.pop(message.round_id, None)
        elif isinstance(message, RunRequest):
            if message.round_id not in self.rounds:  # the host's mistake must not take the sandbox down
                self._send(RunDone(run_id=message.run_id, status="crashed", detail="the round's files were not sent"))
            else:
                self._spawn(message)
        return True

    def _spawn(self, request: RunRequest) -> None:
        from scaffolder.inside import worker

        assert self.config is not None
        files = self.rounds[request.round_id].files
        result_read, result_write = os.pipe()
        errors_read, errors_write = os.pipe()
        progress_read, progress_write = os.pipe()
        url = f"{self.url}/;session_id={_session_id()}"
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child: only its own pipes stay open
            try:
                devnull = os.open(os.devnull, os.O_RDWR)
                os.dup2(devnull, 0)
                os.dup2(devnull, 1)
                os.dup2(errors_write, 2)
                _close_all_but({0, 1, 2, result_write, progress_write})
                signal.signal(signal.SIGPIPE, signal.SIG_DFL)
                worker.run(
                    request,
                    files,
                    result_write,
                    progress_write,
                    url,
                    self.private,
                    self.config.data,
                    self.config.writable,
                    self.config.credentials,
                    self.config.worker_tmp,
                )
            finally:
                os._exit(71)
        for fd in (result_write, errors_write, progress_write):
            os.close(fd)
        for fd in (result_read, errors_read, progress_read):
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
        now = time.monotonic()
        self.running[pid] = Running(request, pid, result_read, errors_read, progress_read, now, test_started=now)

    def _read(self, run: Running, pipe: Pipe, size: int) -> bytes:
        """What the run's pipe holds now; b"" when nothing is ready, or when it has ended (then it is closed)."""
        try:
            chunk = os.read(getattr(run, pipe), size)
        except BlockingIOError:
            return b""
        if not chunk:
            run.close(pipe)
        return chunk

    def _read_result(self, run: Running) -> None:
        chunk = self._read(run, "result", 1 << 20)
        if not chunk:
            return
        run.buffer += chunk
        if len(run.buffer) > MAX_REPORT + _HEADER:
            run.oversize = True
            run.buffer = run.buffer[: MAX_REPORT + _HEADER]
            self._kill(run)
            run.close("result")

    def _read_errors(self, run: Running) -> None:
        chunk = self._read(run, "errors", 1 << 16)
        if chunk:
            run.stderr = (run.stderr + chunk)[-_STDERR_TAIL:]

    def _read_progress(self, run: Running) -> None:
        chunk = self._read(run, "progress", 1 << 16)
        if not chunk:
            return
        run.progress_buffer = (run.progress_buffer + chunk)[-1024:]
        lines = bytes(run.progress_buffer).split(b"\n")
        if len(lines) > 1:
            run.test = lines[-2].decode("utf-8", "replace")[:200]
            run.test_started = time.monotonic()

    def _reap(self) -> None:
        for pid, run in self.running.items():
            if run.exited is not None:
                continue
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done, status = pid, 0
            if done:
                run.exited, run.status = time.monotonic(), status
        now = time.monotonic()
        for pid, run in list(self.running.items()):
            if run.exited is None:
                continue
            # Its pipes normally end with it; something that kept them open gets a second, then goes.
            if run.open_pipes() and now - run.exited < 1.0:
                continue
            for fd in run.open_pipes():
                with contextlib.suppress(OSError):
                    os.close(fd)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            del self.running[pid]
            self._send(self._outcome(run))

    def _enforce_deadlines(self) -> None:
        """A test that outlives its limit and the grace (a hang its own timer could not stop) ends its run."""
        now = time.monotonic()
        for run in self.running.values():
            if run.exited is not None or run.killed:
                continue
            allowed = run.request.test_timeout + GRACE_SECONDS if run.test else SETUP_SECONDS
            if now - run.test_started > allowed:
                where = f"{run.test} " if run.test else "the set-up before the first test "
                run.why = f"{where}did not finish within {allowed:g}s and was stopped (a hang the time limit could not interrupt)"
                self._kill(run)
            elif now - run.started > run.request.deadline:
                run.why = f"did not finish within {run.request.deadline:g}s and was stopped"
                self._kill(run)

    def _kill(self, run: Running) -> None:
        run.killed = True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(run.pid, signal.SIGKILL)

    def _outcome(self, run: Running) -> RunDone:
        seconds = (run.exited or time.monotonic()) - run.started
        done = RunDone(run_id=run.request.run_id, status="reported", seconds=seconds)
        tail = run.stderr.decode("utf-8", "replace").strip().splitlines()
        last = tail[-1][:300] if tail else ""
        status = run.status if run.status is not None else 0
        if run.oversize:
            done.status, done.detail = "oversize", f"its report was larger than {MAX_REPORT // (1024 * 1024)} MiB"
        elif run.killed:
            done.status, done.detail = "timeout", run.why or "was stopped"
        elif os.WIFSIGNALED(status):
            number = os.WTERMSIG(status)
            if number == signal.SIGXFSZ:
                mib = run.request.limits.file_bytes // (1024 * 1024)
                done.status, done.detail = "limit", f"wrote more than {mib} MiB to one file"
            else:
                done.status, done.detail = "crashed", f"was killed by {signal.Signals(number).name}"
        elif os.waitstatus_to_exitcode(status) != 0:
            done.status = "crashed"
            done.detail = f"exited with code {os.waitstatus_to_exitcode(status)}" + (f" ({last})" if last else "")
            if "MemoryError" in run.stderr.decode("utf-8", "replace"):
                gib = run.request.limits.memory_bytes / 1024**3
                done.status, done.detail = "limit", f"used more than {gib:g} GiB of memory"
        if done.status == "reported":
            done.status, payload = _one_frame(bytes(run.buffer))
            done.report = payload
            if done.status == "no-report" and last:
                done.detail = last
        return done

    def _check_server(self) -> None:
        if self.server is not None and self.server.poll() is not None:
            assert self.config is not None
            tail = _tail(f"{self.config.scratch}/server.log")
            self._send(Fatal(message=f"the round's Spark server stopped (exit {self.server.returncode}; {tail})"))
            raise SystemExit(3)

    def _send(self, message: RunDone | Ready | Fatal) -> None:
        write_frame(self.out_fd, dump(message))

    def close(self) -> None:
        for run in self.running.values():
            self._kill(run)
        if self.server is not None and self.server.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.server.pid, signal.SIGKILL)


def _one_frame(data: bytes) -> tuple[RunStatus, str | None]:
    """("reported", report) for exactly one complete frame; else why not."""
    if len(data) < _HEADER:
        return "no-report", None
    size = int.from_bytes(data[:_HEADER], "big")
    if len(data) < _HEADER + size:
        return "no-report", None
    if len(data) > _HEADER + size:
        return "extra", None
    return "reported", data[_HEADER:].decode("utf-8", "replace")


def _session_id() -> str:
    raw = secrets.token_hex(16)
    return f"{raw[:8]}-{raw[8:12]}-4{raw[13:16]}-a{raw[17:20]}-{raw[20:32]}"


def _close_all_but(keep: set[int]) -> None:
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    limit = 65536 if limit == resource.RLIM_INFINITY else min(limit, 65536)
    previous = -1
    for fd in [*sorted(keep), limit]:
        if previous + 1 < fd:  # closerange(n, n) would reach close_range(n, -1): every descriptor
            os.closerange(previous + 1, fd)
        previous = fd


def _preload() -> None:
    """What every run imports, imported once here so a fork starts with it (no model code); then the
    heap is frozen, so no run's garbage collection walks (or copies) the zygote's objects."""
    import gc
    import importlib
    import xml.etree.ElementTree  # noqa: F401 - junitxml's

    import _pytest.assertion.rewrite
    import _pytest.config
    import _pytest.python
    import chispa  # noqa: F401
    import grpc._channel  # noqa: F401
    import pandas  # noqa: F401
    import pyarrow
    import pyarrow.pandas_compat  # noqa: F401
    import pytest  # noqa: F401
    from pyspark.sql import SparkSession, Window, functions, types  # noqa: F401
    from pyspark.sql.connect import dataframe, session, window  # noqa: F401

    import lakeforge.contract
    import lakeforge.guard
    import lakeforge.testing  # noqa: F401
    import scaffolder.inside.mutation_ops
    import scaffolder.inside.worker  # noqa: F401

    for name in (*_pytest.config.default_plugins, "pdb", "wcwidth"):  # what pytest.main imports
        with contextlib.suppress(ImportError):
            importlib.import_module(name if name in ("pdb", "wcwidth") else f"_pytest.{name}")
    gc.collect()
    gc.freeze()


def _tail(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 4000))
            lines = [line for line in handle.read().decode("utf-8", "replace").splitlines() if line.strip()]
    except OSError:
        return "no log"
    errors = [line for line in lines if "Exception" in line or "ERROR" in line]
    return (errors or lines or ["no log"])[-1][:300]


def main(argv: list[str]) -> int:
    in_fd, out_fd = int(argv[0]), int(argv[1])
    zygote = Zygote(in_fd, out_fd)
    try:
        first = HOST_MESSAGE.validate_json(read_frame(in_fd, MAX_REQUEST))
        if not isinstance(first, Config):
            raise RuntimeError("the first message must be the round's config")
        zygote.start(first)
        zygote.serve()
    except SystemExit as exc:
        return int(exc.code or 0)
    except BaseException as exc:
        with contextlib.suppress(Exception):
            write_frame(out_fd, dump(Fatal(message=f"{type(exc).__name__}: {exc}"[:500])))
        traceback.print_exc()
        return 2
    finally:
        zygote.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
