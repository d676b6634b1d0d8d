"""The README's main job, as a new user types it: a relative folder, no API key, run twice."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from scaffolder import demo


@pytest.mark.slow
def test_demo_from_a_relative_folder_with_no_api_key(tmp_path: Path) -> None:
    env_without_keys = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AZURE_", "DATABRICKS_"))}
    env_without_keys["COLUMNS"] = "200"
    taken = tmp_path / "lakeforge-demo"
    taken.mkdir()
    (taken / "notes.txt").write_text("a demo from last week\n")
    result = subprocess.run(
        [sys.executable, "-m", "scaffolder", "demo", "lakeforge-demo"],
        cwd=tmp_path,
        env=env_without_keys,
        capture_output=True,
        text=True,
        timeout=900,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "lakeforge-demo is not empty: the demo goes to lakeforge-demo-2" in output
    assert "offline generator" in output and "demo repo ready" in output
    assert output.count("filled") >= 5
    # Piped, the demo tells its story one line per step (no spinner): its phases, each table's moves.
    for step in ("copying the template into", "filling every table", "running the demo repo's own tests"):
        assert any(line.startswith(step) for line in output.splitlines()), step
    assert re.search(r"^revenue_by_zone: in the round: tests twice, probes, mutants$", output, re.M), output[-4000:]
    assert re.search(r"^revenue_by_zone: filled$", output, re.M)
    module = tmp_path / "lakeforge-demo-2/src/trips_demo/transformations/gold/revenue_by_zone.py"
    assert "groupBy" in module.read_text()
    assert (taken / "notes.txt").read_text() == "a demo from last week\n"
    # The closing hint runs as printed, from where the demo ran.
    (hint,) = [line.split(": ", 1)[1] for line in output.splitlines() if line.startswith("run its tests again: ")]
    python = Path(sys.executable).parent / "python"
    assert hint == f"cd lakeforge-demo-2 && {python if python.exists() else sys.executable} -m pytest"
    again = subprocess.run(["bash", "-c", hint], cwd=tmp_path, env=env_without_keys, capture_output=True, text=True)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert " passed" in again.stdout


def test_a_taken_folder_gets_the_next_free_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert demo.free_destination(Path("demo")) == Path("demo")
    Path("demo").mkdir()
    assert demo.free_destination(Path("demo")) == Path("demo")  # empty: still free
    (tmp_path / "demo" / "x").write_text("")
    (tmp_path / "demo-2").mkdir()
    (tmp_path / "demo-2" / "y").write_text("")
    assert demo.free_destination(Path("demo")) == Path("demo-3")
    assert demo.free_destination(tmp_path / "demo") == tmp_path / "demo-3"


def test_the_tests_command_is_relative_inside_the_folder_and_absolute_outside(tmp_path: Path) -> None:
    inside = demo.tests_command(tmp_path / "lakeforge-demo", tmp_path, str(tmp_path / ".venv" / "bin" / "python"))
    assert inside == "cd lakeforge-demo && ../.venv/bin/python -m pytest"
    outside = demo.tests_command(tmp_path / "lakeforge-demo", tmp_path, "/opt/tools/python")
    assert outside == "cd lakeforge-demo && /opt/tools/python -m pytest"
    elsewhere = demo.tests_command(Path("/srv/demo dir"), tmp_path, "/opt/tools/python")
    assert elsewhere == "cd '/srv/demo dir' && /opt/tools/python -m pytest"
