"""The user's story with `scaffold`: add a table, fill it, repair, survive failures and edits."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import copier
import pytest

from lakeforge.tables import load_tables
from scaffolder.providers import DEFAULT_MODELS
from scaffolder.stubs import stub_module

from ..template.conftest import commit_all, copy_project, git, make_template_repo
from .conftest import bronze_table, good_reply, scaffold, scaffold_loopback, scaffold_started, write_tables
from .llm_server import Action, ScriptedLLM, table_of


def run_repo_tests(project: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(project / "src")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.mark.slow
def test_a_bad_first_reply_is_repaired_and_written(bare_project: Path) -> None:
    write_tables(bare_project, [bronze_table("orders")])
    good = good_reply(bare_project, "orders")
    broken = good.replace("-> DataFrame:", "-> DataFrame", 1)

    def respond(request: dict) -> Action:
        return Action(content=broken if len(request["messages"]) == 2 else good)

    with ScriptedLLM(respond) as llm:
        result = scaffold_loopback(bare_project, llm.base_url, "fill", "bronze")
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(llm.requests) == 2
    repair = llm.requests[1]["messages"]
    assert repair[2]["role"] == "assistant" and repair[2]["content"] == broken
    assert "syntax:" in repair[3]["content"] and "Attempt 2 of 3" in repair[3]["content"]
    module = bare_project / "src/shop/transformations/bronze/orders.py"
    assert "add_ingestion_metadata" in module.read_text()
    manifest = json.loads((bare_project / ".scaffold/manifest.json").read_text())
    assert "src/shop/transformations/bronze/orders.py" in manifest["files"]
    audit = next((bare_project / ".scaffold/audit").glob("*.jsonl")).read_text().splitlines()
    calls = [json.loads(line) for line in audit if json.loads(line)["stage"] == "model"]
    assert [c["attempt"] for c in calls] == [1, 2]
    assert all(c["prompt_tokens_estimate"] < 4000 and c["model"] == DEFAULT_MODELS["openai"] for c in calls)

    # A re-run costs nothing: the table is filled, no request is made.
    with ScriptedLLM(respond) as llm:
        again = scaffold_loopback(bare_project, llm.base_url, "fill", "bronze")
    assert again.returncode == 0 and llm.requests == []
    assert "already filled" in again.stdout


@pytest.mark.slow
def test_tables_whose_replies_are_in_are_judged_while_a_slow_reply_is_still_written(bare_project: Path) -> None:
    """A model whose replies come apart: the first ones go to a round while the last is written.

    The slow table's reply is held until the quick table's module is written, i.e. until the quick
    table was judged and kept; a fill that waits for every reply before its round never gets there.
    """
    write_tables(bare_project, [bronze_table("quick"), bronze_table("slow")])
    tables = load_tables(bare_project / "tables.yml")
    quick_module = bare_project / "src/shop/transformations/bronze/quick.py"
    stub = stub_module(tables.get("quick"))
    held_until_quick_was_kept: list[bool] = []

    def respond(request: dict[str, Any]) -> Action:
        table = table_of(request)
        if table == "slow":
            deadline = time.monotonic() + 240
            while quick_module.read_text() == stub and time.monotonic() < deadline:
                time.sleep(0.2)  # the stub is written before any table is asked
            held_until_quick_was_kept.append(quick_module.read_text() != stub)
        return Action(content=good_reply(bare_project, table))

    with ScriptedLLM(respond) as llm:
        result = scaffold_loopback(  # one call per reply: the held one is not retried
            bare_project,
            llm.base_url,
            "fill",
            "bronze",
            SCAFFOLD_MAX_RETRIES="0",
            SCAFFOLD_REQUEST_TIMEOUT_SECONDS="300",
        )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert held_until_quick_was_kept == [True], output[-4000:]
    assert "2 validation round(s), 1 JVM start(s)" in output, output[-3000:]
    for table in ("quick", "slow"):
        assert "def transform" in (bare_project / f"src/shop/transformations/bronze/{table}.py").read_text()


@pytest.mark.slow
def test_ctrl_c_stops_a_fill_at_once_and_the_next_fill_finishes(bare_project: Path) -> None:
    """Ctrl-C while a slow model is still writing: the fill stops now, not when the reply comes;
    the table it proved stays, the other keeps its stub, and the next fill asks only for that one.

    The slow table's reply is held until the fill has exited (or a 240 s guard): a fill that waits
    for the model calls in flight before it exits does not exit within the 120 s the test gives it.
    """
    write_tables(bare_project, [bronze_table("quick"), bronze_table("slow")])
    tables = load_tables(bare_project / "tables.yml")
    module = {t: bare_project / f"src/shop/transformations/bronze/{t}.py" for t in ("quick", "slow")}
    stub = {t: stub_module(tables.get(t)) for t in ("quick", "slow")}
    fill_exited = threading.Event()

    def respond(request: dict[str, Any]) -> Action:
        table = table_of(request)
        if table == "slow":
            fill_exited.wait(240)
        return Action(content=good_reply(bare_project, table))

    def quick_kept() -> bool:
        return module["quick"].is_file() and module["quick"].read_text() != stub["quick"]

    settings = {"SCAFFOLD_MAX_RETRIES": "0", "SCAFFOLD_REQUEST_TIMEOUT_SECONDS": "300"}
    with ScriptedLLM(respond) as llm:
        fill = scaffold_started(bare_project, llm.base_url, "fill", "bronze", **settings)
        deadline = time.monotonic() + 240
        while not quick_kept() and fill.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)  # fill writes the stubs first, then asks
        fill.send_signal(signal.SIGINT)  # what a terminal sends on Ctrl-C
        try:
            output, _ = fill.communicate(timeout=120)  # the slow reply is still held here
        finally:
            fill_exited.set()
            fill.kill()
        assert fill.returncode == 130, output[-3000:]
        assert "Traceback" not in output, output[-3000:]
        (line,) = [line for line in output.splitlines() if line.startswith("interrupted")]
        assert "scaffold fill" in line and "again" in line, line
        assert quick_kept() and "def transform" in module["quick"].read_text()
        assert module["slow"].read_text() == stub["slow"]
        leftovers = [p.name for p in bare_project.rglob("*") if p.name.endswith(".tmp")]
        assert leftovers == [], leftovers

        asked_before = llm.count("quick")
        again = scaffold_loopback(bare_project, llm.base_url, "fill", "bronze", **settings)
    assert again.returncode == 0, (again.stdout + again.stderr)[-3000:]
    assert llm.count("quick") == asked_before, "the table kept before the Ctrl-C was asked for again"
    assert "def transform" in module["slow"].read_text() and module["slow"].read_text() != stub["slow"]


@pytest.mark.slow
def test_provider_failures_are_retried_then_reported_and_finished_tables_stay(bare_project: Path) -> None:
    tables = ["good", "rate_limited", "server_error", "slow", "dropped"]
    write_tables(bare_project, [bronze_table(t) for t in tables])
    good = good_reply(bare_project, "good")
    actions = {
        "good": Action(content=good),
        "rate_limited": Action(status=429),
        "server_error": Action(status=500),
        "slow": Action(content=good, delay=3),
        "dropped": Action(drop=True),
    }
    with ScriptedLLM(lambda request: actions[table_of(request)]) as llm:
        result = scaffold_loopback(
            bare_project,
            llm.base_url,
            "fill",
            "bronze",
            "--jobs",
            "5",
            SCAFFOLD_REQUEST_TIMEOUT_SECONDS="1",
            SCAFFOLD_MAX_RETRIES="2",
        )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    for table in tables[1:]:
        assert llm.count(table) == 3, f"{table}: expected 1 call + 2 retries, got {llm.count(table)}"
    assert "rate_limited: provider: openai" in output and "HTTP 429 rate limited after 2 retries" in output
    assert "server_error: provider: openai" in output and "HTTP 500 after 2 retries" in output
    assert "slow: provider: openai" in output and "timed out after 2 retries" in output
    assert "dropped: provider: openai" in output and "connection failed after 2 retries" in output
    assert "add_ingestion_metadata" in (bare_project / "src/shop/transformations/bronze/good.py").read_text()
    specs = load_tables(bare_project / "tables.yml")
    for table in tables[1:]:
        assert (bare_project / f"src/shop/transformations/bronze/{table}.py").read_text() == stub_module(
            specs.get(table)
        )


@pytest.mark.slow
def test_offline_fills_the_template_example_project_and_its_tests_pass(template_repo: Path, tmp_path: Path) -> None:
    project = copy_project(template_repo, tmp_path / "examples", project_name="shop")
    for spec in load_tables(project / "tables.yml").tables:
        (project / spec.module_path("shop")).unlink()
        (project / spec.test_path()).unlink()
    result = scaffold(project, "fill", "all")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "using the offline generator" in output
    assert output.count(" filled ") == 5 or output.count("filled") >= 5
    tests = run_repo_tests(project)
    assert tests.returncode == 0, tests.stdout[-3000:]
    assert "passed" in tests.stdout


@pytest.mark.slow
def test_a_persons_edit_survives_fill_and_copier_update(tmp_path: Path) -> None:
    template = make_template_repo(tmp_path / "template", tag="v1")
    project = copy_project(template, tmp_path / "shop", vcs_ref=None, project_name="shop", include_examples=False)
    added = scaffold(
        project,
        "add",
        "bronze",
        "refunds",
        "--column",
        "refund_id:string!",
        "--column",
        "amount:decimal(10,2)",
        "--source",
        "refunds",
        "--format",
        "json",
        "--description",
        "Refunds from the payment provider.",
    )
    assert added.returncode == 0, added.stdout + added.stderr
    module = project / "src/shop/transformations/bronze/refunds.py"
    assert "raise NotImplementedError" in module.read_text()

    # A person starts writing the stub by hand: fill must not overwrite it.
    module.write_text(module.read_text().replace('"""Not written yet."""', '"""Started by hand: keep it."""'))
    edited = module.read_text()
    refused = scaffold(project, "fill", "bronze")
    assert refused.returncode == 1
    assert "edited by a person" in refused.stdout and "--force" in refused.stdout
    assert module.read_text() == edited

    forced = scaffold(project, "fill", "bronze", "--force")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    filled = module.read_text()
    assert "add_ingestion_metadata" in filled

    # The filled module, edited again by the team, survives a template upgrade.
    module.write_text(filled + "\n# reviewed by the team\n")
    commit_all(project, "team work")
    (template / "template" / "config" / "local.yaml.jinja").write_text(
        (template / "template" / "config" / "local.yaml.jinja").read_text() + "# v2 note\n"
    )
    git(template, "commit", "-qam", "v2")
    git(template, "tag", "v2")
    copier.run_update(project, defaults=True, overwrite=True, unsafe=True, quiet=True)
    assert module.read_text() == filled + "\n# reviewed by the team\n"
    assert "# v2 note" in (project / "config" / "local.yaml").read_text()


def test_add_rejects_bad_input_and_writes_nothing(bare_project: Path) -> None:
    before = (bare_project / "tables.yml").read_text()
    bad_column = scaffold(bare_project, "add", "bronze", "t1", "--column", "id", "--source", "t1", "--description", "x")
    assert bad_column.returncode == 2 and "use NAME:TYPE" in bad_column.stderr
    bad_type = scaffold(
        bare_project, "add", "bronze", "t1", "--column", "id:integer64", "--source", "t1", "--description", "x"
    )
    assert bad_type.returncode == 2 and "type 'integer64' is not supported" in bad_type.stderr
    bad_name = scaffold(
        bare_project, "add", "silver", "My-Table", "--column", "id:int", "--input", "x", "--description", "x"
    )
    assert bad_name.returncode == 2 and "not a valid Unity Catalog identifier" in bad_name.stderr
    assert (bare_project / "tables.yml").read_text() == before
    assert not list((bare_project / "src/shop/transformations").rglob("t1.py"))


def test_fill_outside_a_repo_says_what_to_do(tmp_path: Path) -> None:
    result = scaffold(tmp_path, "fill", "bronze")
    assert result.returncode == 2
    assert "no tables.yml with a pyproject.toml found" in result.stderr


@pytest.mark.slow
def test_dry_run_shows_the_diff_and_writes_nothing(bare_project: Path) -> None:
    write_tables(bare_project, [bronze_table("payments")])
    before = sorted(p.relative_to(bare_project) for p in bare_project.rglob("*") if ".scaffold" not in p.parts)
    result = scaffold(bare_project, "fill", "bronze", "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "+++ b/src/shop/transformations/bronze/payments.py" in result.stdout
    assert "would-write" in result.stdout
    after = sorted(p.relative_to(bare_project) for p in bare_project.rglob("*") if ".scaffold" not in p.parts)
    assert after == before


def test_bad_settings_name_the_setting_and_the_fix(bare_project: Path) -> None:
    result = scaffold(bare_project, "fill", "bronze", env={"SCAFFOLD_JOBS": "0"})
    assert result.returncode == 2
    assert "[tool.scaffold] jobs: Input should be greater than or equal to 1" in result.stderr
    unknown = scaffold(bare_project, "fill", "platinum")
    assert unknown.returncode == 2 and "layer 'platinum' is unknown: use bronze, silver, gold or all" in unknown.stderr
