"""The OS sandbox that model-written code runs in: bubblewrap on Linux, Seatbelt on macOS.

The validation round runs pytest, the generated modules and tests, and Spark's JVM. All of it is
untrusted, so all of it runs inside a sandbox, the way Codex CLI and Anthropic's sandbox runtime
confine agent code:

- a read-only view of the machine, with the user's home and the real repo hidden (only the
  interpreter, its packages, Java and the JVM class-data cache are shown again, read-only);
- writable: the round's shadow copy, a private `/tmp` and an empty temporary `HOME`;
- the repo's `data/` shown read-only inside the shadow copy (no symlink into the real repo);
- credential files (`~/.databrickscfg`, `~/.ssh`, `~/.aws`, ...) and `.env` files replaced by
  empty ones;
- no network (a new network namespace: Spark binds 127.0.0.1 inside it; nothing outside is
  reachable), its own process namespace, killed with its parent, no controlling terminal;
- an environment built from an allowlist, so tokens never reach the child.

With no sandbox available, `scaffold fill` with a model refuses to run the round and says why
and how to fix it, unless the user opts out explicitly (`--no-sandbox`, `[tool.scaffold]
sandbox = "off"`, `SCAFFOLD_SANDBOX=off`).
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import pwd
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from scaffolder.errors import ScaffoldError

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
# What the sandboxed round may see of the parent's environment. Everything else (tokens, cloud
# credentials, SPARK_REMOTE, SSH_AUTH_SOCK, proxies, ...) stays out.
ENV_ALLOWED = (
    "PATH",
    "LANG",
    "LANGUAGE",
    "TZ",
    "JAVA_HOME",
    "SPARK_HOME",
    "TERM",
    "PYTHONIOENCODING",
    "PYTHONUTF8",
    "LAKEFORGE_JVM_CDS",
)
ENV_ALLOWED_PREFIXES = ("LC_",)


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
    """What one sandboxed run may touch, in host paths."""

    workdir: Path  # the process's cwd (the shadow copy: list it in `readable`, it is not writable)
    home: Path  # an empty temporary HOME, writable
    writable: list[Path] = field(default_factory=list)  # more writable places (scratch dirs)
    readable: list[Path] = field(default_factory=list)  # shown read-only even under hidden roots
    mounts: list[tuple[Path, Path]] = field(default_factory=list)  # (host source, path inside), read-only
    hidden: list[Path] = field(default_factory=list)  # roots replaced by an empty read-only folder
    credentials: list[Path] = field(default_factory=list)  # files and folders replaced by empty ones


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


def interpreter_paths() -> list[Path]:
    """What the round's Python and Java need to read: prefixes, every sys.path entry, JAVA_HOME."""
    paths = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).resolve().parent}
    paths.add(Path(sysconfig.get_paths()["stdlib"]))
    paths.update(Path(p) for p in sys.path if p and Path(p).exists())
    if os.environ.get("JAVA_HOME"):
        paths.add(Path(os.environ["JAVA_HOME"]))
    java = shutil.which("java")
    if java:
        paths.add(Path(java).resolve().parents[1])
    return sorted({p.resolve() for p in paths if p.exists()})


def sandbox_environment(environ: Mapping[str, str], home: Path, extra: Mapping[str, str]) -> dict[str, str]:
    """The child's whole environment: the allowlist, a temporary HOME, and what the round sets."""
    env = {k: v for k, v in environ.items() if k in ENV_ALLOWED or k.startswith(ENV_ALLOWED_PREFIXES)}
    env.setdefault("PATH", os.defpath)
    env.update({"HOME": str(home), "TMPDIR": "/tmp", "USER": "scaffold", **extra})
    return env


class Sandbox:
    """Off: the round runs with only the in-process detector. Subclasses confine it."""

    mode = SandboxMode.OFF

    def describe(self) -> str:
        return "no sandbox (opted out): model-written code runs with your user's rights"

    def wrap(self, argv: Sequence[str], layout: Layout) -> list[str]:
        return list(argv)


class Bubblewrap(Sandbox):
    mode = SandboxMode.BWRAP

    def __init__(self, binary: str) -> None:
        self.binary = binary

    def describe(self) -> str:
        return f"bubblewrap ({self.binary}): read-only system, no network, private /tmp and HOME, credentials hidden"

    def wrap(self, argv: Sequence[str], layout: Layout) -> list[str]:
        args = [self.binary, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
        hidden = [p for p in dict.fromkeys(layout.hidden) if p != Path("/") and not _under(Path("/tmp"), p)]
        for root in hidden:
            args += ["--tmpfs", str(root)]
        masked = [Path("/tmp"), *hidden]
        # Shown again, read-only: what the interpreter and Java need, when it lies under a hidden root
        # (once: a folder already shown brings its subfolders). No cgroup namespace: Java 17 fails
        # to start in one (a NullPointerException in its cgroup v1 detection).
        shown: list[Path] = []
        for path in sorted(set(layout.readable), key=lambda p: len(p.parts)):
            if any(_under(root, path) for root in masked) and not any(_under(done, path) for done in shown):
                args += ["--ro-bind", str(path), str(path)]
                shown.append(path)
        for path in [layout.home, *layout.writable]:
            args += ["--bind", str(path), str(path)]
        for source, target in layout.mounts:
            args += ["--ro-bind", str(source), str(target)]
        for path in layout.credentials:
            if path.is_dir():
                args += ["--tmpfs", str(path), "--remount-ro", str(path)]
            else:
                args += ["--ro-bind", "/dev/null", str(path)]
        for root in hidden:
            args += ["--remount-ro", str(root)]
        args += [
            "--unshare-net",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--die-with-parent",
            "--new-session",
            "--chdir",
            str(layout.workdir),
            "--",
        ]
        return args + list(argv)


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
    under either reading of SBPL precedence (last match or most specific).
    """

    def path_filter(path: Path) -> str:
        kind = "subpath" if path.is_dir() or not path.exists() else "literal"
        return f'({kind} "{_sbpl_string(str(path))}")'

    writable = [layout.home, *layout.writable, Path("/private/tmp"), Path("/private/var/folders")]
    lines = [
        "(version 1)",
        "(deny default)",
        "; processes: the round runs pytest, which starts Spark's JVM",
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
        "; network: Spark's driver and Python workers on localhost, nothing else",
        '(allow network-bind (local ip "localhost:*"))',
        '(allow network-inbound (local ip "localhost:*"))',
        '(allow network-outbound (remote ip "localhost:*"))',
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


_BWRAP_PROBE = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-net", "--unshare-pid"]


@functools.lru_cache(maxsize=4)
def _bwrap_works(binary: str) -> str:
    """Empty when bubblewrap can create its namespaces here, else its first error line."""
    try:
        done = subprocess.run(
            [binary, *_BWRAP_PROBE, "--die-with-parent", "--", "/bin/true"], capture_output=True, text=True, timeout=30
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
