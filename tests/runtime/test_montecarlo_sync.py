"""MonteCarloSync wraps `montecarlo monitors apply` and fails clearly before running anything.

The `montecarlo` on PATH here is a tiny fake written by each test: it stands for Monte Carlo's
CLI (an external program) and records the arguments and credentials it was started with.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from lakeforge.errors import LakeforgeError
from lakeforge.montecarlo import MonteCarloError
from lakeforge.observability import MonteCarloSync  # the design research's import path

CREDENTIALS = {"MCD_DEFAULT_API_ID": "id-123", "MCD_DEFAULT_API_TOKEN": "token-456"}


def fake_cli(
    bin_dir: Path, record: Path, exit_code: int = 0, output: str = "Dry run, none of the changes have been applied."
) -> None:
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "montecarlo"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        f"with open({str(record)!r}, 'w') as f:\n"
        "    json.dump({'argv': sys.argv[1:], 'id': os.environ.get('MCD_DEFAULT_API_ID'),\n"
        "               'cwd': os.getcwd()}, f)\n"
        f"print({output!r})\n"
        f"sys.exit({exit_code})\n"
    )
    script.chmod(0o755)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    project = tmp_path / "monitors" / "dev"
    project.mkdir(parents=True)
    (project / "montecarlo.yml").write_text("version: 1\nnamespace: shop_dev\ndefault_resource: databricks\n")
    (project / "monitors.yaml").write_text("montecarlo: {}\n")
    return tmp_path


def environ(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"PATH": str(tmp_path / "bin"), "HOME": str(tmp_path / "home"), **extra}


def test_dry_run_and_apply_build_the_documented_command(repo: Path, tmp_path: Path) -> None:
    record = tmp_path / "argv.json"
    fake_cli(tmp_path / "bin", record)
    sync = MonteCarloSync.for_environment("dev", root=repo, environ=environ(tmp_path, **CREDENTIALS))
    assert sync.namespace == "shop_dev"  # read from monitors/dev/montecarlo.yml

    result = sync.dry_run()
    project_dir = str(repo / "monitors" / "dev")
    seen = json.loads(record.read_text())
    assert seen["argv"] == ["monitors", "apply", "--project-dir", project_dir, "--namespace", "shop_dev", "--dry-run"]
    assert seen["id"] == "id-123"  # the credentials reach the CLI through its environment
    assert result.dry_run and result.returncode == 0 and "none of the changes" in result.output
    assert result.command == ["montecarlo", *seen["argv"]]

    sync.apply()
    assert json.loads(record.read_text())["argv"][-1] == "--auto-yes"  # no interactive confirmation


def test_a_missing_cli_is_one_line_with_the_install_command(repo: Path, tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    sync = MonteCarloSync.for_environment("dev", root=repo, environ=environ(tmp_path, **CREDENTIALS))
    with pytest.raises(MonteCarloError) as err:
        sync.dry_run()
    message = str(err.value)
    assert "the Monte Carlo CLI ('montecarlo') is not on PATH: pip install montecarlodata" in message
    assert "\n" not in message and isinstance(err.value, LakeforgeError)


def test_missing_credentials_fail_before_the_cli_runs(repo: Path, tmp_path: Path) -> None:
    record = tmp_path / "argv.json"
    fake_cli(tmp_path / "bin", record)
    sync = MonteCarloSync.for_environment("dev", root=repo, environ=environ(tmp_path))
    with pytest.raises(
        MonteCarloError, match="credentials are missing: set MCD_DEFAULT_API_ID and MCD_DEFAULT_API_TOKEN"
    ):
        sync.apply()
    assert not record.exists()

    profile = tmp_path / "home" / ".mcd" / "profiles.ini"  # what `montecarlo configure` writes
    profile.parent.mkdir(parents=True)
    profile.write_text("[default]\nmcd_id = x\nmcd_token = y\n")
    sync.apply()
    assert record.exists()


def test_a_refused_apply_names_the_command_and_the_cli_message(repo: Path, tmp_path: Path) -> None:
    fake_cli(tmp_path / "bin", tmp_path / "argv.json", exit_code=1, output="Errors encountered, exiting.")
    sync = MonteCarloSync.for_environment("dev", root=repo, environ=environ(tmp_path, **CREDENTIALS))
    with pytest.raises(MonteCarloError) as err:
        sync.apply()
    assert str(err.value).startswith("montecarlo monitors apply --project-dir ")
    assert str(err.value).endswith("failed (exit 1): Errors encountered, exiting.")


def test_without_the_files_it_says_to_run_scaffold_monitors(tmp_path: Path) -> None:
    with pytest.raises(MonteCarloError, match=r"monitors/prod/montecarlo\.yml: not found; run `scaffold monitors`"):
        MonteCarloSync.for_environment("prod", root=tmp_path, environ=environ(tmp_path, **CREDENTIALS))
    sync = MonteCarloSync(tmp_path / "elsewhere", namespace="shop_prod", environ=environ(tmp_path, **CREDENTIALS))
    assert sync.command(dry_run=True)[-3:] == ["--namespace", "shop_prod", "--dry-run"]
    with pytest.raises(MonteCarloError, match="run `scaffold monitors` to write the files first"):
        sync.dry_run()
