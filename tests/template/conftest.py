"""Fixtures for the template's story: a git-tagged template, copies, and a venv to install them.

The template is copied into a temporary git repo and tagged, because `copier update` needs a
tagged, committed template, and the checkout itself may be dirty while developing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import copier
import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ROOT / "runtime"
SCHEMA_FILE = ROOT.parent / "shared" / "schemas" / "databricks-bundle.schema.json"

# The golden trees are rendered repos (their conftest.py and tests are data here, not tests to run).
collect_ignore = ["golden"]


def git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Lakeforge Tests",
        "GIT_AUTHOR_EMAIL": "tests@lakeforge.invalid",
        "GIT_COMMITTER_NAME": "Lakeforge Tests",
        "GIT_COMMITTER_EMAIL": "tests@lakeforge.invalid",
    }
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


# What a template source needs besides copier.yml and template/: the vendor task builds the
# runtime and scaffold wheels from their source (tasks/vendor_wheels.py).
TEMPLATE_SOURCES = (
    "copier.yml",
    "template",
    "tasks",
    "runtime",
    "scaffolder",
    "prompts",
    "examples",
    "pyproject.toml",
    "README.md",
)
_SKIP = shutil.ignore_patterns("__pycache__", "*.egg-info", ".pytest_cache", "build", "dist")


def make_template_repo(dest: Path, tag: str = "v1") -> Path:
    """A git repo holding the template and the sources its tasks build, committed and tagged."""
    dest.mkdir(parents=True)
    for name in TEMPLATE_SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=_SKIP)
        else:
            shutil.copy2(source, dest / name)
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "template")
    git(dest, "tag", tag)
    return dest


def base_answers(**overrides: Any) -> dict[str, Any]:
    """The default answers, without `git init` (tests commit when they need to)."""
    return {"init_git": False, **overrides}


def copy_project(template: Path, dest: Path, vcs_ref: str | None = "HEAD", **answers: Any) -> Path:
    copier.run_copy(
        str(template), dest, data=base_answers(**answers), defaults=True, unsafe=True, quiet=True, vcs_ref=vcs_ref
    )
    return dest


def commit_all(project: Path, message: str) -> None:
    if not (project / ".git").exists():
        git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", message)


@pytest.fixture(scope="session")
def project_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv that sees this test environment's packages (pyspark, lakeforge) and adds the projects.

    Installing pyspark per generated project would cost a minute each; a `.pth` link to the
    running environment's site-packages gives the same imports in a second.
    """
    venv_dir = tmp_path_factory.mktemp("venv") / "projects"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv_dir)], check=True)
    site = next((venv_dir / "lib").glob("python*/site-packages"))
    # `import site` lines run at start-up; addsitedir also honours the parent's own .pth files
    # (editable installs of lakeforge and the scaffolder).
    parent = sysconfig.get_paths()["purelib"]
    (site / "_lakeforge_parent.pth").write_text(f"import site; site.addsitedir({parent!r})\n")
    return venv_dir


def venv_python(venv_dir: Path) -> Path:
    return venv_dir / "bin" / "python"


def pip_install(venv_dir: Path, project: Path, deps: bool = False) -> subprocess.CompletedProcess[str]:
    args = [str(venv_python(venv_dir)), "-m", "pip", "install", "-q", "--no-build-isolation", str(project)]
    if not deps:
        args.insert(6, "--no-deps")
    return subprocess.run(args, capture_output=True, text=True, check=False)
