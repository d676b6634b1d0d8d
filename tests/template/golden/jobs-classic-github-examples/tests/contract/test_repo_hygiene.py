"""No conflict markers anywhere: `copier update` exits 0 even when it leaves some behind."""

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MARKER = re.compile(r"^(<{7}|>{7})( |$)|^={7}$")
SKIP_PARTS = {".git", ".venv", ".nox", "spark-warehouse", "metastore_db", "__pycache__", ".spark-pipelines"}

pytestmark = pytest.mark.contract


def _files():
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.split("\n")
        return [ROOT / name for name in listed if name]
    except (OSError, subprocess.CalledProcessError):
        return [p for p in ROOT.rglob("*") if p.is_file() and not SKIP_PARTS & set(p.parts)]


def test_no_conflict_markers():
    found = []
    for path in _files():
        if path.suffix in {".rej", ".orig"}:
            found.append(f"{path.relative_to(ROOT)}: leftover merge file")
            continue
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue
        found += [f"{path.relative_to(ROOT)}:{n}" for n, line in enumerate(lines, 1) if MARKER.match(line)]
    assert not found, "conflict markers left by a merge or `copier update`: " + ", ".join(found)
