"""A new repo installs on a fresh machine as printed, and what it deploys carries what it needs.

The user's story, run literally: `copier copy` with the default answers prints the next steps;
they run in bash in a brand-new virtualenv, with no package index that serves `lakeforge` (the
repo carries it in vendor/), and the repo's own tests pass. Then for each orchestration × compute
the wheels the bundle deploys, installed alone into a fresh venv, import and run the way a cluster
would run them. (Every command the README shows runs in tests/test_printed_commands.py.)
"""

from __future__ import annotations

import glob
import os
import re
import shlex
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

from .conftest import ROOT, copy_project

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Lakeforge Tests",
    "GIT_AUTHOR_EMAIL": "tests@lakeforge.invalid",
    "GIT_COMMITTER_NAME": "Lakeforge Tests",
    "GIT_COMMITTER_EMAIL": "tests@lakeforge.invalid",
}


def bash(script: str, cwd: Path, timeout: float = 1800, **env: str) -> subprocess.CompletedProcess[str]:
    """Run lines as a user pastes them into a stock shell (no venv of ours on PATH)."""
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if not p.startswith(sys.prefix))
    clean = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env={**clean, "PATH": path, **GIT_ENV, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def printed_next_steps(output: str) -> list[str]:
    """The command lines of copier's message after copy (the indented lines after "Next steps")."""
    block = output.split("Next steps", 1)[1]
    lines = [line.strip() for line in block.splitlines()[1:] if line.startswith("  ")]
    return [re.sub(r"\s+#.*$", "", line) for line in lines if line]


@pytest.fixture(scope="module")
def fresh_repo(template_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A repo copied with the default answers by the real `copier` CLI, and what it printed."""
    work = tmp_path_factory.mktemp("fresh")
    copier_cli = Path(sys.executable).parent / "copier"
    done = subprocess.run(
        [
            str(copier_cli),
            "copy",
            "--trust",
            "--defaults",
            "--vcs-ref",
            "HEAD",
            str(template_repo),
            str(work / "my-pipeline"),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **GIT_ENV},
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return work / "my-pipeline", printed_next_steps(done.stdout + done.stderr)


@pytest.mark.slow
def test_the_printed_next_steps_install_a_fresh_repo_and_its_tests_pass(fresh_repo: tuple[Path, list[str]]) -> None:
    project, steps = fresh_repo
    assert steps[0].startswith("cd ") and any("--find-links vendor" in s for s in steps), steps
    before_venv = steps[: next(i for i, s in enumerate(steps) if ".venv/bin/activate" in s)]
    assert not any(re.search(r"(^|&& )python ", s) for s in before_venv), "stock Debian has python3, not python"
    assert sorted(p.name for p in (project / "vendor").glob("*.whl")) == [
        "lakeforge-0.1.0-py3-none-any.whl",
        "lakeforge_scaffolder-0.1.0-py3-none-any.whl",
    ]
    # Up to the tests: `scaffold fill all` needs a model and `databricks` a workspace.
    runnable = steps[: next(i for i, s in enumerate(steps) if s.startswith("pytest")) + 1]
    run = bash("\n".join(runnable), project.parent, PIP_NO_CACHE_DIR="")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert re.search(r"\d+ passed", run.stdout), run.stdout[-2000:]
    # lakeforge came from vendor/ (no index serves it): its files are the template's own runtime.
    venv_python = project / ".venv" / "bin" / "python"
    installed = subprocess.run(
        [str(venv_python), "-c", "import lakeforge.contract, sys; print(lakeforge.contract.__file__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert "site-packages" in installed
    assert Path(installed).read_text() == (ROOT / "runtime/src/lakeforge/contract.py").read_text()


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
        landing = project / "data" / "landing"
        layer = subprocess.run(
            [str(venv / "bin" / "run"), "--layer", "bronze", "--env", "local", "--set", f"landing_root={landing}"],
            cwd=elsewhere,
            capture_output=True,
            text=True,
            timeout=900,
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
