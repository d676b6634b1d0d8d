"""The README's main job, as a new user types it: a relative folder, no API key."""

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_demo_from_a_relative_folder_with_no_api_key(tmp_path: Path) -> None:
    env_without_keys = {
        k: v for k, v in __import__("os").environ.items() if not k.startswith(("OPENAI_", "AZURE_", "DATABRICKS_"))
    }
    env_without_keys["COLUMNS"] = "200"
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
    assert "offline generator" in output and "demo repo ready" in output
    assert output.count("filled") >= 5
    module = tmp_path / "lakeforge-demo/src/trips_demo/transformations/gold/revenue_by_zone.py"
    assert "groupBy" in module.read_text()
