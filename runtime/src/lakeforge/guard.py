"""The detector: a PEP 578 audit hook that turns what watched code tried into a named failure.

Two places run it. `scaffold`'s validation round (inside the sandbox, in every worker) watches
the model's module and tests; a generated repo's own `pytest` (`lakeforge.testing`) watches its
transformations and unit tests, so code that behaved in scaffold's round and acts on the user's
next plain `pytest` (writes `~/.bashrc`, starts a process, reads `~/.databrickscfg`) is stopped
and named there too. An event counts when a frame of a watched file is on the stack, and it is
blocked (PermissionError) as well as reported, so attempts the code caught and hid still count.

Rules, by what each event can legitimately come from:
- processes, file writes outside the round, reads of credential files or of another process's
  environment: any candidate frame on the stack (Spark's own processes start on a thread no
  candidate frame is on);
- network: a candidate frame on the stack, unless the innermost library frame is pyspark/py4j
  talking to 127.0.0.1 (the driver's gateway and result sockets); naming localhost is free;
- ctypes, threads, the object graph: the innermost frame that is not the standard library is
  the candidate itself (numpy loads libraries, pyspark starts threads, for themselves);
- frames, tracers, eval/exec/compile: only when the candidate's own frame makes the call
  (logging reads frames and namedtuple compiles code all the time).

What Spark's JVM does is beyond an audit hook; the sandbox contains it, and the round notices
files it leaves in the sandbox's private /tmp (`plugin.Round.scan_private_tmp`).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any

# Files and folders that hold credentials, relative to a home folder (the sandbox hides them too).
CREDENTIAL_PATHS = (
    ".databrickscfg",
    ".ssh",
    ".aws",
    ".azure",
    ".config/gcloud",
    ".kube",
    ".netrc",
    ".git-credentials",
    ".docker",
    ".pypirc",
    ".npmrc",
    ".pgpass",
    ".gnupg",
    ".config/gh",
    ".config/databricks",
)

PROCESS_EVENTS = {
    "subprocess.Popen": "started a process",
    "os.system": "started a process",
    "os.exec": "replaced the process",
    "os.spawn": "started a process",
    "os.posix_spawn": "started a process",
    "os.fork": "forked the process",
    "os.forkpty": "forked the process",
    "os.kill": "sent a signal",
    "os.killpg": "sent a signal",
    "os.startfile": "started a program",
    "pty.spawn": "started a process",
}
NETWORK_EVENTS = {
    "socket.connect": "opened a network connection",
    "socket.sendto": "sent network data",
    "socket.sendmsg": "sent network data",
    "socket.bind": "opened a listening socket",
    "socket.getaddrinfo": "looked up a host",
    "socket.gethostbyname": "looked up a host",
    "socket.gethostbyaddr": "looked up a host",
    "urllib.Request": "made an HTTP request",
}
FILE_EVENTS = {
    "os.rename": "renamed a file",
    "os.remove": "deleted a file",
    "os.rmdir": "deleted a folder",
    "os.mkdir": "created a folder",
    "os.chmod": "changed file permissions",
    "os.chown": "changed a file owner",
    "os.symlink": "created a symlink",
    "os.link": "created a hard link",
    "os.truncate": "truncated a file",
    "os.utime": "changed file times",
    "shutil.rmtree": "deleted a folder tree",
    "shutil.copyfile": "copied a file",
    "shutil.move": "moved a file",
}
# Things libraries do for themselves: counted when the innermost non-stdlib frame is the candidate.
INNERMOST_EVENTS = {
    "ctypes.dlopen": "loaded a native library with ctypes",
    "ctypes.dlsym": "looked up a native symbol with ctypes",
    "ctypes.cdata": "read raw memory with ctypes",
    "ctypes.call_function": "called a native function with ctypes",
    "_thread.start_new_thread": "started a thread",
    "gc.get_objects": "walked the object graph",
    "gc.get_referrers": "walked the object graph",
    "gc.get_referents": "walked the object graph",
}
# Things the standard library does all the time (logging reads frames, namedtuple compiles):
# counted only when the candidate's own frame makes the call.
IMMEDIATE_EVENTS = {
    "sys._getframe": "inspected the call stack",
    "sys._current_frames": "inspected other threads' stacks",
    "sys.settrace": "installed a tracer",
    "sys.setprofile": "installed a profiler",
    "sys.addaudithook": "installed an audit hook",
    "exec": "ran dynamic code (eval/exec)",
    "compile": "compiled dynamic code",
    "marshal.loads": "loaded marshalled code",
    "code.__new__": "built a code object",
    "object.__getattr__": "read an interpreter internal",
}
WATCHED = {
    *PROCESS_EVENTS,
    *NETWORK_EVENTS,
    *FILE_EVENTS,
    *INNERMOST_EVENTS,
    *IMMEDIATE_EVENTS,
    "open",
    "socket.__new__",
}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_LOOPBACK = {"127.0.0.1", "::1", "localhost", "0.0.0.0", ""}
_LOOKUPS = {"socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr"}
_TWO_PATHS = {"os.rename", "os.symlink", "os.link", "shutil.copyfile", "shutil.move"}  # (source, target)
_TRUSTED_NETWORK = (f"{os.sep}pyspark{os.sep}", f"{os.sep}py4j{os.sep}")
# pyspark writes its own temp files (local data sent to the JVM) under the temp folder.
_TRUSTED_WRITERS = _TRUSTED_NETWORK


class PolicyViolation(PermissionError):
    """Raised into candidate code when the detector blocks what it tried."""


def _stdlib_roots() -> tuple[str, ...]:
    # The base interpreter's library (a venv's own `platstdlib` is the venv: its site-packages
    # are not the standard library).
    return (os.path.dirname(os.__file__) + os.sep,)


class Detector:
    """Watches audit events; reports `(table, message)` for each attempt a candidate made.

    `files` maps each candidate file (absolute path) to its table; `writable` are the roots where
    writes belong (the shadow copy, scratch, HOME); `credentials` the paths nobody may read.
    """

    def __init__(
        self,
        files: dict[str, str],
        writable: Iterable[str],
        credentials: Iterable[str],
        report: Callable[[str, str], None],
        root: str,
        temp_roots: Iterable[str] = (),
        scope: str = "the round",
    ) -> None:
        self.scope = scope  # what "outside" means in messages: the round, or tmp_path
        self.files = dict(files)
        self.temp_roots = tuple(os.path.join(os.path.realpath(p), "") for p in temp_roots)
        self.writable = tuple(os.path.join(os.path.realpath(p), "") for p in writable)
        self.credentials = tuple(os.path.realpath(p) for p in credentials)
        self.credential_names = tuple({os.path.basename(p) for p in self.credentials})
        self.report = report
        self.root = os.path.join(root, "")
        self.stdlib = _stdlib_roots()
        self.busy = threading.local()
        self.suspended = False  # while the round itself (not a candidate) works

    def install(self) -> None:
        sys.addaudithook(self._hook)
        _audit_thread_starts()

    def _hook(self, event: str, args: tuple[object, ...]) -> None:
        if event not in WATCHED or self.suspended or getattr(self.busy, "on", False):
            return
        self.busy.on = True
        try:
            verdict = self._judge(event, args)
        except Exception:  # the detector must never break the round by its own mistake
            verdict = None
        finally:
            self.busy.on = False
        if verdict is not None:
            table, where, what = verdict
            self.report(table, f"{where} {what}")
            raise PolicyViolation(f"scaffold sandbox policy: {what} is not allowed in generated code")

    def _stack(self) -> tuple[tuple[str, str, int] | None, str, str]:
        """(nearest candidate frame as (table, file, line), innermost non-stdlib file, immediate caller file)."""
        frame = _caller()
        immediate = frame.f_code.co_filename if frame is not None else ""
        innermost = ""
        while frame is not None:
            filename = frame.f_code.co_filename
            table = self.files.get(filename)
            if table is not None:
                return (table, filename, frame.f_lineno), innermost or filename, immediate
            if not innermost and not self._stdlib(filename):
                innermost = filename
            frame = frame.f_back
        return None, innermost, immediate

    def _own_caller(self) -> bool:
        """Whether the frame that raised the event could be a candidate's: its file is one, or is
        code built from a string (which the stack walk then attributes). Every other caller makes
        an immediate event none of the candidates' business, so the whole walk can be skipped."""
        frame = _caller()
        filename = frame.f_code.co_filename if frame is not None else ""
        return filename in self.files or filename in ("<string>", "<stdin>")

    def _stdlib(self, filename: str) -> bool:
        if filename.startswith("<frozen"):
            return True
        return filename.startswith(self.stdlib) and "-packages" not in filename

    def _where(self, candidate: tuple[str, str, int]) -> str:
        _, filename, line = candidate
        return f"{filename.removeprefix(self.root)} line {line}"

    def _judge(self, event: str, args: tuple[object, ...]) -> tuple[str, str, str] | None:
        if event == "open":
            return self._open(args)
        if event in IMMEDIATE_EVENTS and not self._own_caller():
            return None  # the library's own doing (pluggy reads __code__, logging reads frames): no walk
        candidate, innermost, immediate = self._stack()
        if candidate is None:
            return None
        table, where = candidate[0], self._where(candidate)
        # Code a candidate built from a string runs as "<string>": still the candidate's doing.
        own = {candidate[1], "<string>", "<stdin>"}
        if event in IMMEDIATE_EVENTS:
            return (table, where, IMMEDIATE_EVENTS[event]) if immediate in own else None
        if event in INNERMOST_EVENTS:
            return (table, where, INNERMOST_EVENTS[event]) if innermost in own else None
        if event in PROCESS_EVENTS:
            command = _command(event, args)
            return table, where, PROCESS_EVENTS[event] + (f": {command}" if command else "")
        if event == "socket.__new__":
            family = args[1] if len(args) > 1 else None
            return (
                (table, where, "opened a unix socket (a way to the host's agents and daemons)") if family == 1 else None
            )
        if event in NETWORK_EVENTS:
            address = _address(event, args)
            if any(t in innermost for t in _TRUSTED_NETWORK) and _loopback(address):
                return None  # pyspark talking to its own JVM
            if event in _LOOKUPS and _loopback(address):
                return None  # naming localhost sends nothing anywhere; the connect that follows is judged

            return table, where, f"{NETWORK_EVENTS[event]}: {address}"
        paths = [os.fsdecode(a) for a in args[:2] if isinstance(a, (str, bytes, os.PathLike))]
        written = paths[:1]
        if event in _TWO_PATHS and len(paths) == 2:
            source, target = paths
            if self._secret(source):
                return table, where, f"{FILE_EVENTS[event]} from a credential file: {source}"
            written = [target] if event in ("os.symlink", "os.link", "shutil.copyfile") else paths
        for path in written:
            if self._library_temp_file(innermost, os.path.realpath(path)):
                continue
            if event in FILE_EVENTS and not self._may_write(path):
                return table, where, f"{FILE_EVENTS[event]} outside {self.scope}: {path}"
        return None

    def _secret(self, path: str) -> bool:
        full = os.path.realpath(path)
        return any(full == c or full.startswith(c + os.sep) for c in self.credentials)

    def _open(self, args: tuple[object, ...]) -> tuple[str, str, str] | None:
        path, mode, flags = (*args, None, None, None)[:3]
        if not isinstance(path, (str, bytes, os.PathLike)):
            return None  # an inherited file descriptor
        path = os.fsdecode(path)
        writing = (isinstance(mode, str) and any(m in mode for m in "wax+")) or (
            isinstance(flags, int) and bool(flags & _WRITE_FLAGS)
        )
        # Most opens are imports reading .py files: decide cheaply before resolving the path.
        if not writing and not path.startswith("/proc/") and not any(n in path for n in self.credential_names):
            return None
        full = os.path.realpath(path)
        secret = self._secret(full)
        other = _other_process(full)
        if not (secret or other or (writing and not self._may_write(full))):
            return None
        candidate, innermost, _ = self._stack()
        if candidate is None:
            return None
        if writing and not (secret or other) and self._library_temp_file(innermost, full):
            return None
        if secret:
            return candidate[0], self._where(candidate), f"read a credential file: {path}"
        if other:
            return candidate[0], self._where(candidate), f"read another process's environment: {path}"
        return candidate[0], self._where(candidate), f"wrote a file outside {self.scope}: {path}"

    def _library_temp_file(self, innermost: str, full: str) -> bool:
        """pyspark writing its own temp file under the temp folder (not the code it runs)."""
        return any(t in innermost for t in _TRUSTED_WRITERS) and os.path.join(full, "").startswith(self.temp_roots)

    def _may_write(self, path: str) -> bool:
        full = os.path.join(os.path.realpath(path), "")
        return full.startswith(self.writable) or full in ("/dev/null/", "/dev/stdout/", "/dev/stderr/")


