"""Writing files safely: atomic replace, and a manifest of what scaffold wrote.

`.scaffold/manifest.json` holds the hash of every file scaffold wrote. A file whose hash differs
was edited by a person and is never overwritten without --force; a temp file + rename means
Ctrl-C can never leave half a module behind, and the file keeps its mode (a new one gets the
usual mode for the user's umask, not the temp file's 0600).

The manifest is committed, so two branches that both ran `scaffold` meet in it: it is written
one sorted key per line, so git merges it line by line, and a file with conflict markers gets a
one-line error that says how to resolve it. Two `scaffold` processes at once (the CLI and the
MCP server) update it under a lock and merge, so neither loses the other's entries.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel, Field, PrivateAttr, ValidationError

from scaffolder.errors import ScaffoldError

MANIFEST = ".scaffold/manifest.json"
LOCK = ".scaffold/manifest.lock"
_CONFLICT = ("<<<<<<<", "=======", ">>>>>>>")


class Manifest(BaseModel):
    version: int = 1
    files: dict[str, str] = Field(
        default_factory=dict, description="repo-relative path -> sha256 of what scaffold wrote"
    )
    _written: set[str] = PrivateAttr(default_factory=set)  # what this process wrote, to merge on save

    def record(self, rel: str, text: str) -> None:
        self.files[rel] = digest(text)
        self._written.add(rel)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _umask() -> int:
    """The process umask without changing it (os.umask can only be read by setting it)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


_UMASK_LOCK = threading.Lock()


def atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def manifest_lock(root: Path) -> Iterator[None]:
    """An exclusive lock on the manifest across processes (fcntl; a lock file elsewhere)."""
    path = root / LOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: one scaffold at a time is the rule there
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def load_manifest(root: Path) -> Manifest:
    path = root / MANIFEST
    if not path.is_file():
        return Manifest()
    text = path.read_text(encoding="utf-8")
    if any(line.startswith(_CONFLICT) for line in text.splitlines()):
        raise ScaffoldError(
            f"{MANIFEST} has merge-conflict markers: keep the entries of both sides (one file per line) "
            "and delete the marker lines, or delete the file (scaffold then treats every file as a person's)"
        )
    try:
        return Manifest.model_validate_json(text)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(map(str, error["loc"])) or "the file"
        raise ScaffoldError(f"{MANIFEST}: {where}: {error['msg']}; restore it from git or delete it") from None


def save_manifest(root: Path, manifest: Manifest) -> None:
    """Merge what this process wrote into the manifest on disk, under the lock."""
    with manifest_lock(root):
        current = load_manifest(root) if (root / MANIFEST).is_file() else Manifest()
        for rel in manifest._written:
            current.files[rel] = manifest.files[rel]
        files = dict(sorted(current.files.items()))
        atomic_write(root / MANIFEST, json.dumps({"version": current.version, "files": files}, indent=2) + "\n")
        manifest.files = dict(files)


def edited_by_person(root: Path, manifest: Manifest, rel: str) -> bool:
    """True when scaffold wrote `rel` and its content changed since."""
    path = root / rel
    recorded = manifest.files.get(rel)
    return path.is_file() and recorded is not None and digest(path.read_text(encoding="utf-8")) != recorded


def write_tracked(root: Path, manifest: Manifest, rel: str, text: str) -> None:
    atomic_write(root / rel, text)
    manifest.record(rel, text)
