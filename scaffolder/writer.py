"""Writing files safely: atomic replace, and a manifest of what scaffold wrote.

`.scaffold/manifest.json` holds the hash of every file scaffold wrote. A file whose hash differs
was edited by a person and is never overwritten without --force; a temp file + rename means
Ctrl-C can never leave half a module behind.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from pydantic import BaseModel, Field

MANIFEST = ".scaffold/manifest.json"


class Manifest(BaseModel):
    version: int = 1
    files: dict[str, str] = Field(
        default_factory=dict, description="repo-relative path -> sha256 of what scaffold wrote"
    )


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_manifest(root: Path) -> Manifest:
    path = root / MANIFEST
    if not path.is_file():
        return Manifest()
    return Manifest.model_validate_json(path.read_text(encoding="utf-8"))


def save_manifest(root: Path, manifest: Manifest) -> None:
    atomic_write(root / MANIFEST, manifest.model_dump_json(indent=2) + "\n")


def edited_by_person(root: Path, manifest: Manifest, rel: str) -> bool:
    """True when scaffold wrote `rel` and its content changed since."""
    path = root / rel
    recorded = manifest.files.get(rel)
    return path.is_file() and recorded is not None and digest(path.read_text(encoding="utf-8")) != recorded


def write_tracked(root: Path, manifest: Manifest, rel: str, text: str) -> None:
    atomic_write(root / rel, text)
    manifest.files[rel] = digest(text)
