"""The OS sandbox model-written code runs in: bubblewrap on Linux, Seatbelt on macOS.

The validation round runs the Spark Connect server, the zygote and every worker inside it, the
way Codex CLI and Anthropic's sandbox runtime confine agent code. On Linux the view is built up
from nothing rather than cut down from the host's `/`, so only what the round needs exists:

- read-only: `/usr` (and the `/bin`, `/lib*` links into it), the few `/etc` files the dynamic
  linker, Python and Java read, the interpreter with its packages, the JDK, the JVM class-data
  cache; a synthetic `/etc/passwd`, `/etc/hosts` and host name (`sandbox`) so nothing of the
  machine's identity is inside; the repo's `data/` at `/data`;
- writable: a size-capped `/scratch` (the Spark server's files) and an empty, size-capped `HOME`,
  and nothing else; `/tmp` is an empty read-only folder, and each worker mounts its own capped
  `/tmp` in its own namespace (`inside/isolate.py`), so no run sees another's files;
- never: the user's home, the real repo, `/run`, `/var`, the host's `/tmp`, `/sys`, `/mnt` — no
  path where a host unix socket (docker, the session bus, ssh or gpg agents) could be, and a
  seccomp filter that refuses `socket(AF_UNIX)` and io_uring besides;
- a new network namespace (loopback only: the Connect server binds 127.0.0.1 in it), its own
  process, IPC and UTS namespaces, killed with scaffold, no terminal, rlimits on file size and
  core dumps, and an environment built from an allowlist so tokens never reach it.

With no sandbox available, `scaffold fill` with a model refuses to run the round and says why
and how to fix it, unless the user opts out (`--no-sandbox`, `[tool.scaffold] sandbox = "off"`,
`SCAFFOLD_SANDBOX=off`).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import platform
import pwd
import resource
import shutil
import struct
import subprocess
import sys
import sysconfig
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from lakeforge.guard import CREDENTIAL_PATHS
from scaffolder.errors import ScaffoldError

# What the sandboxed round may see of the parent's environment. Everything else (tokens, cloud
# credentials, SPARK_REMOTE, SSH_AUTH_SOCK, proxies, ...) stays out.
ENV_ALLOWED = ("LANG", "LANGUAGE", "TZ", "PYTHONIOENCODING", "PYTHONUTF8", "LAKEFORGE_JVM_CDS")
ENV_ALLOWED_PREFIXES = ("LC_",)
INSIDE_HOME = "/home/scaffold"
INSIDE_DATA = "/data"
INSIDE_REPO = "/repo"  # the mount point each worker's private repo goes on
INSIDE_SCRATCH = "/scratch"  # the server's warehouse, local dirs and JVM temp files; fallback workers' folders
INSIDE_WORKER_TMP = "/wtmp"  # each worker's private temp folder when the interpreter itself lives under /tmp
SYSTEM_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")
# /etc entries the dynamic linker, Python and Java read; everything else of /etc stays out.
ETC_SHOWN = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "timezone", "mime.types")
ETC_GLOBS = ("java-*", "python3*")
TMP_BYTES = 1024 * 1024 * 1024  # the round's whole /tmp: the Spark server's scratch and fallback workers
HOME_BYTES = 16 * 1024 * 1024
FILE_BYTES = 1024 * 1024 * 1024  # RLIMIT_FSIZE for everything in the sandbox


class SandboxMode(str, Enum):
    AUTO = "auto"
    BWRAP = "bwrap"
    SEATBELT = "seatbelt"
    OFF = "off"


class SandboxUnavailable(ScaffoldError):
    """No sandbox can run here; the message says why and how to get one (or how to opt out)."""

    def __init__(self, reason: str, fix: str = "") -> None:
        self.reason = reason
        self.fix = fix
        super().__init__(
            f"no sandbox for model-written code: {reason}{'; ' + fix if fix else ''}. "
            "To run it unconfined anyway, pass --no-sandbox (or SCAFFOLD_SANDBOX=off)"
        )


@dataclass
class Layout:
    """What one sandboxed process may see and touch.

    Host paths in `readable` appear read-only at the same path; `mounts` appear read-only at the
    inside path given; `etc` files become `/etc/<name>`. Everything writable is a size-capped
    tmpfs (bubblewrap) or, where no tmpfs can be made (Seatbelt, off), the host `scratch` folder.
    """

    scratch: Path  # host folder: the round's temp files when the sandbox cannot give a private /tmp
    readable: list[Path] = field(default_factory=list)
    mounts: list[tuple[Path, str]] = field(default_factory=list)
    etc: dict[str, Path] = field(default_factory=dict)  # synthetic /etc files (passwd, group, hosts)
    hidden: list[Path] = field(default_factory=list)  # roots a deny-by-path sandbox must hide (Seatbelt)
    credentials: list[Path] = field(default_factory=list)
    seccomp_fd: int | None = None  # an open fd holding `seccomp_program()`, for bubblewrap's --seccomp
    tmp_bytes: int = TMP_BYTES
    home_bytes: int = HOME_BYTES


def user_homes(environ: Mapping[str, str]) -> list[Path]:
    """$HOME and the account's home from the password database (they differ under sudo or tests)."""
    homes = []
    if environ.get("HOME"):
        homes.append(Path(environ["HOME"]))
    with contextlib.suppress(KeyError):  # a uid without a passwd entry (some containers)
        homes.append(Path(pwd.getpwuid(os.getuid()).pw_dir))
    return list(dict.fromkeys(h.resolve() for h in homes if str(h) not in ("", "/")))