def _caller() -> FrameType | None:
    """The innermost frame outside this file: what raised the audit event (the hook's and the
    detector's own frames are never the actor)."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename == __file__:
        frame = frame.f_back
    return frame


def _audit_thread_starts() -> None:
    """Python 3.13 audits `_thread.start_new_thread`; before it, raise the same event ourselves."""
    if sys.version_info >= (3, 13):
        return
    import _thread
    import threading

    original = _thread.start_new_thread

    def start_new_thread(
        function: Callable[..., object], args: tuple[Any, ...], kwargs: dict[str, Any] | None = None
    ) -> int:
        sys.audit("_thread.start_new_thread", function, args, kwargs)
        return original(function, args, kwargs) if kwargs is not None else original(function, args)

    _thread.start_new_thread = start_new_thread
    threading._start_new_thread = start_new_thread  # type: ignore[attr-defined]


def _other_process(path: str) -> bool:
    """`/proc/<pid>/environ` (or cmdline, mem) of a process other than this one: its secrets."""
    parts = path.split(os.sep)
    if len(parts) < 4 or parts[1] != "proc" or parts[3] not in ("environ", "cmdline", "mem", "maps"):
        return False
    return parts[2] not in ("self", "thread-self", str(os.getpid()))


def _command(event: str, args: tuple[object, ...]) -> str:
    if event in ("os.kill", "os.killpg") and len(args) > 1:
        return f"signal {args[1]} to process {args[0]}"
    if event in ("os.fork", "os.forkpty"):
        return ""
    if event == "subprocess.Popen" and len(args) > 1:
        argv = args[1]
        text = " ".join(map(os.fsdecode, argv)) if isinstance(argv, (list, tuple)) else os.fsdecode(argv)  # type: ignore[arg-type]
    elif args:
        first = os.fsdecode(args[0]) if isinstance(args[0], (str, bytes)) else str(args[0])
        text = first if event == "os.system" else " ".join([first, *map(str, args[1:2])])
    else:
        text = ""
    return text[:200]


def _address(event: str, args: tuple[object, ...]) -> str:
    if event in ("socket.connect", "socket.bind", "socket.sendto") and len(args) > 1:
        address = args[-1]
        if isinstance(address, tuple) and len(address) >= 2:
            return f"{address[0]}:{address[1]}"
        return str(address)
    if args:
        value = args[0]
        return getattr(value, "full_url", None) or str(value)
    return ""


def _loopback(address: str) -> bool:
    host = address.rsplit(":", 1)[0] if ":" in address else address
    return host in _LOOPBACK
