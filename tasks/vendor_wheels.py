"""Copier task: put the lakeforge runtime (and scaffold) wheels in the new repo's `vendor/`.

The runtime is not on any package index yet, and a repo must install on a fresh machine and
deploy as is. So `copier copy` (and every `copier update`) builds the wheels from the template's
own source, the one version this template was tested with, into `vendor/`: the install command
finds them with `--find-links vendor`, and the bundle uploads them next to the project's wheel.
A repo made with `lakeforge_index` (a private package index) skips this task.

Usage (copier runs it in the new repo): python vendor_wheels.py <template source> <folder>
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

PROJECTS = {"runtime": "lakeforge", ".": "lakeforge-scaffolder"}


def main(source: Path, folder: Path) -> int:
    projects = []
    for rel, name in PROJECTS.items():
        pyproject = source / rel / "pyproject.toml"
        found = re.search(r'^name\s*=\s*"([^"]+)"', pyproject.read_text(), re.M) if pyproject.is_file() else None
        if found and found.group(1) == name:
            projects.append(str(source / rel))
    if not projects:
        print(
            f"vendor_wheels: {source} holds no lakeforge source (an installed template copy): "
            "answer lakeforge_index with your package index, or copy from a Lakeforge checkout",
            file=sys.stderr,
        )
        return 1
    folder.mkdir(exist_ok=True)
    for old in folder.glob("lakeforge*.whl"):
        old.unlink()  # an update replaces the previous version's wheels
    # Build in this interpreter when it has the build backend (fast, offline); else pip isolates.
    isolation = ["--no-build-isolation"] if importlib.util.find_spec("hatchling") else []
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            *isolation,
            "--wheel-dir",
            str(folder),
            *projects,
        ],
        check=False,
    )
    return done.returncode


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1]), Path(sys.argv[2])))
