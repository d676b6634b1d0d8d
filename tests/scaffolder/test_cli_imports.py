"""The CLI starts fast: `--help` and `scaffold add` load no engine they do not use."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = ("openai", "copier", "pyspark", "mcp", "rank_bm25", "pydantic", "scaffolder.fill", "jinja2")


def loaded_after(args: list[str], cwd: Path) -> tuple[int, set[str]]:
    code = (
        "import json, sys\n"
        "from scaffolder.cli import app\n"
        "try:\n"
        f"    app({args!r}, prog_name='scaffold')\n"
        "except SystemExit as exit:\n"
        "    code = exit.code or 0\n"
        "else:\n"
        "    code = 0\n"
        "print(json.dumps([code, sorted(sys.modules)]))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, check=True)
    status, modules = json.loads(run.stdout.strip().splitlines()[-1])
    return status, set(modules)


def test_help_imports_no_engine(tmp_path: Path) -> None:
    status, modules = loaded_after(["--help"], tmp_path)
    assert status == 0
    assert not [m for m in HEAVY if m in modules], sorted(m for m in HEAVY if m in modules)


def test_add_does_not_load_the_fill_engine(bare_project: Path) -> None:
    status, modules = loaded_after(
        ["add", "bronze", "refunds", "-c", "refund_id:string!", "--source", "refunds", "--description", "Refunds."],
        bare_project,
    )
    assert status == 0
    assert "scaffolder.add" in modules
    assert not [m for m in ("scaffolder.fill", "openai", "rank_bm25", "pyspark", "copier") if m in modules]
