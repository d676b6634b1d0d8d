"""What a new repo's bundle deploys carries what it needs.

For each orchestration × compute the wheels the bundle deploys, installed alone into a fresh
venv, import and run the way a cluster would run them. (That the printed next steps install a
new repo in a brand-new venv from its vendor/ and its tests pass, with every other command the
docs show, runs in tests/test_printed_commands.py.)
"""

from __future__ import annotations

import glob
import os
import shlex
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

from .conftest import copy_project


def deployed_wheels(project: Path) -> list[Path]:
    """Every wheel a resource of the bundle installs (libraries, environments, pipeline environment)."""
    wheels: set[Path] = set()
    for path in (project / "resources").glob("*.yml"):
        text = yaml.safe_load(path.read_text()) or {}
        for item in _walk(text):
            if isinstance(item, str) and item.endswith(".whl"):
                wheels.update(Path(found).resolve() for found in glob.glob(str(path.parent / item.split()[-1])))
    return sorted(wheels)


def _walk(node: object) -> list[object]:
    if isinstance(node, dict):
        return [x for value in node.values() for x in _walk(value)]
    if isinstance(node, list):
        return [x for value in node for x in _walk(value)]
    return [node]


@pytest.mark.slow
@pytest.mark.parametrize("orchestration", ["lakeflow", "jobs"])
@pytest.mark.parametrize("compute", ["serverless", "classic"])
def test_what_the_bundle_deploys_installs_and_runs(
    template_repo: Path, tmp_path: Path, orchestration: str, compute: str
) -> None:
    name = f"deploy_{orchestration}_{compute}"
    project = copy_project(
        template_repo, tmp_path / name, project_name=name, orchestration=orchestration, compute=compute
    )
    # Build every artifact the way `databricks bundle deploy` does: its own build command.
    bundle = yaml.safe_load((project / "databricks.yml").read_text())
    for artifact in bundle["artifacts"].values():
        build = subprocess.run(
            [*shlex.split(artifact["build"].replace("python ", f"{sys.executable} ", 1)), "--no-build-isolation"],
            cwd=project / artifact.get("path", "."),
            capture_output=True,
            text=True,
        )
        assert build.returncode == 0, build.stderr[-2000:]
    wheels = deployed_wheels(project)
    assert {w.name.split("-")[0] for w in wheels} == {"lakeforge", name}, wheels
    # A fresh venv that sees pyspark as a cluster would (the cluster ships it), and exactly these wheels.
    venv = tmp_path / "cluster"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    site = next((venv / "lib").glob("python*/site-packages"))
    spark_home = Path(sysconfig.get_paths()["purelib"])
    (site / "_cluster_spark.pth").write_text(str(_spark_only(spark_home, tmp_path / "spark")) + "\n")
    python = venv / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", *map(str, wheels)], capture_output=True, text=True, timeout=900
    )
    assert install.returncode == 0, install.stderr[-3000:]
    elsewhere = tmp_path / "cluster-cwd"
    elsewhere.mkdir()
    if orchestration == "jobs":
        help_ = subprocess.run([str(venv / "bin" / "run"), "--help"], cwd=elsewhere, capture_output=True, text=True)
        assert help_.returncode == 0 and "--layer" in help_.stdout, help_.stderr
        # A layer end to end from a folder that is not the repo: config and tables.yml come from the wheel.
        # No class-data archive: a cluster maps none, and this venv's path is gone after the test
        # (the first run in a new venv would write a ~200 MB archive for it, ~30 s).
        landing = project / "data" / "landing"
        layer = subprocess.run(
            [str(venv / "bin" / "run"), "--layer", "bronze", "--env", "local", "--set", f"landing_root={landing}"],
            cwd=elsewhere,
            capture_output=True,
            text=True,
            timeout=900,
            env={**os.environ, "LAKEFORGE_JVM_CDS": "0"},
        )
        assert layer.returncode == 0, layer.stdout[-2000:] + layer.stderr[-3000:]
        assert "wrote spark_catalog" in layer.stdout + layer.stderr
    else:
        imported = subprocess.run(
            [str(python), "-c", f"import {name}, lakeforge.pipelines; print('ok')"],
            cwd=elsewhere,
            capture_output=True,
            text=True,
        )
        assert imported.stdout.strip() == "ok", imported.stderr
        definitions = project / "src" / name / "pipeline" / "definitions.py"
        assert "define_pipeline" in definitions.read_text()


def _spark_only(purelib: Path, dest: Path) -> Path:
    """A folder with just pyspark and py4j (linked), what a Databricks cluster brings."""
    dest.mkdir(exist_ok=True)
    for package in ("pyspark", "py4j"):
        target = dest / package
        if not target.exists():
            target.symlink_to(purelib / package, target_is_directory=True)
    return dest
