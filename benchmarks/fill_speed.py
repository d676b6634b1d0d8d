"""`scaffold fill` speed against the loopback model with 1 s latency per reply, from one run.

Prints: wall time of filling 10 tables ÷ filling 1 table (target ≤ 1.5), and JVM starts per
validation round (target 1). Model calls run in parallel (`jobs`) and all tables of a round
share one pytest process, so ten tables should cost little more than one.

Run: python benchmarks/fill_speed.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scaffolder.fill import fill  # noqa: E402
from scaffolder.project import load_project  # noqa: E402
from tests.scaffolder.conftest import bronze_table, good_reply, write_tables  # noqa: E402
from tests.scaffolder.llm_server import Action, ScriptedLLM, table_of  # noqa: E402
from tests.template.conftest import copy_project, make_template_repo  # noqa: E402

LATENCY = 1.0


def timed_fill(template: Path, work: Path, count: int, jobs: int) -> tuple[float, int, int]:
    project_dir = copy_project(template, work / f"shop{count}-{jobs}", project_name="shop", include_examples=False)
    names = [f"t{i:02d}" for i in range(count)]
    write_tables(project_dir, [bronze_table(n) for n in names])
    replies = {n: good_reply(project_dir, n) for n in names}
    with ScriptedLLM(lambda request: Action(content=replies[table_of(request)], delay=LATENCY)) as llm:
        environ = {"OPENAI_BASE_URL": llm.base_url, "OPENAI_API_KEY": "sk-loopback", "PATH": "/usr/bin:/bin"}
        project = load_project(project_dir, {"provider": "openai", "jobs": jobs}, environ={})
        start = time.perf_counter()
        report = fill(project, "bronze", environ=environ)
        elapsed = time.perf_counter() - start
    assert not report.failed, [o.errors for o in report.failed]
    return elapsed, report.rounds, report.jvm_starts


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        template = make_template_repo(work / "template")
        one, rounds1, jvm1 = timed_fill(template, work, 1, jobs=4)
        for jobs in (4, 10):
            ten, rounds10, jvm10 = timed_fill(template, work, 10, jobs=jobs)
            print(
                f"jobs={jobs}: fill 10 tables {ten:.1f}s, fill 1 table {one:.1f}s (model latency {LATENCY:.0f}s/reply)"
            )
            print(f"jobs={jobs}: ratio fill10/fill1 = {ten / one:.2f}  (target <= 1.5)")
            print(
                f"jobs={jobs}: JVM starts per validation round = {jvm10 / rounds10:.0f} ({jvm10} starts, {rounds10} round)"
            )
        print(f"1 table: {jvm1} JVM start(s) in {rounds1} round(s)")


if __name__ == "__main__":
    main()
