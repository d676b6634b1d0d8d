"""The two distributions install on their own: the runtime must not drag in the scaffolder."""

import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_runtime_installs_alone(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "-q", str(ROOT / "runtime")], check=True)
    probe = (
        "import importlib.util, lakeforge;"
        "print(lakeforge.__version__);"
        "print(all(importlib.util.find_spec(m) is None for m in ('typer','openai','copier','pyspark','scaffolder')))"
    )
    out = subprocess.run([python, "-c", probe], check=True, capture_output=True, text=True, cwd=tmp_path).stdout.split()
    assert out == ["0.1.0", "True"]
    # The runtime still helps without Spark: names and config work, sessions say what to install.
    probe = (
        "from lakeforge import CatalogHelper, EnvironmentConfig, SparkSessionFactory, LakeforgeError\n"
        "c = EnvironmentConfig(environment='dev', catalog={'name': 'dev_x', 'schema': 'p'})\n"
        "print(CatalogHelper(c).table_name('gold', 't'))\n"
        "try:\n    SparkSessionFactory.create_local()\nexcept LakeforgeError as e:\n    print(e)\n"
    )
    out = subprocess.run([python, "-c", probe], check=True, capture_output=True, text=True, cwd=tmp_path).stdout
    assert "dev_x.p_gold.t" in out
    assert "pip install 'lakeforge[spark]'" in out


def test_scaffold_cli_reports_version_and_help() -> None:
    from scaffolder import __version__

    version = subprocess.run([sys.executable, "-m", "scaffolder", "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.strip() == f"scaffold {__version__}"
    helptext = subprocess.run([sys.executable, "-m", "scaffolder", "--help"], capture_output=True, text=True)
    assert helptext.returncode == 0 and "Usage" in helptext.stdout


@pytest.mark.slow
def test_scaffolder_wheel_ships_prompts_examples_and_template(tmp_path: Path) -> None:
    import zipfile

    import copier

    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            str(ROOT),
            "-w",
            str(tmp_path),
        ],
        check=True,
    )
    wheel = next(tmp_path.glob("lakeforge_scaffolder-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for expected in (
        "scaffolder/_resources/prompts/bronze.md",
        "scaffolder/_resources/examples/fewshot/gold_customer_revenue.md",
        "scaffolder/_resources/examples/demo/tables.yml",
        "scaffolder/_resources/template/copier.yml",
    ):
        assert expected in names
    zipfile.ZipFile(wheel).extractall(tmp_path / "installed")
    template = tmp_path / "installed" / "scaffolder" / "_resources" / "template"
    copier.run_copy(str(template), tmp_path / "repo", data={"init_git": False}, defaults=True, unsafe=True, quiet=True)
    assert (tmp_path / "repo" / "databricks.yml").is_file()
    # A repo copied from an installed scaffold is as self-contained as one copied from a checkout.
    assert sorted(p.name.split("-")[0] for p in (tmp_path / "repo" / "vendor").glob("*.whl")) == [
        "lakeforge",
        "lakeforge_scaffolder",
    ]


def test_the_release_workflow_builds_both_packages_and_is_actionlint_clean() -> None:
    """Publishing the runtime to an index later needs only the workflow and a template answer."""
    import shutil

    workflow = ROOT / ".github" / "workflows" / "release.yml"
    text = workflow.read_text()
    assert "uv build --out-dir dist runtime" in text and "uv build --out-dir dist ." in text
    assert "uv publish" in text
    actionlint = shutil.which("actionlint") or str(Path(sys.executable).parent / "actionlint")
    run = subprocess.run([actionlint, str(workflow)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
