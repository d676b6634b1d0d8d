"""`scaffold fill` speed against the loopback model with 1 s latency per reply, from one run.

Prints, each with its target:
- fill 10 tables ÷ fill 1 table at the default `jobs` (≤ 1.5), and the marginal seconds per
  table: model calls run in parallel, every run of a round is scheduled across the cores;
- JVM starts per fill (1): one sandboxed Spark Connect server serves every round of a fill;
- a repair round ÷ the first round (≤ 0.3): a table whose first reply fails its own test gets a
  second round on the running server (the first round also waits for the JVM to boot);
- the sandbox's cost: the same 10-table fill with the sandbox ÷ without it (≤ 1.1);
- replies that come apart (1 s to 8.2 s): the fill ÷ waiting for the last reply, then one round;
- the mutation stage's share of a round, against the real tests' own time.

Run: python benchmarks/fill_speed.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scaffolder.fill import FillReport, fill  # noqa: E402
from scaffolder.project import ScaffoldSettings, load_project  # noqa: E402
from tests.scaffolder.conftest import bronze_table, good_reply, write_tables  # noqa: E402
from tests.scaffolder.llm_server import Action, ScriptedLLM, table_of  # noqa: E402
from tests.template.conftest import copy_project, make_template_repo  # noqa: E402

LATENCY = 1.0
DEFAULT_JOBS = ScaffoldSettings().jobs


BROKEN_TEST = "\n\ndef test_one_row_too_many(spark):\n    assert spark.range(1).count() == 2\n```"


def timed_fill(
    template: Path, work: Path, count: int, sandbox: str, repair: bool = False, spread: list[float] | None = None
) -> tuple[float, FillReport]:
    """One fill of `count` tables; `spread` collects when each reply was sent, then each table's
    reply takes a different time (1 s, 1.8 s, ... as a real model's do) instead of LATENCY."""
    folder = f"shop{count}-{sandbox}{'-repair' if repair else ''}{'-spread' if spread is not None else ''}"
    project_dir = copy_project(template, work / folder, project_name="shop", include_examples=False)
    names = [f"t{i:02d}" for i in range(count)]
    write_tables(project_dir, [bronze_table(n) for n in names])
    replies = {n: good_reply(project_dir, n) for n in names}
    asked: dict[str, int] = {}

    def reply(request: dict[str, Any]) -> Action:
        table = table_of(request)
        asked[table] = asked.get(table, 0) + 1
        good = replies[table]
        if spread is not None:
            delay = LATENCY + 0.8 * names.index(table)
            spread.append(time.perf_counter() + delay)
            return Action(content=good, delay=delay)
        if repair and asked[table] == 1:  # its own test fails in the round: a repair round follows
            head, _, tail = good.rpartition("```")
            return Action(content=head.rstrip() + BROKEN_TEST + tail, delay=LATENCY)
        return Action(content=good, delay=LATENCY)

    with ScriptedLLM(reply) as llm:
        environ = {"OPENAI_BASE_URL": llm.base_url, "OPENAI_API_KEY": "sk-loopback", "PATH": "/usr/bin:/bin"}
        project = load_project(project_dir, {"provider": "openai", "sandbox": sandbox}, environ={})
        start = time.perf_counter()
        report = fill(project, "bronze", environ=environ)
        elapsed = time.perf_counter() - start
    if spread is not None:
        spread[:] = [sent - start for sent in spread]
    assert not report.failed, [o.errors for o in report.failed]
    return elapsed, report


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        template = make_template_repo(work / "template")
        timed_fill(template, work / "warm", 1, "auto")  # JVM class-data archive and page cache, not measured
        one, report1 = timed_fill(template, work, 1, "auto")
        ten, report10 = timed_fill(template, work, 10, "auto")
        ten_off, report_off = timed_fill(template, work, 10, "off")
        _, repaired = timed_fill(template, work, 1, "auto", repair=True)
        sent: list[float] = []
        apart, report_apart = timed_fill(template, work, 10, "auto", spread=sent)
    print(
        f"fill 1 table {one:.1f}s, fill 10 tables {ten:.1f}s (jobs={DEFAULT_JOBS}, model latency {LATENCY:.0f}s/reply)"
    )
    print(f"ratio fill10/fill1 = {ten / one:.2f}  (target <= 1.5)")
    print(f"marginal table: {(ten - one) / 9:.2f}s per table beyond the first")
    extra_runs = max(1, report10.runs - report1.runs)
    print(
        f"one extra run (a fresh worker, its tests, its report): {(ten - one) / extra_runs:.3f}s of wall time "
        f"({report10.runs} runs for 10 tables, {report1.runs} for 1)"
    )
    for label, report in (("1 table", report1), ("10 tables", report10), ("1 table repaired", repaired)):
        print(f"{label}: JVM starts per fill = {report.jvm_starts}, rounds = {report.rounds}  (target 1 start)")
    (_, first_setup), *later = repaired.each_round
    if later:
        (repair, repair_setup), (same_work, _) = later[0], report1.each_round[0]
        print(
            f"repair round's fixed cost (until its first run starts): {repair_setup:.2f}s vs the first round's "
            f"{first_setup:.2f}s (it waits for the JVM): ratio {repair_setup / first_setup:.2f}  (target <= 0.3)"
        )
        print(
            f"repair round {repair:.1f}s vs the 1-table fill's first round on the same reply {same_work:.1f}s: "
            f"ratio {repair / same_work:.2f}"
        )
    else:
        print(f"repair round: none happened ({repaired.rounds} round(s)): the broken reply was not caught")
    print(
        f"sandbox cost: 10-table fill {ten:.1f}s in bubblewrap vs {ten_off:.1f}s without, "
        f"round {report10.round_seconds:.1f}s vs {report_off.round_seconds:.1f}s: "
        f"ratio {report10.round_seconds / report_off.round_seconds:.2f}  (target <= 1.1)"
    )
    waiting = max(sent) + report10.round_seconds
    print(
        f"replies that come apart (1 s to {LATENCY + 0.8 * 9:.1f} s): fill 10 tables {apart:.1f}s in "
        f"{report_apart.rounds} round(s); the last reply came at {max(sent):.1f}s; waiting for every reply, then "
        f"one 10-table round ({report10.round_seconds:.1f}s above) would take about {waiting:.1f}s: "
        f"ratio {apart / waiting:.2f}"
    )
    print(
        f"mutation stage: {report10.mutation_seconds:.1f}s of a {report10.round_seconds:.1f}s round; "
        f"the real tests (each run twice) {report10.test_seconds:.1f}s: "
        f"ratio mutants/tests = {report10.mutation_seconds / report10.test_seconds:.2f}  (target <= 1.0)"
    )


if __name__ == "__main__":
    main()
