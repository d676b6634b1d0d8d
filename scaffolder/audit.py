"""Records of every model call (`.scaffold/audit/<run>.jsonl`) and a reply cache by prompt hash.

The cache makes a re-run free; the audit log answers "what did the model see and say, and what
did the checks decide" for any line of generated code. Every record passes the redactor first:
a test's failure message can carry whatever the code under test read.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from pathlib import Path
from typing import Any

from scaffolder.redact import Redactor


class AuditLog:
    def __init__(self, root: Path, redactor: Redactor | None = None) -> None:
        self.run_id = time.strftime("%Y%m%dT%H%M%S") + f"-{int(time.time() * 1000) % 1000:03d}"
        self.path = root / ".scaffold" / "audit" / f"{self.run_id}.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.redactor = redactor or Redactor()
        self._lock = threading.Lock()

    def record(self, **fields: Any) -> None:
        fields = self.redactor.record(fields)
        line = json.dumps({"time": time.time(), "run": self.run_id, **fields}, default=str)
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")


class ReplyCache:
    """Replies keyed by (provider, model, prompt hash); only replies that parsed are worth keeping."""

    def __init__(self, root: Path) -> None:
        self.folder = root / ".scaffold" / "cache"

    @staticmethod
    def key(provider: str, model: str, prompt_hash: str) -> str:
        """A file-name-safe key: model names like `org/model:v1` (serving, Ollama) hold `/` and `:`."""
        return hashlib.sha256(f"{provider}\0{model}\0{prompt_hash}".encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        path = self._path(key)
        if not path.is_file():
            return None
        try:
            found = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            return None
        return found if isinstance(found, dict) else None

    def drop(self, key: str) -> None:
        """Forget a reply that failed its checks, so the next run asks the model afresh."""
        self._path(key).unlink(missing_ok=True)

    def put(self, key: str, value: dict[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self._path(key).with_suffix(".tmp")
        tmp.write_text(json.dumps(value), encoding="utf-8")
        tmp.replace(self._path(key))
