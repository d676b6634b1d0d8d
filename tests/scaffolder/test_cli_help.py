"""`--help` shows flags as flags: `--dry-run`, not `--dry-run <bool>` (they take no value)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

COMMANDS = ["", "fill", "add", "validate", "test", "sandbox", "profile", "doctor", "monitors", "demo", "serve"]


@pytest.mark.parametrize("command", COMMANDS)
def test_flags_show_no_value_placeholder(command: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "scaffolder", *([command] if command else []), "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        check=True,
    )
    # Typer 0.29 prints `<bool>` after every flag; `metavar=""` on ours hides it (--help is Typer's own).
    shown = [line for line in done.stdout.splitlines() if "<bool>" in line and "--help" not in line]
    assert not shown, "\n".join(shown)
