"""One sanitizer for everything model code can influence before a person or a model reads it.

Failure messages, test names, file names and reply text reach the terminal, the audit log and
the repair prompt. Any of them can carry terminal escapes (OSC 52 writes the clipboard, CSI
clears the screen or hides text), bidi overrides that make code read differently than it runs,
or facts about this machine (the real repo's path, the host name, the machine id). `clean`
strips the first two everywhere; `Sanitizer` also replaces what identifies the machine.
"""

from __future__ import annotations

import contextlib
import re
import socket
from collections.abc import Iterable
from pathlib import Path

# ESC sequences: CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), DCS/SOS/PM/APC (ESC P/X/^/_ ... ST),
# and two-character escapes; then the 8-bit CSI/OSC introducers.
_ESCAPES = re.compile(
    r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[PX^_][^\x1b]*(?:\x1b\\)?|[ -~])"
    r"|[\x9b\x9d\x90\x98\x9e\x9f][^\x07\x1b\x9c]*[\x07\x9c]?"
)
# Every other control character but newline and tab, and the invisible or direction-changing ones.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
# Where a worker sees the repo: /repo in its own namespace, a random folder otherwise.
_WORKER_REPO = re.compile(r"(?:/tmp/w-[0-9a-f]{16}/repo|/repo)/")


def clean(text: str) -> str:
    """The text without escape sequences, control characters or bidi overrides; worker paths relative."""
    return _WORKER_REPO.sub("", _CONTROLS.sub("", _ESCAPES.sub("", text)))


def machine_id() -> str:
    for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        with contextlib.suppress(OSError):
            value = Path(path).read_text().strip()
            if value:
                return value
    return ""


class Sanitizer:
    """`clean`, plus the machine's identity replaced: repo paths, host names, the machine id."""

    def __init__(self, repo: Path | None = None, hostnames: Iterable[str] = (), ids: Iterable[str] = ()) -> None:
        self.paths: list[tuple[str, str]] = []
        if repo is not None:
            for form in dict.fromkeys([str(repo), str(repo.resolve())]):
                self.paths.append((form.rstrip("/") + "/", ""))
                self.paths.append((form.rstrip("/"), "."))
        self.hidden = sorted({h for h in (*hostnames, *ids) if h and len(h) >= 3}, key=len, reverse=True)

    @classmethod
    def for_machine(cls, repo: Path | None = None) -> Sanitizer:
        names = []
        with contextlib.suppress(OSError):
            names.append(socket.gethostname())
            names.append(socket.getfqdn())
        return cls(repo, [n for n in names if n not in ("localhost", "localhost.localdomain")], [machine_id()])

    def text(self, text: str) -> str:
        text = clean(text)
        for path, replacement in self.paths:
            text = text.replace(path, replacement)
        for value in self.hidden:
            text = text.replace(value, "[host]")
        return text
