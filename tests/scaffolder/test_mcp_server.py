"""`scaffold serve`: the IDE agent's toolbox, through the official MCP client.

In memory (the SDK's `Client` on the server object, with the initialize handshake and JSON-RPC
framing, as IDEs speak it today) against one generated repo with the example tables; and over
real stdio, started the way the repo's `.mcp.json` and `.vscode/mcp.json` start it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import jsonschema_rs
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from scaffolder import __version__
from scaffolder.mcp_server import build_server, run_engine

from ..template.conftest import copy_project
from .conftest import good_reply, scaffold
from .llm_server import Action, ScriptedLLM, table_of

TOOLS = {"list_tables", "add", "fill_layer", "validate", "generate_tests", "profile", "doctor"}
PROMPTS = {"add_table_from_sample", "fill_a_layer", "fix_a_table", "check_the_repo", "strengthen_tests"}
EXAMPLES = {"raw_customers", "raw_orders", "customers", "orders", "customer_revenue"}
SDK_LOGGER = "mcp.server.mcpserver.server"


@pytest.fixture(scope="module")
def repo(template_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One generated repo for the module (package `shop`, the example tables filled and proven)."""
    return copy_project(template_repo, tmp_path_factory.mktemp("mcp") / "shop", project_name="shop")


@pytest.fixture
def own_repo(repo: Path, tmp_path: Path) -> Path:
    """A copy of the module's repo for a test that changes it (the others read the original)."""
    return Path(shutil.copytree(repo, tmp_path / "shop", symlinks=True))


Progress = list[tuple[float, str | None]]


def with_client(repo: Path, body: Callable[[Client, Progress], Awaitable[Any]]) -> tuple[Any, Progress]:
    """Run `body(client, progress)` in an in-memory client session; progress collects the notifications."""
    progress: Progress = []

    async def main() -> Any:
        async with Client(build_server(repo), mode="legacy") as client:
            return await body(client, progress)

    return anyio.run(main), progress


def recorder(progress: Progress) -> Callable[[float, float | None, str | None], Awaitable[None]]:
    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, message))

    return on_progress


def text(result: Any) -> str:
    return "\n".join(block.text for block in result.content)


def test_the_toolbox_and_the_repo_conventions_are_offered(repo: Path) -> None:
    async def body(client: Client, _: Progress) -> Any:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        resources = {str(r.uri) for r in (await client.list_resources()).resources}
        tables = (await client.read_resource("lakeforge://tables.yml")).contents[0]
        agents = (await client.read_resource("lakeforge://AGENTS.md")).contents[0]
        return client.server_info, tools, resources, tables, agents

    (info, tools, resources, tables, agents), _ = with_client(repo, body)
    assert (info.name, info.version) == ("lakeforge", __version__)
    assert set(tools) == TOOLS
    assert all(tool.description for tool in tools.values())
    fill = tools["fill_layer"].input_schema
    assert fill["required"] == ["layer"] and {"tables", "provider", "model", "dry_run"} <= set(fill["properties"])
    assert "offline" in json.dumps(fill["properties"]["provider"])  # the provider names, as the CLI's --provider
    assert {"table", "target_coverage", "max_rounds", "provider"} <= set(
        tools["generate_tests"].input_schema["properties"]
    )
    assert {"target", "table", "apply"} <= set(tools["profile"].input_schema["properties"])
    assert {"layer", "tables"} == set(tools["validate"].input_schema["properties"])
    assert resources == {"lakeforge://tables.yml", "lakeforge://AGENTS.md"}
    assert tables.text == (repo / "tables.yml").read_text()
    assert agents.text == (repo / "AGENTS.md").read_text()
    assert "validate" in agents.text and ".venv/bin/scaffold serve" in agents.text  # the rendered conventions