def credential_paths(homes: Sequence[Path], repo: Path | None = None) -> list[Path]:
    """The credential files and folders that exist on this machine, and the repo's `.env` files."""
    found = [home / rel for home in homes for rel in CREDENTIAL_PATHS if (home / rel).exists()]
    if repo is not None:
        found += sorted(p for p in repo.glob(".env*") if p.is_file())
    return list(dict.fromkeys(found))


def _package_dir(name: str) -> Path | None:
    with contextlib.suppress(ImportError, ValueError):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            return Path(next(iter(spec.submodule_search_locations))).resolve()
    return None


def java_home() -> Path | None:
    if os.environ.get("JAVA_HOME") and (Path(os.environ["JAVA_HOME"]) / "bin" / "java").exists():
        return Path(os.environ["JAVA_HOME"]).resolve()
    java = shutil.which("java")
    return Path(java).resolve().parents[1] if java else None


def interpreter_paths() -> list[Path]:
    """What the round's Python and Java read: the interpreter's prefixes, its site-packages, the
    packages the round imports wherever they are installed (an editable checkout shows only the
    package folder, not the checkout), and the JDK."""
    prefixes = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}
    paths = set(prefixes)
    paths.add(Path(sys.executable).resolve().parent)
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        with contextlib.suppress(KeyError):
            paths.add(Path(sysconfig.get_paths()[key]).resolve())
    for entry in sys.path:
        if entry and Path(entry).exists():
            resolved = Path(entry).resolve()
            if any(_under(prefix, resolved) for prefix in prefixes) or "-packages" in resolved.name:
                paths.add(resolved)
    for package in ("scaffolder", "lakeforge", "pyspark", "pytest", "_pytest", "chispa", "coverage"):
        found = _package_dir(package)
        if found is not None:
            paths.add(found)
    home = java_home()
    if home is not None:
        paths.add(home)
    return sorted(p for p in paths if p.exists())


