"""The README's main job: copy the template, fill every table, run the repo's own tests.

Works with no API key (the offline generator is announced and used), so a fresh machine shows
the whole product in one command.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import copier
import yaml

from scaffolder.errors import ScaffoldError
from scaffolder.fill import FillReport, fill
from scaffolder.progress import Progress, quiet
from scaffolder.project import load_project
from scaffolder.resources import examples_dir, template_dir


@dataclass
class DemoResult:
    project: Path
    report: FillReport
    tests_passed: bool
    tests_output: str
    tests_command: str = ""  # what runs the demo repo's tests again, from the folder scaffold ran in


def is_free(destination: Path) -> bool:
    return not destination.exists() or (destination.is_dir() and not any(destination.iterdir()))


def free_destination(destination: Path) -> Path:
    """`destination` when it is free, else the first free `<name>-2`, `<name>-3`, ... beside it
    (written as the user wrote it: relative stays relative)."""
    if is_free(destination):
        return destination
    name = destination.name or destination.resolve().name or "lakeforge-demo"
    for n in range(2, 1000):
        candidate = destination.parent / f"{name}-{n}" if destination.name else Path(f"{name}-{n}")
        if is_free(candidate):
            return candidate
    raise ScaffoldError(f"{destination} and {name}-2 ... {name}-999 are all taken: give a new folder for the demo")


def tests_command(project: Path, cwd: Path | None = None, python: str | None = None) -> str:
    """The shell line that runs the demo repo's tests with this interpreter, from `cwd`.

    The interpreter is the one scaffold runs on (it has pytest, pyspark and lakeforge); the repo
    is not installed into it, its pyproject puts src/ on pytest's path. Paths inside `cwd` are
    shown relative (`cd lakeforge-demo && ../.venv/bin/python -m pytest`), others absolute.
    """
    here = Path(os.path.abspath(cwd or os.getcwd()))
    project = Path(os.path.abspath(project))
    interpreter = Path(os.path.abspath(python or sys.executable))
    if interpreter.name.startswith("python3") and (interpreter.parent / "python").exists():
        interpreter = interpreter.parent / "python"  # what a venv's users type (scripts run python3)

    def inside(path: Path) -> bool:
        return path == here or here in path.parents

    folder = os.path.relpath(project, here) if inside(project) else str(project)
    shown = os.path.relpath(interpreter, project) if inside(interpreter) and inside(project) else str(interpreter)
    return f"cd {shlex.quote(folder)} && {shlex.quote(shown)} -m pytest"


def run_demo(destination: Path, progress: Progress | None = None) -> DemoResult:
    shown_from = Path.cwd()
    destination = destination.resolve()
    if not is_free(destination):
        raise ScaffoldError(
            f"{destination} is not empty: give a new folder for the demo (e.g. `scaffold demo {free_destination(destination)}`)"
        )
    notify = progress or quiet
    notify("", f"copying the template into {destination}")
    demo = examples_dir() / "demo"
    answers = yaml.safe_load((demo / "answers.yml").read_text(encoding="utf-8"))
    copier.run_copy(
        str(template_dir()), destination, data=answers, defaults=True, unsafe=True, quiet=True, vcs_ref="HEAD"
    )
    shutil.copy2(demo / "tables.yml", destination / "tables.yml")
    shutil.copytree(demo / "landing", destination / "data" / "landing", dirs_exist_ok=True)
    project = load_project(destination)
    notify("", "filling every table (offline model, checked on local Spark in the sandbox)")
    report = fill(project, "all", progress=notify)
    notify("", "running the demo repo's own tests (pytest on local Spark)")
    # The command the closing hint prints (src/ is on pytest's path through the repo's pyproject).
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=destination,
        capture_output=True,
        text=True,
    )
    return DemoResult(
        destination,
        report,
        tests.returncode == 0,
        tests.stdout[-4000:] + tests.stderr[-2000:],
        tests_command(destination, shown_from),
    )
