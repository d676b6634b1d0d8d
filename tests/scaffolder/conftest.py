"""A generated repo to fill, and helpers to run `scaffold` against the loopback model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from lakeforge.tables import parse_tables
from scaffolder.offline import offline_reply

from ..template.conftest import copy_project

BRONZE_COLUMNS = [
    {"name": "id", "type": "int", "nullable": False},
    {"name": "name", "type": "string"},
    {"name": "_ingested_at", "type": "timestamp", "nullable": False},
    {"name": "_source_file", "type": "string"},
]


PAYMENT_COLUMNS = [
    {"name": "id", "type": "int", "nullable": False},
    {"name": "amount", "type": "decimal(10,2)"},
    {"name": "_ingested_at", "type": "timestamp", "nullable": False},
    {"name": "_source_file", "type": "string"},
]


def bronze_table(name: str, columns: list[dict[str, Any]] = BRONZE_COLUMNS) -> dict[str, Any]:
    return {
        "name": name,
        "layer": "bronze",
        "description": f"Test table {name}.",
        "source": {"path": name, "format": "csv", "options": {"header": "true"}},
        "schema": columns,
    }


def write_tables(project: Path, entries: list[dict[str, Any]]) -> None:
    (project / "tables.yml").write_text(yaml.safe_dump({"version": 1, "tables": entries}, sort_keys=False))


def good_reply(project: Path, table: str, package: str = "shop") -> str:
    tables = parse_tables(yaml.safe_load((project / "tables.yml").read_text()))
    return offline_reply(tables.get(table), tables, package)


def scaffold(project: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a subprocess, as a user would (wide terminal so lines do not wrap)."""
    full_env = {**os.environ, "COLUMNS": "400", **(env or {})}
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "DATABRICKS_HOST", "AZURE_OPENAI_ENDPOINT", "OLLAMA_HOST"):
        if env is None or var not in env:
            full_env.pop(var, None)
    return subprocess.run(
        [sys.executable, "-m", "scaffolder", *args, "--project", str(project)],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=900,
    )


def scaffold_loopback(project: Path, base_url: str, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    """`scaffold <args> --provider openai` with the real SDK pointed at the loopback server."""
    env = {"OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": "sk-loopback", **settings}
    return scaffold(project, *args, "--provider", "openai", env=env)


# Ctrl-C as in a terminal: a test run started as a background job (`cmd &`) ignores SIGINT, its
# children inherit that, and Python then never raises KeyboardInterrupt. Exec keeps SIG_DFL.
AS_A_TERMINAL = (
    sys.executable,
    "-c",
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])",
)


def scaffold_started(project: Path, base_url: str, *args: str, **settings: str) -> subprocess.Popen[str]:
    """`scaffold <args> --provider openai` against the loopback server, started in the background
    (the test acts while it runs: edits a file, presses Ctrl-C); output and errors in one stream."""
    env = {**os.environ, "COLUMNS": "400", "OPENAI_API_KEY": "sk-loopback", "OPENAI_BASE_URL": base_url, **settings}
    return subprocess.Popen(
        [*AS_A_TERMINAL, sys.executable, "-m", "scaffolder", *args, "--provider", "openai", "--project", str(project)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


@pytest.fixture
def bare_project(template_repo: Path, tmp_path: Path) -> Path:
    """A fresh repo (package `shop`) with no tables yet."""
    return copy_project(template_repo, tmp_path / "shop", project_name="shop", include_examples=False)