def resolved(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """`node` with a `$ref` into the schema's `$defs` followed (and `anyOf: [X, null]` unwrapped)."""
    if "anyOf" in node:
        (node,) = [option for option in node["anyOf"] if option.get("type") != "null"]
    if "$ref" in node:
        return schema["$defs"][node["$ref"].rsplit("/", 1)[1]]
    return node


def test_every_tool_says_what_it_does_to_the_repo_and_what_it_returns(repo: Path) -> None:
    """What plan modes and approval prompts read: a title, the four hints, an output schema with fields."""

    async def body(client: Client, _: Progress) -> Any:
        return {tool.name: tool for tool in (await client.list_tools()).tools}

    tools, _ = with_client(repo, body)
    assert set(tools) == TOOLS
    for name, tool in tools.items():
        hints = tool.annotations
        assert tool.title and hints is not None and hints.title == tool.title, name
        assert None not in (hints.read_only_hint, hints.idempotent_hint, hints.open_world_hint), (name, hints)
        assert hints.read_only_hint or hints.destructive_hint is not None, (name, hints)
        schema = tool.output_schema
        assert schema is not None and schema["type"] == "object" and schema["properties"], name
        assert "result" not in schema["properties"], f"{name} returns an unnamed value"
    hint = {name: tool.annotations for name, tool in tools.items()}
    assert {name for name, h in hint.items() if h.read_only_hint} == {"list_tables", "doctor", "validate"}
    assert {name for name, h in hint.items() if not h.read_only_hint and h.destructive_hint} == {"profile"}
    assert {name for name, h in hint.items() if h.open_world_hint} == {
        "fill_layer",
        "generate_tests",
        "profile",
        "doctor",
    }
    assert not hint["fill_layer"].idempotent_hint and not hint["generate_tests"].idempotent_hint

    fill = tools["fill_layer"].output_schema
    assert {"provider", "model", "dry_run", "sandbox", "failed", "tables", "rounds", "audit_log"} <= set(
        fill["properties"]
    )
    table = resolved(fill, fill["properties"]["tables"]["items"])
    assert {"name", "status", "attempts", "problems", "diff", "mutation"} <= set(table["properties"])
    assert set(table["properties"]["status"]["enum"]) == {
        "pending", "filled", "would-write", "skipped", "failed", "refused"
    }  # fmt: skip
    validate = tools["validate"].output_schema
    verdict = resolved(validate, validate["properties"]["tables"]["additionalProperties"])
    assert {"passed", "problems", "mutation", "mutation_score", "mutants", "tests"} <= set(verdict["properties"])
    assert {"killed", "required", "equivalent"} <= set(
        resolved(validate, verdict["properties"]["mutation_score"])["properties"]
    )
    listed = tools["list_tables"].output_schema
    state = resolved(listed, listed["properties"]["tables"]["items"])
    assert set(state["properties"]["state"]["enum"]) == {"missing", "stub", "filled", "broken"}
    doctor = tools["doctor"].output_schema
    assert {"kind", "path", "message", "fix", "problem"} <= set(
        resolved(doctor, doctor["properties"]["findings"]["items"])["properties"]
    )
    assert {"coverage_before", "coverage_after", "mutation_before", "kept", "rejected"} <= set(
        tools["generate_tests"].output_schema["properties"]
    )
    profile = tools["profile"].output_schema
    assert {"table", "profile", "diff", "applied", "proposed"} <= set(profile["properties"])
    assert "columns" in resolved(profile, profile["properties"]["profile"])["properties"]
    added = tools["add"].output_schema
    assert {"table", "layer", "created", "next"} <= set(added["properties"])


def test_prompts_offer_the_usual_jobs_as_recipes(repo: Path) -> None:
    async def body(client: Client, _: Progress) -> Any:
        prompts = {prompt.name: prompt for prompt in (await client.list_prompts()).prompts}
        sample = await client.get_prompt(
            "add_table_from_sample", {"sample": "samples/refunds.csv", "description": "Refunds as exported."}
        )
        fix = await client.get_prompt("fix_a_table", {"table": "customers"})
        with pytest.raises(Exception, match="'ghost' is not in tables.yml") as unknown:
            await client.get_prompt("fix_a_table", {"table": "ghost"})
        return prompts, sample, fix, unknown.value

    (prompts, sample, fix, unknown), _ = with_client(repo, body)
    assert set(prompts) == PROMPTS
    assert all(prompt.title and prompt.description for prompt in prompts.values())
    assert prompts["add_table_from_sample"].title == "Add a table from a sample file"
    assert [a.name for a in prompts["fix_a_table"].arguments or []] == ["table"]
    (message,) = sample.messages
    recipe = message.content.text
    assert message.role == "user"
    assert "bronze table `refunds`" in recipe and "Refunds as exported." in recipe
    assert "`data/landing`" in recipe  # the repo's landing root, from config/local.yaml
    steps = ["`profile`", "`add`", "`fill_layer`"]
    assert all(step in recipe for step in steps) and [recipe.index(s) for s in steps] == sorted(
        recipe.index(s) for s in steps
    )
    fix_text = fix.messages[0].content.text
    assert (
        "src/shop/transformations/silver/customers.py" in fix_text and "tests/unit/silver/test_customers.py" in fix_text
    )
    assert "known: " in str(unknown)


def test_cancelling_fill_layer_stops_it_before_the_next_table_and_frees_the_gate(
    own_repo: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A client cancels a fill of three tables while the model writes the first: the first reply is
    the last one asked for, the engine gate is free again, and the next tool call does not wait."""
    repo = own_repo
    names = ["refunds_a", "refunds_b", "refunds_c"]
    asked, release = threading.Event(), threading.Event()

    def respond(request: dict[str, Any]) -> Action:
        asked.set()
        release.wait(120)  # the model is slow: the client gives up meanwhile
        return Action(good_reply(repo, table_of(request)))

    with ScriptedLLM(respond) as llm:
        monkeypatch.setenv("OPENAI_BASE_URL", llm.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-loopback")
        monkeypatch.setenv("SCAFFOLD_JOBS", "1")  # one table asked at a time
        server = build_server(repo)
        progress: Progress = []

        async def main() -> tuple[bool, bool, Any]:
            async with Client(server, mode="legacy") as client:
                for name in names:
                    arguments = {"layer": "bronze", "name": name, "description": "Refunds.", "source": name}
                    added = await client.call_tool("add", {**arguments, "columns": ["refund_id:string!"]})
                    assert not added.is_error, text(added)
                fill = {"layer": "bronze", "tables": names, "provider": "openai", "dry_run": True}
                async with anyio.create_task_group() as group:
                    group.start_soon(partial(client.call_tool, "fill_layer", fill))
                    assert await anyio.to_thread.run_sync(asked.wait, 60), "fill_layer never asked the model"
                    busy_while_asking = server.gate.busy
                    group.cancel_scope.cancel()
                release.set()
                with anyio.fail_after(60):
                    while server.gate.busy:  # the engine finishes the table in hand, then stops
                        await anyio.sleep(0.05)
                still_busy = server.gate.busy
                after = await client.call_tool(
                    "fill_layer",
                    {"layer": "bronze", "tables": [names[1]], "provider": "offline", "dry_run": True},
                    progress_callback=recorder(progress),
                )
                return busy_while_asking, still_busy, after

        with caplog.at_level(logging.INFO, logger=SDK_LOGGER):
            busy_while_asking, still_busy, after = anyio.run(main)
        assert busy_while_asking and not still_busy
        assert [table_of(r) for r in llm.requests] == names[:1]  # the next tables were never asked for
    assert not after.is_error, text(after)
    assert [t["status"] for t in after.structured_content["tables"]] == ["would-write"]
    assert not [m for _, m in progress if m and m.startswith("waiting for another scaffold tool")], progress
    assert all(module_is_stub(repo, name) for name in names)  # a dry run, cancelled: nothing written
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text  # a cancel is no error


def module_is_stub(repo: Path, name: str) -> bool:
    return "NotImplementedError" in (repo / f"src/shop/transformations/bronze/{name}.py").read_text()


def test_agent_lists_adds_and_dry_run_fills_a_table_with_progress(own_repo: Path) -> None:
    repo = own_repo
    module = repo / "src/shop/transformations/bronze/refunds.py"

    async def body(client: Client, progress: Progress) -> Any:
        before = await client.call_tool("list_tables", {})
        added = await client.call_tool(
            "add",
            {
                "layer": "bronze",
                "name": "refunds",
                "description": "Refunds.",
                "columns": ["refund_id:string!", "amount:decimal(10,2)"],
                "source": "refunds",
            },
        )
        listed = await client.call_tool("list_tables", {})
        stub = module.read_text()
        filled = await client.call_tool(
            "fill_layer",
            {"layer": "bronze", "tables": ["refunds"], "provider": "offline", "dry_run": True},
            progress_callback=recorder(progress),
        )
        return before, added, listed, stub, filled

    (before, added, listed, stub, filled), progress = with_client(repo, body)
    assert not before.is_error
    assert {t["name"]: t["state"] for t in before.structured_content["tables"]} == dict.fromkeys(EXAMPLES, "filled")
    assert not added.is_error, text(added)
    assert added.structured_content["created"] == [
        "src/shop/transformations/bronze/refunds.py",
        "tests/unit/bronze/test_refunds.py",
    ]
    states = {t["name"]: t for t in listed.structured_content["tables"]}
    assert states["refunds"]["state"] == "stub"
    assert states["refunds"]["module"] == "src/shop/transformations/bronze/refunds.py"

    assert not filled.is_error, text(filled)
    report = filled.structured_content
    assert (report["provider"], report["dry_run"], report["failed"]) == ("offline", True, [])
    (outcome,) = report["tables"]
    assert (outcome["name"], outcome["status"], outcome["problems"]) == ("refunds", "would-write", [])
    removed = [line for line in outcome["diff"].splitlines() if line.startswith("-") and not line.startswith("---")]
    assert any("raise NotImplementedError" in line for line in removed), outcome["diff"]  # the stub's body goes
    added_lines = [line for line in outcome["diff"].splitlines() if line.startswith("+") and not line.startswith("+++")]
    assert any("spark.read" in line or ".select(" in line or "F." in line for line in added_lines), outcome["diff"]
    assert module.read_text() == stub  # dry run: nothing written
    json.dumps(report)  # plain JSON data all the way down

    assert progress, "fill_layer sent no progress notification"
    assert "refunds: asking offline (attempt 1)" in [message for _, message in progress]
    values = [value for value, _ in progress]
    assert values == sorted(values) and len(set(values)) == len(values)


@pytest.mark.parametrize(
    ("tool", "arguments", "message"),
    [
        pytest.param(
            "fill_layer",
            {"layer": "platinum", "provider": "offline"},
            "layer 'platinum' is unknown: use bronze, silver, gold or all",
            id="unknown-layer",
        ),
        pytest.param(
            "fill_layer",
            {"layer": "silver", "tables": ["ghost"], "provider": "offline"},
            "--table ghost: not a silver table in tables.yml (known: customers, orders)",
            id="unknown-table",
        ),
        pytest.param(
            "generate_tests",
            {"table": "src/shop/transformations/silver/ghost.py"},
            "src/shop/transformations/silver/ghost.py: no such table in tables.yml (known: ",
            id="unknown-module-path",
        ),
        pytest.param(
            "generate_tests",
            {"table": "raw_orders", "provider": "offline"},
            "scaffold test needs a model provider (OPENAI_API_KEY, DATABRICKS_HOST, ...)",
            id="testing-agent-without-a-model",
        ),
        pytest.param(
            "profile",
            {"target": "data/landing/nowhere.csv"},
            # named as the repo's path: the server's working folder is not where the agent looks
            "/data/landing/nowhere.csv' is not a file or folder, a catalog.schema.table name, or a table in "
            "tables.yml; pass the sample's path or the Unity Catalog table's full name",
            id="bad-path",
        ),
        pytest.param(
            # the path is read from the repo, not from the server's working folder: it exists there
            "profile",
            {"target": "data/landing/customers", "table": "ghost"},
            "table 'ghost' is not in tables.yml: add it first",
            id="repo-relative-path",
        ),
        pytest.param(
            "add",
            {
                "layer": "silver",
                "name": "refunds_clean",
                "description": "x",
                "columns": ["id:int"],
                "inputs": ["ghost"],
            },
            "tables.yml: table 'refunds_clean': input 'ghost' is not defined above it in tables.yml (nothing was written)",
            id="unknown-input",
        ),
        pytest.param(
            "fill_layer",
            {"layer": "bronze", "provider": "chatgpt"},
            "provider: Input should be 'auto', 'openai', 'azure', 'databricks', 'ollama' or 'offline' (got 'chatgpt')",
            id="bad-provider-argument",
        ),
        pytest.param("add", {"layer": "bronze", "name": "x"}, "description: Field required", id="missing-argument"),
    ],
)
def test_bad_arguments_come_back_as_one_line_tool_errors(
    repo: Path, tool: str, arguments: dict[str, Any], message: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def body(client: Client, _: Progress) -> Any:
        return await client.call_tool(tool, arguments)

    with caplog.at_level(logging.INFO, logger=SDK_LOGGER):
        result, _ = with_client(repo, body)
    assert result.is_error
    reply = text(result)
    assert reply.startswith(f"Error executing tool {tool}: ") and message in reply, reply
    assert "\n" not in reply and "Traceback" not in reply
    logged = [r for r in caplog.records if r.name == SDK_LOGGER]
    assert len(logged) == 1 and logged[0].levelno == logging.INFO and logged[0].exc_info is None, logged
    assert "\n" not in logged[0].getMessage()


def test_tool_errors_carry_the_message_the_cli_prints(repo: Path) -> None:
    cli = scaffold(repo, "fill", "platinum", "--provider", "offline")
    assert cli.returncode == 2
    printed = cli.stderr.strip().removeprefix("error: ")

    async def body(client: Client, _: Progress) -> Any:
        return await client.call_tool("fill_layer", {"layer": "platinum", "provider": "offline"})

    result, _ = with_client(repo, body)
    assert text(result) == f"Error executing tool fill_layer: {printed}"


def test_doctor_reports_findings_with_their_fixes(repo: Path) -> None:
    leftover = repo / "databricks.yml.rej"
    leftover.write_text("@@ -1 +1 @@\n-a\n+b\n")
    try:

        async def body(client: Client, progress: Progress) -> Any:
            tools = (await client.list_tools()).tools
            return tools, await client.call_tool("doctor", {}, progress_callback=recorder(progress))

        (tools, result), progress = with_client(repo, body)
    finally:
        leftover.unlink()
    assert not result.is_error, text(result)
    report = result.structured_content
    assert report["clean"] is False and report["problems"] >= 1
    (finding,) = [f for f in report["findings"] if f["path"] == "databricks.yml.rej"]
    assert finding["kind"] == "leftover" and finding["problem"] is True
    assert "databricks.yml" in finding["message"] and finding["fix"]
    assert [message for _, message in progress] == [
        "checking tables, modules, merge leftovers, template drift and config"
    ]
    (schema,) = [tool.output_schema for tool in tools if tool.name == "doctor"]
    jsonschema_rs.validate(schema, report)  # what the tool returns is what its output schema says


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed (apt-get install bubblewrap)")
def test_validate_gives_hand_edited_code_the_verdict_fill_would(repo: Path) -> None:
    """An agent edits raw_customers by hand (a dedupe that drops rows); raw_orders is untouched."""
    module = repo / "src/shop/transformations/bronze/raw_customers.py"
    original = module.read_text()
    edited = original.replace(
        "return add_ingestion_metadata(raw).select(",
        'return add_ingestion_metadata(raw).dropDuplicates(["customer_id"]).select(',
    )
    assert edited != original
    module.write_text(edited)
    try:

        async def body(client: Client, progress: Progress) -> Any:
            return await client.call_tool(
                "validate",
                {"layer": "bronze", "tables": ["raw_customers", "raw_orders"]},
                progress_callback=recorder(progress),
            )

        result, progress = with_client(repo, body)
    finally:
        module.write_text(original)
    assert not result.is_error, text(result)
    report = result.structured_content
    assert (report["passed"], report["failed"], report["jvm_starts"]) == (False, ["raw_customers"], 1)
    orders, customers = report["tables"]["raw_orders"], report["tables"]["raw_customers"]
    assert orders["passed"] and orders["problems"] == [] and "mutants killed" in orders["mutation"], orders
    assert not customers["passed"]
    assert any(
        p.startswith("tests: ") and "test_every_landed_row_is_kept_as_it_came" in p for p in customers["problems"]
    )
    assert report["sandbox"].startswith("sandbox: bubblewrap")
    messages = [message for _, message in progress]
    for table, verdict in (("raw_customers", "not proven"), ("raw_orders", "proven")):
        moves = [m.removeprefix(f"{table}: ") for m in messages if m.startswith(f"{table}: ")]
        assert moves == ["in the round: tests twice, probes, mutants", "running in the sandbox", verdict], messages


def test_progress_from_many_threads_arrives_in_order() -> None:
    """Engines call back from their own thread pools: every event is forwarded, each thread's in order."""
    sent: list[tuple[float, str | None]] = []

    class FakeContext:
        async def report_progress(self, progress: float, total: float | None = None, message: str | None = None):
            sent.append((progress, message))

    def work(notify: Callable[[str], None]) -> str:
        def burst(n: int) -> None:
            for i in range(25):
                notify(f"{n}:{i}")

        threads = [threading.Thread(target=burst, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return "done"

    assert anyio.run(run_engine, FakeContext(), work) == "done"  # type: ignore[arg-type]
    assert [value for value, _ in sent] == list(range(1, 201))
    for n in range(8):
        assert [m for _, m in sent if m and m.startswith(f"{n}:")] == [f"{n}:{i}" for i in range(25)]


# Over stdio, as the IDE starts it ---------------------------------------------------------------


def fake_scaffold(folder: Path) -> Path:
    """A `scaffold` executable running this test's interpreter (any install layout)."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "scaffold"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m scaffolder "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return script


def system_path() -> str:
    """PATH with `sh` and git but no `scaffold`."""
    return os.pathsep.join(d for d in ("/usr/local/bin", "/usr/bin", "/bin") if Path(d).is_dir())


def serve_over_stdio(params: StdioServerParameters) -> tuple[Any, set[str], Any, str]:
    async def main() -> tuple[Any, set[str], Any]:
        async with Client(stdio_client(params, errlog=errlog), mode="legacy") as client:
            tools = {tool.name for tool in (await client.list_tools()).tools}
            bad = await client.call_tool("fill_layer", {"layer": "platinum", "provider": "offline"})
            return client.server_info, tools, bad

    with tempfile.TemporaryFile("w+") as errlog:
        info, tools, bad = anyio.run(main)
        errlog.seek(0)
        return info, tools, bad, errlog.read()


def test_mcp_json_starts_the_repo_venv_scaffold_over_stdio(repo: Path) -> None:
    """Claude Code's `.mcp.json`, started in the repo by a shell whose PATH has no scaffold."""
    config = json.loads((repo / ".mcp.json").read_text())["mcpServers"]["lakeforge"]
    fake_scaffold(repo / ".venv" / "bin")
    try:
        params = StdioServerParameters(
            command=config["command"], args=config["args"], cwd=repo, env={"PATH": system_path()}
        )
        info, tools, bad, stderr = serve_over_stdio(params)
    finally:
        shutil.rmtree(repo / ".venv")
    assert (info.name, info.version) == ("lakeforge", __version__)
    assert tools == TOOLS
    assert bad.is_error
    assert text(bad) == "Error executing tool fill_layer: layer 'platinum' is unknown: use bronze, silver, gold or all"
    lines = stderr.splitlines()
    assert len(lines) == 1 and "layer 'platinum' is unknown" in lines[0], stderr  # one line, no traceback


def test_vscode_mcp_json_falls_back_to_scaffold_on_path(repo: Path, tmp_path: Path) -> None:
    """VS Code's `.vscode/mcp.json` (`${workspaceFolder}`), started elsewhere, with no .venv in the repo."""
    config = json.loads((repo / ".vscode" / "mcp.json").read_text())["servers"]["lakeforge"]
    assert config["type"] == "stdio"
    assert not (repo / ".venv").exists()
    args = [arg.replace("${workspaceFolder}", str(repo)) for arg in config["args"]]
    bin_dir = fake_scaffold(tmp_path / "bin").parent
    params = StdioServerParameters(
        command=config["command"], args=args, cwd=tmp_path, env={"PATH": f"{bin_dir}{os.pathsep}{system_path()}"}
    )
    info, tools, bad, _ = serve_over_stdio(params)
    assert info.name == "lakeforge" and tools == TOOLS and bad.is_error


def test_without_venv_or_scaffold_the_launcher_says_so_in_one_line(repo: Path) -> None:
    config = json.loads((repo / ".mcp.json").read_text())["mcpServers"]["lakeforge"]
    done = subprocess.run(
        [config["command"], *config["args"]],
        cwd=repo,
        env={"PATH": system_path()},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 127
    assert done.stdout == ""
    assert (
        done.stderr.count("\n") == 1 and "no .venv/bin/scaffold" in done.stderr and "no scaffold on PATH" in done.stderr
    )


def test_serve_outside_a_repo_fails_in_one_line(tmp_path: Path) -> None:
    done = scaffold(tmp_path, "serve")
    assert done.returncode == 2
    assert done.stderr.startswith("error: no tables.yml with a pyproject.toml found from ")
    assert done.stderr.count("\n") == 1
