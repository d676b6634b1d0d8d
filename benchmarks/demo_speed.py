"""The README's first command on a fresh clone, and the demo's fill alone, from one run.

Prints, each with its target (issue "Fast where people wait"):
- README line 1 on a fresh `git clone` of this checkout's HEAD: venv, installs (pip's cache as
  it is on this machine), `scaffold demo` (≤ 120 s);
- the demo's phases from its own progress events, in that same run's clone: copy, fill of every
  table (≤ 30 s), the demo repo's own tests;
- whether this machine already had the JVM class-data archive (the first local Spark start of
  the demo repo's own tests writes it; run with LAKEFORGE_CACHE_DIR=<an empty folder> to time a
  machine without one).

Run: python benchmarks/demo_speed.py
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PHASES_SCRIPT = """
import sys, time
from pathlib import Path
from scaffolder.demo import run_demo
marks = []
def progress(table, event):
    if not table:
        marks.append((time.perf_counter(), event))
start = time.perf_counter()
result = run_demo(Path(sys.argv[1]), progress=progress)
marks.append((time.perf_counter(), "done"))
for (at, event), (until, _) in zip(marks, marks[1:]):
    print(f"PHASE {until - at:.1f} {event.split(' (')[0]}")
print(f"PASSED {bool(result.tests_passed and not result.report.failed)}")
"""


def readme_line_one() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block, "README.md has no bash block"
    return block.group(1).splitlines()[0]


def main() -> None:
    from lakeforge.jvm import archive_path

    archive_before = archive_path().is_file()
    command = readme_line_one()
    with tempfile.TemporaryDirectory(prefix="lakeforge-demo-speed-") as tmp:
        clone = Path(tmp) / "lakeforge"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        start = time.perf_counter()
        done = subprocess.run(["bash", "-c", command], cwd=clone, capture_output=True, text=True)
        line_one = time.perf_counter() - start
        if done.returncode != 0:
            sys.exit(f"README line 1 failed ({done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
        phases = subprocess.run(
            [str(clone / ".venv/bin/python"), "-c", PHASES_SCRIPT, str(clone / "demo-phases")],
            cwd=clone,
            capture_output=True,
            text=True,
        )
    print(f"README line 1 on a fresh clone: {line_one:.1f}s  (target <= 120 s; pip cache as on this machine)")
    print(f"class-data archive present before the run: {archive_before}  (absent: written by the first Spark start)")
    fill = None
    for line in phases.stdout.splitlines():
        if line.startswith("PHASE "):
            _, seconds, event = line.split(" ", 2)
            print(f"  demo phase {event}: {float(seconds):.1f}s")
            if event.startswith("filling"):
                fill = float(seconds)
        elif line.startswith("PASSED "):
            print(f"  demo tests passed: {line.split()[1]}")
    if fill is None:
        sys.exit(f"the demo's phases were not reported:\n{phases.stdout[-2000:]}{phases.stderr[-2000:]}")
    print(f"demo fill of every table: {fill:.1f}s  (target <= 30 s)")


if __name__ == "__main__":
    main()
