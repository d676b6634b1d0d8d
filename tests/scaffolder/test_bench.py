"""`scaffold bench` against the loopback model with recorded replies: the harness itself is proven.

A right reply is reported as pass@1, a repaired one as pass@2, a subtly wrong one that the fill
keeps as kept-but-wrong (only the hidden reference sees it), and a right module the fill rejects
as rejected-but-right once its code is handed to the bench. Real copier, real `fill` with the
real openai client over HTTP, real sandboxed rounds and a real pytest process for the reference.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from scaffolder.bench import (
    BenchOptions,
    BenchReport,
    default_tasks_dir,
    load_task_set,
    run_bench,
)
from scaffolder.prices import DEFAULT_PRICES
from scaffolder.providers import DEFAULT_MODELS
from scaffolder.replies import parse_reply

from .llm_server import Action, ScriptedLLM, table_of

REPLIES = Path(__file__).parent / "bench_replies"
SCRIPT = {
    "customers": ["customers.md"],  # right at once: pass@1
    "payments": ["payments_attempt1.md", "payments.md"],  # `.cast` fails under ANSI, repaired: pass@2
    "shipments_local": ["shipments_local.md"],  # UTC instead of local time: kept, but wrong
    "raw_fx_rates": ["raw_fx_rates.md"],  # a right module without tests: rejected every time
}
PROVIDER_VARS = ("OPENAI_", "AZURE_OPENAI_", "DATABRICKS_", "OLLAMA_", "SCAFFOLD_")


def _environ(**extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(PROVIDER_VARS)}
    return {**clean, **extra}


def test_the_task_set_is_complete_and_its_references_stay_hidden() -> None:
    task_set = load_task_set(default_tasks_dir())
    layers = Counter(task.layer for task in task_set.tasks.values())
    assert len(task_set.tasks) >= 15 and min(layers[layer] for layer in ("bronze", "silver", "gold")) >= 4
    for task in task_set.tasks.values():
        assert task.cases.is_file() and task.solution.is_file()
        visible = (task.folder / "table.yml").read_text() + "".join(
            p.read_text() for p in task.landing.rglob("*") if p.is_file()
        )
        assert "Hidden reference" not in visible and "solution" not in visible
    # The bench repo is built from table.yml and landing/ only: the prompt builder reads that
    # repo (tables.yml, src/, examples/), never the task folders.
    assert all(task.folder.parent == task_set.folder for task in task_set.tasks.values())


@pytest.mark.slow
def test_bench_reports_pass_at_1_pass_at_2_and_a_kept_but_wrong_reply(template_repo: Path, tmp_path: Path) -> None:
    replies = {table: [(REPLIES / name).read_text() for name in names] for table, names in SCRIPT.items()}
    asked: Counter[str] = Counter()

    def respond(request: dict[str, Any]) -> Action:
        table = table_of(request)
        asked[table] += 1
        script = replies[table]
        return Action(content=script[min(asked[table], len(script)) - 1])

    def recorded_rejects(task: str, outcome: Any) -> Mapping[str, str] | None:
        """What FillReport does not expose yet: the rejected reply's files (here: the recorded reply)."""
        layers = ("bronze", "silver", "gold")
        modules = {f"src/fillbench/transformations/{la}/{task}.py" for la in layers}
        tests = {f"tests/unit/{la}/test_{task}.py" for la in layers}
        files = parse_reply(replies[task][-1], modules | tests).files
        return {path: code for path, code in files.items() if path in modules}

    with ScriptedLLM(respond) as llm:
        report = run_bench(
            BenchOptions(
                tasks=list(SCRIPT),
                workdir=tmp_path / "bench",
                keep=True,
                overrides={"provider": "openai"},
                template=template_repo,
            ),
            environ=_environ(OPENAI_BASE_URL=llm.base_url, OPENAI_API_KEY="sk-loopback"),
            rejected_code=recorded_rejects,
        )
        prompts = [m["content"] for r in llm.requests for m in r["messages"]]

    assert report.mode == "fill" and report.provider == "openai" and report.model == DEFAULT_MODELS["openai"]
    run = report.runs[0]
    tasks = {t.task: t for t in run.tasks}
    failures = {name: t.reference_failures for name, t in tasks.items()}

    right = tasks["customers"]
    assert (right.status, right.kept_at, right.reference, right.correct_at) == ("filled", 1, "passed", 1), (
        failures,
        {n: t.problems for n, t in tasks.items()},
    )
    assert not right.kept_but_wrong and right.mutation is not None
    assert right.mutation.required > 0 and right.mutation.killed == right.mutation.required
    assert right.tokens_in > 0 and right.tokens_out > 0
    assert right.cost_usd == pytest.approx(float(DEFAULT_PRICES.cost(report.model, right.tokens_in, right.tokens_out)))

    repaired = tasks["payments"]
    assert (repaired.attempts, repaired.kept_at, repaired.correct_at) == (2, 2, 2), (repaired, failures)
    assert repaired.reference == "passed" and not repaired.kept_but_wrong

    wrong = tasks["shipments_local"]
    assert (wrong.status, wrong.kept_at, wrong.reference) == ("filled", 1, "failed"), wrong.problems
    assert wrong.kept_but_wrong and wrong.correct_at is None
    assert any("s-1" in f and "America/New_York" in f for f in wrong.reference_failures), wrong.reference_failures

    rejected = tasks["raw_fx_rates"]
    assert (rejected.status, rejected.attempts, rejected.kept_at) == ("failed", 3, None)
    assert any("no tests" in p for p in rejected.problems), rejected.problems
    assert rejected.rejected_but_right is True and rejected.reference == "passed"

    totals = report.summary
    assert (totals.tasks, totals.kept, totals.kept_at, totals.correct_at) == (4, 3, {1: 2, 2: 1}, {1: 1, 2: 1})
    assert (totals.pass_at_1, totals.pass_at_3) == (0.25, 0.5)
    assert (totals.kept_but_wrong, totals.rejected, totals.rejected_but_right) == (1, 1, 1)
    assert totals.mutation_score == 1.0 and totals.probe_findings == 0
    assert totals.cost_usd is not None and totals.cost_usd > 0 and totals.seconds > 0
    assert dict(asked) == {"customers": 1, "payments": 2, "shipments_local": 1, "raw_fx_rates": 3}

    # The model never saw the references: not their cases, not their expected values.
    assert not any("Hidden reference" in p or "31.75" in p or "reference_runner" in p for p in prompts)
    project = Path(run.project or "")
    assert (project / "bench_reference" / "cases" / "shipments_local.yml").is_file()
    assert (project / "data" / "landing" / "fx_rates" / "rates.csv").is_file()

    # JSON to share, JSON lines to append: both read back.
    assert BenchReport.model_validate_json(report.model_dump_json()) == report
    lines = [json.loads(line) for line in report.json_lines()]
    assert [line["kind"] for line in lines] == ["task"] * 4 + ["run", "summary"]
    assert lines[-1]["summary"]["kept_but_wrong"] == 1 and lines[-1]["model"] == report.model