def sandbox_environment(environ: Mapping[str, str], home: str, extra: Mapping[str, str]) -> dict[str, str]:
    """The child's whole environment: the allowlist, a temporary HOME, and what the round sets."""
    env = {k: v for k, v in environ.items() if k in ENV_ALLOWED or k.startswith(ENV_ALLOWED_PREFIXES)}
    env.update({"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home, "TMPDIR": "/tmp", "USER": "scaffold"})
    java = java_home()
    if java is not None:
        env["JAVA_HOME"] = str(java)
    env.update(extra)
    return env


def synthetic_etc(folder: Path) -> dict[str, Path]:
    """/etc files that say nothing about this machine: one user, loopback hosts, a plain nsswitch."""
    uid, gid = os.getuid(), os.getgid()
    files = {
        "passwd": f"scaffold:x:{uid}:{gid}:scaffold:{INSIDE_HOME}:/bin/sh\n",
        "group": f"scaffold:x:{gid}:\n",
        "hosts": "127.0.0.1 localhost sandbox\n::1 localhost\n",
        "hostname": "sandbox\n",
        "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files\n",
    }
    folder.mkdir(parents=True, exist_ok=True)
    found = {}
    for name, text in files.items():
        (folder / name).write_text(text)
        found[name] = folder / name
    return found


def seccomp_program() -> bytes:
    """A classic-BPF seccomp filter: refuse socket(AF_UNIX, ...) and io_uring; allow the rest.

    Path sockets need `socket(AF_UNIX)`; `socketpair` (which Python and the JVM use for wake-ups)
    stays allowed and can reach nothing. io_uring could open and connect sockets without a
    system call the filter sees, so it is refused too. A syscall of another ABI (x32, i386 on
    x86_64) is refused outright.
    """
    machine = platform.machine()
    arch, socket_nr, io_uring_setup = {
        "x86_64": (0xC000003E, 41, 425),
        "aarch64": (0xC00000B7, 198, 425),
    }[machine]
    load, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06
    allow, errno = 0x7FFF0000, 0x00050000
    eacces, enosys = 13, 38
    program = [
        (load, 0, 0, 4),  # 0: A = arch
        (jeq, 1, 0, arch),  # 1: native -> 3
        (ret, 0, 0, errno | eacces),  # 2: another ABI
        (load, 0, 0, 0),  # 3: A = syscall number
        (jge, 0, 1, 0x40000000),  # 4: x32 -> 5, else 6
        (ret, 0, 0, errno | eacces),  # 5
        (jeq, 0, 1, io_uring_setup),  # 6: io_uring_setup -> 7, else 8
        (ret, 0, 0, errno | enosys),  # 7
        (jeq, 0, 3, socket_nr),  # 8: socket -> 9, else 12
        (load, 0, 0, 16),  # 9: A = args[0] (low 32 bits): the address family
        (jeq, 0, 1, 1),  # 10: AF_UNIX -> 11, else 12
        (ret, 0, 0, errno | eacces),  # 11
        (ret, 0, 0, allow),  # 12
    ]
    return b"".join(struct.pack("<HBBI", *instruction) for instruction in program)


def seccomp_supported() -> bool:
    return platform.machine() in ("x86_64", "aarch64")


def worker_tmp(readable: Sequence[Path]) -> str:
    """/tmp for each worker, unless the interpreter or its packages live there (a venv in /tmp):
    a private /tmp over it would hide them, so the workers' own temp folder goes elsewhere."""
    return INSIDE_WORKER_TMP if any(_under(Path("/tmp"), p) for p in readable) else "/tmp"


def round_layout(sandbox: Sandbox, root: Path, base: Path, environ: Mapping[str, str]) -> Layout:
    """What the validation round (and `scaffold sandbox`'s proof) may see, for this repo and sandbox.

    `base` is a fresh host folder of the round's own: synthetic /etc files and the seccomp program
    live there, and the scratch folder for sandboxes without a private /tmp.
    """
    from lakeforge.jvm import cache_dir

    bwrap = sandbox.mode is SandboxMode.BWRAP
    scratch = base / "scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    homes = user_homes(environ)
    readable = [*interpreter_paths()]
    if cache_dir().is_dir():
        readable.append(cache_dir().resolve())
    data = root / "data"
    layout = Layout(
        scratch=scratch,
        readable=readable if bwrap or not data.is_dir() else [*readable, data.resolve()],
        mounts=[(data.resolve(), INSIDE_DATA)] if bwrap and data.is_dir() else [],
        etc=synthetic_etc(base / "etc") if bwrap else {},
        hidden=[*homes, root.resolve()],
        credentials=credential_paths(homes, root),
    )
    if bwrap and seccomp_supported():
        program = base / "seccomp.bpf"
        program.write_bytes(seccomp_program())
        layout.seccomp_fd = os.open(program, os.O_RDONLY)
    return layout


class Sandbox:
    """Off: the round runs with only the in-process detector. Subclasses confine it."""

    mode = SandboxMode.OFF
    private_tmp = False  # the sandbox gives the round a private /tmp (and /repo mount point)

    def describe(self) -> str:
        return "no sandbox (opted out): model-written code runs with your user's rights"

    def wrap(self, argv: Sequence[str], layout: Layout) -> list[str]:
        return list(argv)

    def limits(self) -> None:
        """Resource limits for the sandbox's first process (inherited by everything in it)."""
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        with contextlib.suppress(ValueError, OSError):
            _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
            limit = FILE_BYTES if hard == resource.RLIM_INFINITY else min(FILE_BYTES, hard)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


class Bubblewrap(Sandbox):
    mode = SandboxMode.BWRAP
    private_tmp = True

    def __init__(self, binary: str) -> None:
        self.binary = binary

    def describe(self) -> str:
        return (
            f"bubblewrap ({self.binary}): only the interpreter, Java and /usr visible (read-only), no network, "
            "no host sockets, a size-capped scratch and HOME, a private capped /tmp per run"
        )

    def wrap(self, argv: Sequence[str], layout: Layout) -> list[str]:
        args = [self.binary]
        for name in SYSTEM_DIRS:
            host = Path("/") / name
            if host.is_symlink():
                args += ["--symlink", os.readlink(host), str(host)]
            elif host.is_dir():
                args += ["--ro-bind", str(host), str(host)]
        etc = Path("/etc")
        shown = [etc / name for name in ETC_SHOWN] + [p for pattern in ETC_GLOBS for p in sorted(etc.glob(pattern))]
        for path in shown:
            if path.exists() and path.name not in layout.etc:
                args += ["--ro-bind", str(path), str(path)]
        for name, source in layout.etc.items():
            args += ["--ro-bind", str(source), f"/etc/{name}"]
        args += ["--proc", "/proc", "--dev", "/dev"]
        args += ["--size", str(layout.tmp_bytes), "--tmpfs", INSIDE_SCRATCH]
        args += ["--tmpfs", "/tmp"]  # read-only at the end: each worker mounts its own /tmp
        args += ["--size", str(layout.home_bytes), "--tmpfs", INSIDE_HOME]
        args += ["--dir", INSIDE_REPO, "--dir", INSIDE_WORKER_TMP]
        done: list[Path] = []
        for path in sorted(set(layout.readable), key=lambda p: len(p.parts)):
            if any(_under(root, path) for root in (*done, Path("/usr"))):
                continue  # a folder already shown brings its subfolders
            args += ["--ro-bind", str(path), str(path)]
            done.append(path)
        for source, target in layout.mounts:
            args += ["--ro-bind", str(source), target]
        args += ["--remount-ro", "/tmp", "--remount-ro", "/"]
        args += [
            "--unshare-net",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--hostname",
            "sandbox",
            "--die-with-parent",
            "--new-session",
            "--chdir",
            INSIDE_HOME,
        ]
        if layout.seccomp_fd is not None:
            args += ["--seccomp", str(layout.seccomp_fd)]  # the caller passes the fd on (pass_fds)
        return [*args, "--", *argv]


class Seatbelt(Sandbox):
    """macOS `sandbox-exec` with a generated profile (deny by default)."""

    mode = SandboxMode.SEATBELT

    def __init__(self, binary: str = "/usr/bin/sandbox-exec") -> None:
        self.binary = binary

    def describe(self) -> str:
        return "Seatbelt (sandbox-exec): deny by default, writes only in the round, network only to localhost"

    def wrap(self, argv: Sequence[str], layout: Layout) -> list[str]:
        return [self.binary, "-p", seatbelt_profile(layout), *argv]


def seatbelt_profile(layout: Layout) -> str:
    """An SBPL profile: deny by default; read the system; write only in the round; localhost only.

    The credential denies come after the broad read allow and are more specific, so they win
    under either reading of SBPL precedence (last match or most specific). Unix sockets are
    denied outright: a path socket on the host (docker, an agent) is a way out.
    """

    def path_filter(path: Path) -> str:
        kind = "subpath" if path.is_dir() or not path.exists() else "literal"
        return f'({kind} "{_sbpl_string(str(path))}")'

    writable = [layout.scratch, Path("/private/tmp"), Path("/private/var/folders")]
    lines = [
        "(version 1)",
        "(deny default)",
        "; processes: the round runs the Spark Connect server (a JVM) and Python workers",
        "(allow process-exec)",
        "(allow process-fork)",
        "(allow signal (target same-sandbox))",
        "(allow process-info* (target same-sandbox))",
        "; what the JVM and Python need from the system",
        "(allow sysctl-read)",
        "(allow mach-lookup)",
        "(allow ipc-posix-shm*)",
        "(allow ipc-posix-sem)",
        "(allow iokit-open)",
        "(allow user-preference-read)",
        "(allow file-ioctl)",
        "; reads: the system, the interpreter, the packages",
        "(allow file-read*)",
        '(allow file-write* (literal "/dev/null") (literal "/dev/zero") (literal "/dev/dtracehelper"))',
        "; writes: only the round's own folders",
        "(allow file-write* " + " ".join(path_filter(p) for p in writable) + ")",
        "; network: the Spark server and its clients on localhost, nothing else, and no unix sockets",
        '(allow network-bind (local ip "localhost:*"))',
        '(allow network-inbound (local ip "localhost:*"))',
        '(allow network-outbound (remote ip "localhost:*"))',
        "(deny network-outbound (remote unix-socket))",
    ]
    if layout.hidden:
        shown = [p for p in layout.readable if any(_under(h, p) for h in layout.hidden)]
        lines += [
            "; the real home and repo: hidden, except what the interpreter and Java need",
            "(deny file-read* file-write* " + " ".join(path_filter(p) for p in layout.hidden) + ")",
            *(["(allow file-read* " + " ".join(path_filter(p) for p in shown) + ")"] if shown else []),
            "(allow file-read* file-write* " + " ".join(path_filter(p) for p in writable) + ")",
        ]
    if layout.credentials:
        lines += [
            "; credentials: last and most specific, so nothing above can allow them",
            "(deny file-read* file-write* " + " ".join(path_filter(p) for p in layout.credentials) + ")",
        ]
    return "\n".join(lines) + "\n"


def _sbpl_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _under(root: Path, path: Path) -> bool:
    return path == root or root in path.parents


_BWRAP_PROBE = ["--ro-bind", "/usr", "/usr", "--dev", "/dev", "--proc", "/proc", "--unshare-net", "--unshare-pid"]


@functools.lru_cache(maxsize=4)
def _bwrap_works(binary: str) -> str:
    """Empty when bubblewrap can create its namespaces here, else its first error line."""
    links = [
        a
        for name in ("bin", "lib", "lib64")
        if (Path("/") / name).is_symlink()
        for a in ("--symlink", os.readlink(Path("/") / name), f"/{name}")
    ]
    try:
        done = subprocess.run(
            [binary, *_BWRAP_PROBE, *links, "--die-with-parent", "--", "/usr/bin/true"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return "" if done.returncode == 0 else (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[0]


def resolve_sandbox(setting: SandboxMode | str, environ: Mapping[str, str] | None = None) -> Sandbox:
    """The sandbox to use for `setting`; SandboxUnavailable says why none can run and what to do."""
    environ = os.environ if environ is None else environ
    mode = SandboxMode(setting)
    if mode is SandboxMode.OFF:
        return Sandbox()
    system = platform.system()
    if mode in (SandboxMode.AUTO, SandboxMode.SEATBELT) and system == "Darwin":
        if Path("/usr/bin/sandbox-exec").exists():
            return Seatbelt()
        raise SandboxUnavailable("sandbox-exec is missing from /usr/bin", "it ships with macOS")
    if mode is SandboxMode.SEATBELT:
        raise SandboxUnavailable(f"Seatbelt (sandbox-exec) exists only on macOS, this is {system}")
    if system != "Linux":
        raise SandboxUnavailable(
            f"no supported sandbox on {system}", "run scaffold in WSL 2 or a Linux container with bubblewrap"
        )
    binary = environ.get("SCAFFOLD_BWRAP") or shutil.which("bwrap")
    if not binary or not Path(binary).is_file():
        raise SandboxUnavailable(
            "bubblewrap (bwrap) is not installed",
            "install it: `sudo apt-get install bubblewrap` or `dnf install bubblewrap`",
        )
    problem = _bwrap_works(binary)
    if problem:
        hint = (
            "on Ubuntu 23.10+ AppArmor blocks unprivileged user namespaces: load the `bwrap-userns-restrict` profile "
            "(apparmor-profiles package) or `sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0`; in a "
            "container, run it with --privileged or seccomp/apparmor unconfined"
        )
        raise SandboxUnavailable(f"bubblewrap cannot create its namespaces here ({problem})", hint)
    return Bubblewrap(binary)
