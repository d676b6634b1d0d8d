"""Fill quality from one run of the fill benchmark (`scaffold bench`), for CI and for comparing models.

Fills the task set in `benchmarks/fill_tasks/` (19 tables, bronze to gold, each with a hidden
reference) in fresh repos with the provider the environment configures (`OPENAI_API_KEY`,
`DATABRICKS_HOST`, `AZURE_OPENAI_*`, `OLLAMA_HOST`, `SCAFFOLD_*`; none: the offline generator),
judges what the fill kept with the hidden references, and prints:
- pass@1 and pass@3: the share of tasks kept at attempt 1 (within 3) and right by the reference;
- kept-but-wrong: kept by the fill, failed by the reference (target 0);
- the mutation score of the kept tests, contract-probe findings, tokens, estimated cost, wall time.

`--solutions` judges the hidden solutions instead of asking a model: every task must pass (the
task set and the harness calibrated). Exit 1 when a kept table is wrong. No timed asserts.

Run: python benchmarks/fill_quality.py [--tasks payments,customers] [--repeat 3] [--json out.json] [--solutions]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scaffolder.bench import BenchOptions, run_bench  # noqa: E402
from scaffolder.errors import ScaffoldError  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="", help="comma-separated task names (default: all)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of the whole set, for variance")
    parser.add_argument("--json", type=Path, help="write the report (JSON) here")
    parser.add_argument("--solutions", action="store_true", help="judge the hidden solutions; ask no model")
    parser.add_argument("--provider", help="model provider (default: auto)")
    parser.add_argument("--model", help="model, deployment or serving endpoint")
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in {"provider": args.provider, "model": args.model}.items() if v}
    options = BenchOptions(
        tasks=[t for t in args.tasks.split(",") if t],
        repeat=args.repeat,
        solutions=args.solutions,
        overrides=overrides,
    )
    try:
        report = run_bench(options, progress=lambda task, event: print(f"  {task + ': ' if task else ''}{event}"))
    except ScaffoldError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    s = report.summary
    print(report.announcement or f"{report.provider} ({report.model})")
    for run in report.runs:
        for t in run.tasks:
            verdict = "KEPT BUT WRONG" if t.kept_but_wrong else f"right at {t.correct_at}" if t.correct_at else t.status
            print(f"  run {run.run} {t.task:<24} kept at {t.kept_at or '-'}  {verdict}")
    print(f"pass@1 = {s.pass_at_1:.2f}, pass@3 = {s.pass_at_3:.2f} over {s.tasks} task(s) x {report.repeat} run(s)")
    print(f"kept-but-wrong = {s.kept_but_wrong}  (target 0)")
    score = "n/a" if s.mutation_score is None else f"{s.mutation_score:.2f}"
    print(f"mutation score = {score}, contract-probe findings = {s.probe_findings}")
    cost = "unknown" if s.cost_usd is None else f"${s.cost_usd:.4f}"
    print(f"tokens in/out = {s.tokens_in}/{s.tokens_out}, estimated cost = {cost}, wall time = {s.seconds:.0f} s")
    for name, spread in report.spread.items():
        print(f"{name}: mean {spread.mean} ± {spread.stdev} (min {spread.min}, max {spread.max})")
    for note in report.notes:
        print(f"note: {note}")
    if args.json:
        args.json.write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
        print(f"report: {args.json}")
    return 1 if s.kept_but_wrong else 0


if __name__ == "__main__":
    raise SystemExit(main())