@pytest.mark.slow
def test_every_hidden_solution_passes_its_reference_through_the_cli(tmp_path: Path) -> None:
    """Calibration: the tasks are solvable in the safe subset, and the harness judges them right."""
    out = tmp_path / "solutions.json"
    result = subprocess.run(
        [sys.executable, "-m", "scaffolder", "bench", "--solutions", "--json", str(out), "--project", str(tmp_path)],
        capture_output=True,
        text=True,
        env={**_environ(), "COLUMNS": "200"},
        timeout=900,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    report = BenchReport.model_validate_json(out.read_text())
    assert report.mode == "solutions" and len(report.tasks) >= 15
    tasks = report.runs[0].tasks
    assert [t.task for t in tasks if t.reference != "passed"] == [], [t.reference_failures for t in tasks]
    assert [t.problems for t in tasks if t.problems] == []  # every solution is inside the safe subset
    assert report.summary.pass_at_1 == 1.0 and report.summary.kept_but_wrong == 0
    assert "scaffold bench — solutions (reference)" in output and "pass@1 100%" in output


def test_bench_errors_are_one_line_naming_the_input_and_the_fix(tmp_path: Path) -> None:
    def bench(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "scaffolder", "bench", *args, "--project", str(tmp_path)],
            capture_output=True,
            text=True,
            env={**_environ(), "COLUMNS": "200"},
            timeout=120,
        )

    unknown = bench("--tasks", "customers,nope", "--solutions")
    assert unknown.returncode == 2
    assert "--tasks nope: not in the task set" in unknown.stderr and "known: raw_customer_history" in unknown.stderr
    jsonl = bench("--jsonl")
    assert jsonl.returncode == 2 and "--jsonl needs --json PATH" in jsonl.stderr
    missing = bench("--tasks-dir", str(tmp_path / "none"))
    assert missing.returncode == 2 and "no fill task set at" in missing.stderr and "--tasks-dir" in missing.stderr
    for result in (unknown, jsonl, missing):
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_the_bench_repo_fills_with_the_users_scaffold_settings(tmp_path: Path) -> None:
    import tomllib

    from scaffolder.bench import _copy_scaffold_settings

    user = tmp_path / "user"
    (user / "src" / "shop").mkdir(parents=True)
    (user / "tables.yml").write_text("version: 1\ntables: []\n")
    (user / "pyproject.toml").write_text(
        '[project]\nname = "shop"\n\n[tool.scaffold]\nprovider = "ollama"\nmodel = "qwen3:32b"\n'
        'max_attempts = 2\nmax_tokens = 16000\nallowed_imports = ["numpy"]\n\n[tool.ruff]\nline-length = 100\n'
    )
    target = tmp_path / "bench" / "pyproject.toml"
    target.parent.mkdir()
    target.write_text(
        '[project]\nname = "fillbench"\n\n[tool.scaffold]\nprovider = "auto"\n# model = "..."\njobs = 4\n\n'
        '[tool.pytest.ini_options]\ntestpaths = ["tests"]\n'
    )
    _copy_scaffold_settings(user, target)
    copied = tomllib.loads(target.read_text())
    assert copied["tool"]["scaffold"] == {
        "provider": "ollama",
        "model": "qwen3:32b",
        "max_attempts": 2,
        "max_tokens": 16000,
        "allowed_imports": ["numpy"],
    }
    assert copied["project"]["name"] == "fillbench" and copied["tool"]["pytest"]["ini_options"]["testpaths"] == [
        "tests"
    ]


def test_prices_find_the_model_a_name_stands_for() -> None:
    from decimal import Decimal

    from scaffolder.errors import ScaffoldError
    from scaffolder.prices import cost

    assert cost("gpt-4.1", 1_000_000, 1_000_000) == Decimal("10.00")
    assert cost("openai/gpt-4.1-2025-04-14", 500_000, 0) == Decimal("1.00")
    assert cost("gpt-4.1-mini", 1_000_000, 0) == Decimal("0.40")  # never priced as gpt-4.1
    assert cost("qwen2.5-coder:32b", 10**6, 10**6) == 0
    assert cost("my-endpoint", 1, 1) is None  # unknown: no guess
    table = DEFAULT_PRICES.with_overrides({"my-endpoint": {"input": 1, "output": 3}})
    assert table.cost("my-endpoint", 10**6, 10**6) == Decimal(4)
    with pytest.raises(ScaffoldError, match="prices: .*give each model"):
        DEFAULT_PRICES.with_overrides({"x": {"input": -1, "output": 0}})
