"""`scaffold sandbox`: prove the sandbox holds, in the view the validation round gets.

A small script runs inside the sandbox with the round's own layout and environment and tries
what an escape needs: write a file outside, connect to a listener on the host's loopback and to
a unix socket on the host, read a canary credential file, fill the scratch space past its cap,
see `/run`. Each attempt is judged from the host's side where it can be (did the file appear,
did a listener get a connection, did the canary's text come back), and from what the script
could measure where only the inside can see (how much it could write, which sockets it saw).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from scaffolder.cleanup import remove_tree
from scaffolder.sandbox import (
    INSIDE_HOME,
    INSIDE_SCRATCH,
    Sandbox,
    SandboxMode,
    round_layout,
    sandbox_environment,
    user_homes,
)

_SCRIPT = """
import json, os, socket, stat, sys
marker, canary, port, unix_path, cap = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
homes = sys.argv[6:]
out = {}
def attempt(name, action):
    try:
        out[name] = action()
    except OSError as exc:
        out[name] = f"{type(exc).__name__}: {exc.strerror or exc}"
def write():
    with open(marker, "w") as handle:
        handle.write("escaped")
    return "wrote it"
attempt("write", write)
attempt("connect", lambda: socket.create_connection(("127.0.0.1", port), timeout=3).close() or "connected")
def unix():
    with socket.socket(socket.AF_UNIX) as client:
        client.settimeout(3)
        client.connect(unix_path)
    return "connected"
attempt("unix", unix)
attempt("read", lambda: open(canary).read())
def flood():
    written, chunk = 0, b"x" * (1 << 20)
    target = os.path.join(os.environ.get("TMPDIR", "/tmp"), "scaffold-probe-flood")
    try:
        with open(target, "wb") as handle:
            while written < cap * 2:
                handle.write(chunk)
                handle.flush()
                written += len(chunk)
    except OSError:
        pass
    finally:
        try:
            os.unlink(target)
        except OSError:
            pass
    return written
attempt("flood", flood)
out["run"] = [p for p in ("/run", "/var/run", "/var/lib/docker") if os.path.exists(p)]
out["homes"] = {h: sorted(os.listdir(h)) for h in homes if os.path.isdir(h)}
sockets = []
for top in ("/",):
    for folder, dirs, files in os.walk(top):
        if folder.startswith(("/proc", "/sys", "/dev")):
            dirs[:] = []
            continue
        for name in files + dirs:
            path = os.path.join(folder, name)
            try:
                if stat.S_ISSOCK(os.lstat(path).st_mode):
                    sockets.append(path)
            except OSError:
                pass
        if len(sockets) > 20:
            break
