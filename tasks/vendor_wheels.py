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
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def sources(source: Path, scratch: Path) -> list[Path]:
    """The runtime's and scaffold's project folders: a checkout has them; an installed scaffold's
    bundled template carries the runtime's source and scaffold's own files, reassembled here."""
    found = []
    if _named(source / "runtime" / "pyproject.toml", "lakeforge"):
        found.append(source / "runtime")
    if _named(source / "pyproject.toml", "lakeforge-scaffolder"):
        found.append(source)
    elif _named(source / "scaffolder.pyproject.toml", "lakeforge-scaffolder"):
        found.append(_reassemble(source, scratch / "scaffolder"))
    return found


def _named(pyproject: Path, name: str) -> bool:
    found = re.search(r'^name\s*=\s*"([^"]+)"', pyproject.read_text(), re.M) if pyproject.is_file() else None
    return bool(found and found.group(1) == name)


def _reassemble(bundled: Path, project: Path) -> Path:
    """scaffolder/_resources/template -> a buildable lakeforge-scaffolder project."""
    package = bundled.parent.parent  # .../scaffolder
    resources = bundled.parent  # .../scaffolder/_resources
    skip = shutil.ignore_patterns("_resources", "__pycache__")
    shutil.copytree(package, project / "scaffolder", ignore=skip)
    shutil.copy2(bundled / "scaffolder.pyproject.toml", project / "pyproject.toml")
    shutil.copy2(bundled / "scaffolder.README.md", project / "README.md")
    for name in ("prompts", "examples"):
        shutil.copytree(resources / name, project / name)
    shutil.copy2(bundled / "copier.yml", project / "copier.yml")
    for name in ("template", "tasks", "runtime"):
        shutil.copytree(bundled / name, project / name, ignore=shutil.ignore_patterns("__pycache__"))
    return project


def main(source: Path, folder: Path) -> int:
    with tempfile.TemporaryDirectory(prefix="lakeforge-vendor-") as scratch:
        projects = sources(source, Path(scratch))
        if not projects:
            print(
                f"vendor_wheels: {source} holds no lakeforge source: answer lakeforge_index with your "
                "package index, or copy from a Lakeforge checkout",
                file=sys.stderr,
            )
            return 1
        folder.mkdir(exist_ok=True)
        for old in folder.glob("lakeforge*.whl"):
            old.unlink()  # an update replaces the previous version's wheels
        # Build in this interpreter when it has the build backend (fast, offline); else pip isolates.
        isolation = ["--no-build-isolation"] if importlib.util.find_spec("hatchling") else []
        wheel = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", *isolation, "--wheel-dir", str(folder)]
        return subprocess.run([*wheel, *map(str, projects)], check=False).returncode


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1]), Path(sys.argv[2])))
