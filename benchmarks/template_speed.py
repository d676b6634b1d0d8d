"""Template speed, as ratios from one run (issue: the Copier template).

1. full-template `copier copy` time ÷ a one-file template's copy time (target ≤ 2): the template
   adds little over copier's own fixed cost.
2. the generated example repo's `pytest` wall time ÷ a bare local Spark start + one action + stop
   (target ≤ 1.5): the repo's whole suite costs about what one naive Spark script costs.

Run: python benchmarks/template_speed.py   (needs the dev environment: copier, pyspark, lakeforge)
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import copier

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.template.conftest import base_answers, git, make_template_repo  # noqa: E402

BARE_SPARK = (
    "from pyspark.sql import SparkSession\n"
    "spark = SparkSession.builder.master('local[*]').getOrCreate()\n"
    "spark.range(10).count()\n"
    "spark.stop()\n"
)


def one_file_template(folder: Path) -> Path:
    folder.mkdir()
    (folder / "copier.yml").write_text("_subdirectory: template\nproject_name:\n  type: str\n  default: demo\n")
    (folder / "template").mkdir()
    (folder / "template" / "README.md.jinja").write_text("# {{ project_name }}\n")
    git(folder, "init", "-q", "-b", "main")
    git(folder, "add", "-A")
    git(folder, "commit", "-q", "-m", "one file")
    git(folder, "tag", "v1")
    return folder


def time_copy(template: Path, workdir: Path, data: dict, repeats: int = 5) -> float:
    times = []
    for index in range(repeats):
        start = time.perf_counter()
        copier.run_copy(str(template), workdir / f"copy{index}", data=data, defaults=True, unsafe=True, quiet=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def wall(args: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return elapsed


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        full = make_template_repo(work / "full")
        small = one_file_template(work / "small")
        full_s = time_copy(full, work / "out-full", base_answers())
        small_s = time_copy(small, work / "out-small", {})
        print(f"copier copy from tagged git repos: full template {full_s:.2f}s, one-file template {small_s:.2f}s")
        print(f"ratio copy_full/copy_one_file = {full_s / small_s:.2f}  (target <= 2)")

        project = work / "out-full" / "copy0"
        env_python = sys.executable
        pytest_s = wall([env_python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], project)
        bare_s = wall([env_python, "-c", BARE_SPARK], project)
        tuned_s = wall(
            [
                env_python,
                "-c",
                "from lakeforge.session import SparkSessionFactory as F; s=F.create_local(); "
                "s.range(10).count(); s.stop()",
            ],
            project,
        )
        print(
            f"example repo pytest {pytest_s:.1f}s; bare Spark start+action+stop {bare_s:.1f}s "
            f"(lakeforge-tuned: {tuned_s:.1f}s)"
        )
        print(f"ratio repo_pytest/bare_spark = {pytest_s / bare_s:.2f}  (target <= 1.5)")
        print(f"ratio repo_pytest/tuned_spark = {pytest_s / tuned_s:.2f}")


if __name__ == "__main__":
    main()
