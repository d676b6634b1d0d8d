"""`scaffold sandbox`: prove the sandbox holds, with the three things an escape needs.

A small script runs inside the sandbox exactly as a validation round would and tries to write
a file outside the round, connect to a listener on the host's loopback, and read a canary
credential file. Each attempt is judged from the host's side (did the file appear, did the
listener get a connection, did the canary's text come back), not from the script's word.
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

from scaffolder.sandbox import (
    Layout,
    Sandbox,
    credential_paths,
    interpreter_paths,
    sandbox_environment,
    user_homes,
)

_SCRIPT = """
import json, socket, sys
marker, canary, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
out = {}
try:
    open(marker, "w").write("escaped")
    out["write"] = "wrote it"
except OSError as exc:
    out["write"] = f"{type(exc).__name__}: {exc.strerror or exc}"
try:
    socket.create_connection(("127.0.0.1", port), timeout=3).close()
    out["connect"] = "connected"
except OSError as exc:
    out["connect"] = f"{type(exc).__name__}: {exc.strerror or exc}"
try:
    out["read"] = open(canary).read()
except OSError as exc:
    out["read"] = f"{type(exc).__name__}: {exc.strerror or exc}"
print(json.dumps(out))
"""
CANARY = "token = dapi-lakeforge-sandbox-canary"


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


def probe(sandbox: Sandbox, timeout: float = 60) -> ProbeResult:
    with tempfile.TemporaryDirectory(prefix="scaffold-probe-") as tmp:
        base = Path(tmp).resolve()
        outside, work, home, scratch = base / "outside", base / "round", base / "round" / "home", base / "round" / "tmp"
        for folder in (outside, home, scratch):
            folder.mkdir(parents=True)
        marker, canary = outside / "marker", outside / ".databrickscfg"
        canary.write_text(CANARY + "\n")
        script = work / "probe.py"
        script.write_text(_SCRIPT)
        connections: list[str] = []
        listener = socket.create_server(("127.0.0.1", 0))
        listener.settimeout(timeout)
        port = listener.getsockname()[1]

        def accept() -> None:
            try:
                connection, peer = listener.accept()
                connections.append(f"{peer[0]}:{peer[1]}")
                connection.close()
            except OSError:
                pass

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        homes = user_homes(os.environ)
        layout = Layout(
            workdir=work,
            home=home,
            writable=[scratch],
            readable=[*interpreter_paths(), work],
            hidden=[outside, *homes],
            credentials=[canary, *credential_paths(homes)],
        )
        argv = sandbox.wrap([sys.executable, str(script), str(marker), str(canary), str(port)], layout)
        env = sandbox_environment(os.environ, home, {"TMPDIR": str(scratch)})
        done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=work, timeout=timeout)
        listener.close()
        thread.join(timeout=1)
        try:
            said = json.loads(done.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            said = {"write": done.stderr.strip()[:200], "connect": "", "read": ""}
        wrote = said.get("write", "")
        if wrote == "wrote it" and not marker.exists():
            wrote = "the write landed in the sandbox's private view; nothing appeared on the host"
        checks = [
            Check("write outside the round", not marker.exists(), wrote),
            Check(
                "connect to the host's loopback",
                not connections,
                f"the host listener got {connections[0]}" if connections else said.get("connect", ""),
            ),
            Check(
                "read a credential file",
                CANARY not in said.get("read", ""),
                "the canary came back" if CANARY in said.get("read", "") else (said.get("read") or "empty"),
            ),
        ]
        return ProbeResult(sandbox.describe(), checks)
