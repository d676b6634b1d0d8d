"""The README's main job: copy the template, fill every table, run the repo's own tests.

Works with no API key (the offline generator is announced and used), so a fresh machine shows
the whole product in one command.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import copier
import yaml

from scaffolder.errors import ScaffoldError
from scaffolder.fill import FillReport, Progress, fill
from scaffolder.project import load_project
from scaffolder.resources import examples_dir, template_dir


@dataclass
class DemoResult:
    project: Path
    report: FillReport
    tests_passed: bool
    tests_output: str


def run_demo(destination: Path, progress: Progress | None = None) -> DemoResult:
    destination = destination.resolve()
    if destination.exists() and any(destination.iterdir()):
        raise ScaffoldError(f"{destination} is not empty: give a new folder for the demo")
    demo = examples_dir() / "demo"
    answers = yaml.safe_load((demo / "answers.yml").read_text(encoding="utf-8"))
    copier.run_copy(
        str(template_dir()), destination, data=answers, defaults=True, unsafe=True, quiet=True, vcs_ref="HEAD"
    )
    shutil.copy2(demo / "tables.yml", destination / "tables.yml")
    shutil.copytree(demo / "landing", destination / "data" / "landing", dirs_exist_ok=True)
    project = load_project(destination)
    report = fill(project, "all", progress=progress)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(destination / "src"), os.environ.get("PYTHONPATH")])),
    }
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=destination,
        env=env,
        capture_output=True,
        text=True,
    )
    return DemoResult(destination, report, tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-2000:])