out["sockets"] = sockets
print(json.dumps(out))
"""
CANARY = "token = dapi-lakeforge-sandbox-canary"
CAP_SLACK = 8 * 1024 * 1024


@dataclass
class Check:
    name: str
    blocked: bool
    detail: str


@dataclass
class ProbeResult:
    sandbox: str
    checks: list[Check]

    @property
    def confined(self) -> bool:
        return all(c.blocked for c in self.checks)


class _Listener:
    """Counts connections on a host TCP port and a host unix socket (the attacker's targets)."""

    def __init__(self, unix_path: Path, timeout: float) -> None:
        self.connections: list[tuple[str, str]] = []  # (kind, peer)
        self.tcp = socket.create_server(("127.0.0.1", 0))
        self.unix = socket.socket(socket.AF_UNIX)
        self.unix.bind(str(unix_path))
        self.unix.listen()
        for kind, server in (("tcp", self.tcp), ("unix", self.unix)):
            server.settimeout(timeout)
            threading.Thread(target=self._accept, args=(kind, server), daemon=True).start()

    @property
    def port(self) -> int:
        return int(self.tcp.getsockname()[1])

    def _accept(self, kind: str, server: socket.socket) -> None:
        try:
            connection, peer = server.accept()
            self.connections.append((kind, str(peer)))
            connection.close()
        except OSError:
            pass

    def close(self) -> None:
        self.tcp.close()
        self.unix.close()


def probe(sandbox: Sandbox, root: Path | None = None, timeout: float = 120) -> ProbeResult:
    """Run the escape attempts in the round's layout for the repo at `root` (or an empty one)."""
    base = Path(tempfile.mkdtemp(prefix="scaffold-probe-")).resolve()
    try:
        outside = base / "outside"
        outside.mkdir()
        repo = root or (base / "repo")
        repo.mkdir(exist_ok=True)
        marker, canary = outside / "marker", outside / ".databrickscfg"
        canary.write_text(CANARY + "\n")
        script = base / "round" / "probe.py"
        script.parent.mkdir()
        script.write_text(_SCRIPT)
        listener = _Listener(outside / "agent.sock", timeout)
        layout = round_layout(sandbox, repo, base / "round", os.environ)
        layout.readable.append(script.parent)
        bwrap = sandbox.mode is SandboxMode.BWRAP
        cap = layout.tmp_bytes
        argv = sandbox.wrap(
            [
                sys.executable,
                str(script),
                str(marker),
                str(canary),
                str(listener.port),
                str(outside / "agent.sock"),
                str(cap),
                *map(str, user_homes(os.environ)),
            ],
            layout,
        )
        home = INSIDE_HOME if bwrap else str(layout.scratch)
        env = sandbox_environment(os.environ, home, {"TMPDIR": INSIDE_SCRATCH if bwrap else str(layout.scratch)})
        pass_fds = [layout.seccomp_fd] if layout.seccomp_fd is not None else []
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, env=env, cwd=base, timeout=timeout, pass_fds=pass_fds
            )
        finally:
            if layout.seccomp_fd is not None:
                os.close(layout.seccomp_fd)
            listener.close()
        try:
            said = json.loads(done.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            said = {"write": done.stderr.strip()[:200]}
        return ProbeResult(sandbox.describe(), _checks(said, marker, listener, cap, bwrap, layout.readable))
    finally:
        remove_tree(base)


def _names(value: object) -> list[str]:
    """A list the probe printed, as strings (anything else: none)."""
    return [str(item) for item in value] if isinstance(value, list) else []


def _checks(
    said: dict[str, object], marker: Path, listener: _Listener, cap: int, bwrap: bool, readable: list[Path]
) -> list[Check]:
    wrote = str(said.get("write", ""))
    if wrote == "wrote it" and not marker.exists():
        wrote = "the write landed in the sandbox's private view; nothing appeared on the host"
    read = str(said.get("read", ""))
    flood = said.get("flood")
    tcp = [peer for kind, peer in listener.connections if kind == "tcp"]
    unix = [peer for kind, peer in listener.connections if kind == "unix"]
    checks = [
        Check("write outside the round", not marker.exists(), wrote),
        Check(
            "connect to the host's loopback",
            not tcp,
            f"the host listener got {tcp[0]}" if tcp else str(said.get("connect", "")),
        ),
        Check(
            "connect to a unix socket on the host",
            not unix,
            "the host's unix socket got a connection" if unix else str(said.get("unix", "")),
        ),
        Check(
            "read a credential file",
            CANARY not in read,
            "the canary came back" if CANARY in read else (read or "empty"),
        ),
    ]
    if bwrap:
        sockets = _names(said.get("sockets"))
        visible = _names(said.get("run"))
        homes = said.get("homes")
        for home, entries in homes.items() if isinstance(homes, dict) else ():
            shown = {p.relative_to(home).parts[0] for p in readable if p != Path(home) and Path(home) in p.parents}
            visible += [f"{home}/{entry}" for entry in _names(entries) if entry not in shown]
        checks += [
            Check(
                "fill the scratch space past its cap",
                isinstance(flood, int) and flood <= cap + CAP_SLACK,
                f"wrote {flood // (1024 * 1024)} MiB of a {cap // (1024 * 1024)} MiB cap"
                if isinstance(flood, int)
                else str(flood),
            ),
            Check(
                "see /run, /var/run or your home folder (beyond the interpreter)",
                not visible,
                f"visible: {', '.join(visible)}" if visible else "not in the sandbox",
            ),
            Check(
                "find a unix socket anywhere in the view",
                not sockets,
                f"found {', '.join(sockets)}" if sockets else "none anywhere",
            ),
        ]
    return checks
