"""`scaffold serve`: the scaffold engines as MCP tools for IDE agents (stdio transport).

Every tool calls the engine the CLI command of the same job calls (`add_table`, `fill`,
`generate_tests`, `profile_table`, `run_doctor`, `validate`), with the same checks, the same
sandbox and the same refusal to overwrite a person's edits.

- Planning: every tool has a title and annotations that say what it does to the repo
  (`readOnlyHint`, `destructiveHint`, `idempotentHint`, `openWorldHint`), which ask and plan
  modes and approval prompts rely on; and it returns a pydantic model (`scaffolder.mcp_results`),
  so its published output schema names every field. Prompts offer the usual jobs as recipes.
- Progress: the long tools hand the engine a callback; each event becomes an MCP progress
  notification on the request's progress token. Engines call back from worker threads (the
  tool body runs in one, `fill` asks the model from a pool), so events cross to the event loop
  through `anyio.from_thread` and a stream that keeps their order.
- Cancellation: a cancelled request (`notifications/cancelled`, or the client gone) marks the
  engine run; the engine stops at its next safe point (`fill_layer`: before it asks the model
  about the next table or starts a round; `generate_tests`: before the next round; every tool:
  while it waits for, or right after it takes, the engine gate), nothing half-written, and the
  gate is free for the next call.
- Errors: a `ScaffoldError` or `LakeforgeError` (unknown layer, unknown table, a bad path, a
  broken tables.yml) becomes the SDK's `ToolError` carrying the message the CLI prints after
  `error:`; arguments that fail the tool's schema become one line naming the argument. The
  client gets an `isError` result with that text; the server logs one line on stderr.
- One engine at a time: tools that write or run a validation round wait for each other (an
  agent may call several at once; two rounds on a laptop only slow each other down).
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, TypeVar

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError, ToolError, UnexpectedToolError
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS, ToolAnnotations
from pydantic import Field, ValidationError

from lakeforge.errors import LakeforgeError
from lakeforge.tables import TableSpec
from scaffolder import __version__
from scaffolder.errors import ProviderName, ScaffoldError
from scaffolder.mcp_results import (
    Added,
    Diagnosis,
    Filled,
    MoreTests,
    Profiled,
    TableList,
    TableState,
    Validated,
    added_result,
    diagnosis_result,
    filled_result,
    more_tests_result,
    profiled_result,
    validated_result,
)
from scaffolder.progress import Progress, label
from scaffolder.project import Project, load_project

T = TypeVar("T")
Notify = Callable[[str], None]

INSTRUCTIONS = (
    "Tools for a Lakeforge Databricks pipeline repo. tables.yml is the contract (resource "
    "lakeforge://tables.yml) and AGENTS.md the conventions (lakeforge://AGENTS.md). Add a table with "
    "`add`, let `fill_layer` write and prove its code, or edit the module and its tests yourself and "
    "run `validate`: the same verdict fill gives (tests twice, the output contract, every mutant killed, "
    "in the OS sandbox). `generate_tests` adds tests that prove more, `profile` infers a schema from "
    "data, `doctor` says what is wrong with the repo and how to fix it. The prompts are recipes for "
    "the usual jobs."
)

Layer = Annotated[str, Field(description="bronze, silver, gold or all")]
TableNames = Annotated[
    list[str] | None, Field(description="only these tables of the layer (default: every table of it)")
]
Provider = Annotated[
    ProviderName | None, Field(description="model provider (default: [tool.scaffold] provider of pyproject.toml)")
]
Model = Annotated[str | None, Field(description="model, Azure deployment or Databricks serving endpoint")]

# What each tool does to its environment (the MCP spec's hints; defaults assume the worst).
# readOnlyHint: changes nothing. destructiveHint (only when not read-only): may change or remove
# what exists, not only add. idempotentHint: the same call again changes nothing more.
# openWorldHint: reaches beyond this repo and machine (a model provider, a Databricks workspace,
# the template's git remote).
READS_THE_REPO = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)
# doctor also asks the template's source (`copier check-update`, `git ls-remote`) for a newer version.
READS_THE_REPO_AND_TEMPLATE = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=True)
# add appends an entry and creates missing stubs; the same table again is refused, nothing written.
ADDS_A_TABLE = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)
# fill replaces scaffold's own stubs (never a module or test a person edited: the manifest says
# which) with code a model wrote; a second call asks the model again for what is still a stub.
FILLS_STUBS = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True)
# generate_tests appends tests to the table's test file (never touching a person's tests).
APPENDS_TESTS = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True
)
# profile always saves the statistics (.scaffold/profiles/<table>.json, which fill's prompt reads);
# with apply it rewrites the table's schema in tables.yml. The same data gives the same result.
PROFILES = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=True)


def titled(title: str, hints: ToolAnnotations) -> dict[str, Any]:
    """A tool's title and hints; the title also in the hints, where clients of older specs read it."""
    return {"title": title, "annotations": hints.model_copy(update={"title": title})}


# The progress events at which an engine may stop: it is about to ask a model or start a round,
# and has nothing half-written. (The engines have no cancellation hook of their own yet.)
FILL_SAFE_POINTS = ("asking ", "in the round:")
TESTS_SAFE_POINTS = ("asking ", "running ")
VALIDATE_SAFE_POINTS = ("in the round:",)
GATE_POLL_SECONDS = 0.1

log = logging.getLogger("scaffold.serve")


def _relative(project: Project, path: Path | None) -> str | None:
    if path is None:
        return None
    with contextlib.suppress(ValueError):
        return path.resolve().relative_to(project.root).as_posix()
    return str(path)


def table_states(project_dir: Path) -> list[TableState]:
    from scaffolder.stubs import module_state

    project = load_project(project_dir)
    states = []
    for spec in project.tables().tables:
        module = spec.module_path(project.package)
        states.append(
            TableState(
                name=spec.name,
                layer=spec.layer,
                state=module_state(project.root / module).value,
                module=module,
                tests=spec.test_path(),
                description=spec.description,
            )
        )
    return states


# Errors, progress and cancellation ---------------------------------------------------------------


@contextlib.contextmanager
def tool_errors() -> Iterator[None]:
    """The CLI's one-line errors, as the SDK's tool error (an `isError` result, no traceback)."""
    try:
        yield
    except (ScaffoldError, LakeforgeError) as exc:
        raise ToolError(str(exc)) from None


def argument_problem(exc: ValidationError) -> str:
    """Arguments that fail a tool's schema, in one line: `provider: Input should be ... (got 'x')`."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "arguments"
        got = "" if error["type"] == "missing" else f" (got {error.get('input')!r})"
        parts.append(f"{where}: {error['msg']}{got}")
    return "; ".join(parts)


class ToolCancelled(Exception):
    """The client cancelled the tool call; raised in the engine's thread at its next safe point."""


class Reporter:
    """What an engine run gets from its tool: `reporter(message)` becomes a progress notification,
    `reporter.stop_if_cancelled()` raises `ToolCancelled` once the request is cancelled. Both may be
    called from any thread."""

    def __init__(self, send: Notify) -> None:
        self._send = send
        self._cancelled = threading.Event()

    def __call__(self, message: str) -> None:
        self._send(message)

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def cancel(self) -> None:
        self._cancelled.set()

    def stop_if_cancelled(self) -> None:
        if self._cancelled.is_set():
            raise ToolCancelled("the client cancelled the request")

    def step(self, event: str, safe_points: tuple[str, ...], shown: str = "") -> None:
        """An engine's progress event: an event that starts with one of its safe points stops a
        cancelled request first; then `shown` (default: the event) becomes a notification."""
        if event.startswith(safe_points):
            self.stop_if_cancelled()
        self(shown or event)

    def progress(self, safe_points: tuple[str, ...]) -> Progress:
        """An engine's `progress(table, event)`: each event a step (see `step`), shown with its table."""
        return lambda table, event: self.step(event, safe_points, label(table, event))


class ScaffoldServer(MCPServer):
    """MCPServer whose argument errors are one line, like typer's, instead of pydantic's report;
    `gate` is its one-engine-at-a-time lock."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate = EngineGate()

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Context | None = None) -> Any:
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            cause = exc.__cause__
            if isinstance(exc, UnexpectedToolError) or not isinstance(cause, ValidationError):
                raise
            raise ToolError(f"Error executing tool {name}: {argument_problem(cause)}") from cause


class EngineGate:
    """One engine at a time. Taken in the worker thread, so it binds to no event loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    @property
    def busy(self) -> bool:
        return self._lock.locked()

    @contextlib.contextmanager
    def held(self, reporter: Reporter) -> Iterator[None]:
        if not self._lock.acquire(blocking=False):
            reporter("waiting for another scaffold tool of this server to finish")
            # A request cancelled while it waits (the client gave up) leaves the queue.
            while not self._lock.acquire(timeout=GATE_POLL_SECONDS):
                reporter.stop_if_cancelled()
        try:
            reporter.stop_if_cancelled()  # cancelled while it waited: its engine must not start now
            yield
        finally:
            self._lock.release()


async def run_engine(ctx: Context | None, work: Callable[[Reporter], T]) -> T:
    """Run `work(reporter)` in a worker thread; every `reporter(message)` becomes a progress notification.

    The reporter may be called from any thread (the worker, or a pool the engine starts): it hands
    the message to the event loop, where one task sends them in order with the request's progress
    token (`ctx.report_progress`; nothing is sent when the client asked for no progress). A
    notification that cannot be sent (the client left) never stops the engine. When the request is
    cancelled, that task is cancelled with it and marks the reporter, so the engine stops at its
    next safe point; the worker thread is waited for (a thread cannot be interrupted), then the
    cancellation goes on to the SDK, which answers nothing, as the spec asks.
    """
    send, receive = anyio.create_memory_object_stream[str](math.inf)
    token = anyio.lowlevel.current_token()

    def deliver(message: str) -> None:
        with contextlib.suppress(Exception):
            anyio.from_thread.run_sync(send.send_nowait, message, token=token)

    reporter = Reporter(deliver)

    async def forward() -> None:
        count = 0
        try:
            async with receive:
                async for message in receive:
                    count += 1
                    if ctx is not None:
                        with contextlib.suppress(Exception):
                            await ctx.report_progress(count, None, message)
        except anyio.get_cancelled_exc_class():
            reporter.cancel()
            raise

    failure: Exception | None = None
    results: list[T] = []
    async with anyio.create_task_group() as group:
        group.start_soon(forward)
        try:
            results.append(await anyio.to_thread.run_sync(work, reporter))
        except Exception as exc:  # raised after the stream is drained, outside the task group
            failure = exc
        finally:
            send.close()
    if isinstance(failure, ToolCancelled):
        # The request's scope is cancelled: this checkpoint raises, and the SDK answers nothing.
        await anyio.lowlevel.checkpoint()
        raise ToolError(str(failure))  # cancelled otherwise (the session ended): one line, no traceback
    if failure is not None:
        raise failure
    return results[0]


async def run_tool(ctx: Context | None, work: Callable[[Reporter], T]) -> T:
    """A tool's engine run (run_engine) with the CLI's one-line errors (tool_errors)."""
    with tool_errors():
        return await run_engine(ctx, work)


_TABLE_NAME = re.compile(r"[a-z_][a-z0-9_]*")

# The server ------------------------------------------------------------------------------------


def build_server(project_dir: Path) -> ScaffoldServer:
    server = ScaffoldServer(name="lakeforge", version=__version__, instructions=INSTRUCTIONS)
    gate = server.gate

    def project(overrides: Mapping[str, object] | None = None) -> Project:
        return load_project(project_dir, dict(overrides or {}))

    @server.tool(
        **titled("List tables", READS_THE_REPO),
        description="List the tables of tables.yml, each with its module and test paths and whether the module "
        "is missing, a stub, filled or broken (does not parse).",
    )
    async def list_tables() -> TableList:
        with tool_errors():
            return TableList(tables=table_states(project_dir))

    @server.tool(
        **titled("Add a table", ADDS_A_TABLE),
        description="Add a table to tables.yml and create its stub module and test stub. columns: NAME:TYPE, "
        "NOT NULL with a trailing ! (e.g. refund_id:string!, amount:decimal(10,2)); keys, not_null and named "
        "checks (SQL conditions) declare what every row promises, on_violation what production does when one "
        "does not (fail, drop, warn). A bronze table needs "
        "source (a path under the landing root) and format; without columns its schema is profiled from the "
        "landed files on local Spark. Silver and gold tables need inputs (upstream tables, in order).",
    )
    async def add(
        ctx: Context,
        layer: Annotated[str, Field(description="bronze, silver or gold")],
        name: Annotated[str, Field(description="table name: lowercase letters, digits, underscores")],
        description: Annotated[str, Field(description="what the table holds (the model reads it)")],
        columns: Annotated[list[str] | None, Field(description="NAME:TYPE, trailing ! for NOT NULL")] = None,
        source: Annotated[str | None, Field(description="bronze: path under the landing root")] = None,
        format: Annotated[str, Field(description="bronze: csv, json, parquet, ...")] = "csv",
        inputs: Annotated[list[str] | None, Field(description="silver/gold: upstream tables, in order")] = None,
        keys: Annotated[list[str] | None, Field(description="columns that identify a row (one row per key)")] = None,
        not_null: Annotated[list[str] | None, Field(description="columns that may hold no nulls")] = None,
        checks: Annotated[
            dict[str, str] | None,
            Field(description='named row checks: name -> Spark SQL condition, e.g. {"amount_positive": "amount >= 0"}'),
        ] = None,
        on_violation: Annotated[
            str | None, Field(description="fail (default), drop or warn: what production does with a violating row")
        ] = None,
    ) -> Added:
        from scaffolder.add import Contract, add_table

        def work(reporter: Reporter) -> Added:
            with gate.held(reporter):
                if not columns and layer == "bronze":
                    reporter(f"profiling the files landed for {name} on local Spark")
                contract = Contract(keys or (), not_null or (), checks or {}, on_violation)
                result = add_table(
                    project(), layer, name, description, columns or (), source, format, inputs or (), contract
                )
            return added_result(result)

        return await run_tool(ctx, work)

    @server.tool(
        **titled("Fill a layer's stubs", FILLS_STUBS),
        description="Fill the stubs of a layer (bronze, silver, gold or all) with a model's transformation and "
        "tests; keep a table only when its tests pass twice on local Spark in the OS sandbox, its output honours "
        "tables.yml and its tests kill every mutant (else the stub stays and the problems say why). dry_run: "
        "check the replies statically and return the diffs; nothing is run or written. Filled or person-edited "
        "modules are never overwritten. Reports progress; a cancelled call stops before the next table.",
    )
    async def fill_layer(
        ctx: Context,
        layer: Layer,
        tables: TableNames = None,
        provider: Provider = None,
        model: Model = None,
        dry_run: Annotated[bool, Field(description="static checks and diffs only; run and write nothing")] = False,
    ) -> Filled:
        from scaffolder.fill import fill

        def work(reporter: Reporter) -> Filled:
            progress = reporter.progress(FILL_SAFE_POINTS)
            with gate.held(reporter):
                repo = project({"provider": provider, "model": model})
                report = fill(repo, layer, tables or (), dry_run=dry_run, progress=progress)
            return filled_result(report, dry_run, _relative(repo, report.audit_path))

        return await run_tool(ctx, work)

    @server.tool(
        **titled("Validate tables", READS_THE_REPO),
        description="Run the validation round on tables as their modules and tests are on disk (written by hand "
        "or by an agent): the verdict fill would give. Each test runs twice in the OS sandbox, the DataFrames "
        "transform returns must honour tables.yml, and the tests must kill every mutant. Writes nothing. "
        "Reports progress.",
    )
    async def validate(ctx: Context, layer: Layer = "all", tables: TableNames = None) -> Validated:
        from scaffolder.validate import validate as validate_tables

        def work(reporter: Reporter) -> Validated:
            with gate.held(reporter):
                progress = reporter.progress(VALIDATE_SAFE_POINTS)
                report = validate_tables(project(), layer, tables or (), progress=progress)
            return validated_result(report)

        return await run_tool(ctx, work)

    @server.tool(
        **titled("Generate more tests", APPENDS_TESTS),
        description="The testing agent: ask the model for more unit tests of a finished table (name or module path) "
        "and keep a new test only when it passes twice in the sandbox and kills a surviving mutant or covers "
        "lines or branches the existing tests miss; kept tests are appended to the table's test file. Needs a "
        "model provider (not offline). Reports progress; a cancelled call stops before the next round.",
    )
    async def generate_tests(
        ctx: Context,
        table: Annotated[str, Field(description="a table of tables.yml, or the path of its module")],
        target_coverage: Annotated[
            float, Field(ge=0, le=100, description="stop when line+branch coverage reaches this (percent)")
        ] = 90.0,
        max_rounds: Annotated[int, Field(ge=1, le=20, description="rounds of asking the model for more tests")] = 5,
        provider: Provider = None,
        model: Model = None,
    ) -> MoreTests:
        from scaffolder.testagent import generate_tests as more_tests

        def work(reporter: Reporter) -> MoreTests:
            with gate.held(reporter):
                repo = project({"provider": provider, "model": model})
                progress = reporter.progress(TESTS_SAFE_POINTS)
                report = more_tests(repo, table, target_coverage, max_rounds, progress=progress)
            return more_tests_result(report)

        return await run_tool(ctx, work)

    @server.tool(
        **titled("Profile data", PROFILES),
        description="The profiling agent: infer a table's schema and statistics from a sample file or folder "
        "(CSV, JSON lines, parquet; a relative path is relative to the repo), a Unity Catalog table "
        "(catalog.schema.table) or a bronze table's landed files (its name). Saves the statistics under "
        ".scaffold/profiles/ (fill's prompt reads them) and returns them with the diff of tables.yml; writes "
        "the schema into tables.yml only with apply. Reports progress.",
    )
    async def profile(
        ctx: Context,
        target: Annotated[
            str, Field(description="sample path (relative to the repo), catalog.schema.table, or a table name")
        ],
        table: Annotated[
            str | None, Field(description="the tables.yml entry to write (default: from the path or name)")
        ] = None,
        apply: Annotated[bool, Field(description="write the schema into tables.yml (else: only the diff)")] = False,
    ) -> Profiled:
        from scaffolder.profile import is_uc_name, profile_table

        def work(reporter: Reporter) -> Profiled:
            with gate.held(reporter):
                repo = project()
                # The CLI reads a relative path from the shell's folder; an agent means the repo's (and
                # an error names the repo's path, not the server's working folder).
                bare = is_uc_name(target) or (_TABLE_NAME.fullmatch(target) and not (repo.root / target).exists())
                where = target if Path(target).is_absolute() or bare else str(repo.root / target)
                result = profile_table(repo, where, table, apply=apply, progress=reporter)
            return profiled_result(result)

        return await run_tool(ctx, work)

    @server.tool(
        **titled("Check the repo (doctor)", READS_THE_REPO_AND_TEMPLATE),
        description="Say what is wrong with the repo and how to fix each thing: tables and modules (missing, "
        "orphan, stub, syntax, SCHEMA vs tables.yml), merge leftovers, deleted template files the repo still "
        "needs, a newer template version, configuration. clean is true when nothing is a problem. edits lists "
        "the team's edits to template files (information, with their diff against the template).",
    )
    async def doctor(ctx: Context) -> Diagnosis:
        from scaffolder.doctor import run_doctor

        def work(reporter: Reporter) -> Diagnosis:
            reporter("checking tables, modules, merge leftovers, template drift and config")
            return diagnosis_result(run_doctor(project()))

        return await run_tool(ctx, work)

    @server.resource(
        "lakeforge://tables.yml",
        name="tables.yml",
        description="The table contract: every table, its schema and declarative hints.",
        mime_type="application/yaml",
    )
    def tables_yml() -> str:
        return _read(project_dir, "tables.yml")

    @server.resource(
        "lakeforge://AGENTS.md",
        name="AGENTS.md",
        description="The repo's conventions for coding agents.",
        mime_type="text/markdown",
    )
    def conventions() -> str:
        return _read(project_dir, "AGENTS.md")

    _add_prompts(server, project_dir)
    return server


# Prompts: the jobs a user picks from ------------------------------------------------------------


def _add_prompts(server: MCPServer, project_dir: Path) -> None:
    @server.prompt(
        title="Add a table from a sample file",
        description="Profile a sample (CSV, JSON lines, parquet), add it as a bronze table with that schema, "
        "fill it and prove it.",
    )
    def add_table_from_sample(
        sample: Annotated[str, Field(description="the sample file or folder, relative to the repo")],
        table: Annotated[str, Field(description="the new table's name (default: from the file name)")] = "",
        description: Annotated[str, Field(description="what the table holds, for the model")] = "",
    ) -> str:
        name = table or re.sub(r"[^a-z0-9_]+", "_", Path(sample).stem.lower()).strip("_") or "new_table"
        landing = _landing(project_dir)
        about = f" It holds: {description}." if description else ""
        return (
            f"Add the sample `{sample}` to this Lakeforge repo as the bronze table `{name}`.{about}\n\n"
            f"1. Landed files live under `{landing}` (the landing root): the table's `source` is a path under it. "
            f"If `{sample}` is not under it, copy it to `{landing}/{name}/` first.\n"
            f"2. Call `profile` with target=`{sample}` (no apply) and read the inferred columns, null fractions "
            "and candidate keys.\n"
            f"3. Call `add` with layer=bronze, name={name}, the source path under the landing root, its format, a "
            "one-sentence description, and the profiled columns as NAME:TYPE (a trailing ! only for columns the "
            "data really guarantees); pass keys when a candidate key truly identifies a row.\n"
            f"4. Call `fill_layer` with layer=bronze, tables=[{name}], dry_run=true; show me the diff; then call it "
            "again without dry_run.\n"
            "5. If the table failed, show its problems and stop: do not weaken tables.yml to make it pass."
        )

    @server.prompt(
        title="Fill a layer and review the code",
        description="Dry-run the fill of a layer's stubs, show the diffs, then fill and report what was kept.",
    )
    def fill_a_layer(layer: Annotated[str, Field(description="bronze, silver, gold or all")] = "all") -> str:
        return (
            f"Fill the stubs of the {layer} layer of this Lakeforge repo.\n\n"
            "1. Call `list_tables` and name the tables whose module is a stub.\n"
            f"2. Call `fill_layer` with layer={layer} and dry_run=true; summarise each table's diff.\n"
            f"3. Ask me before the real run, then call `fill_layer` with layer={layer}.\n"
            "4. Report each table's status and mutation score; for a failed table quote its problems and "
            "suggest what to change in its tables.yml description or hints (never the contract's guarantees)."
        )

    @server.prompt(
        title="Make a hand-edited table pass validation",
        description="Validate one table as it is on disk, fix its module or tests from the verdict, validate again.",
    )
    def fix_a_table(table: Annotated[str, Field(description="a table of tables.yml")]) -> str:
        spec = _spec(project_dir, table)
        package = load_project(project_dir).package
        return (
            f"Make the table `{table}` ({spec.layer}) of this Lakeforge repo pass validation.\n\n"
            f"Its module is `{spec.module_path(package)}`, its tests `{spec.test_path()}`, its contract the "
            f"`{table}` entry of tables.yml (resource lakeforge://tables.yml).\n"
            f"1. Call `validate` with layer={spec.layer} and tables=[{table}].\n"
            "2. If it is not proven, read each problem: a failing test, a broken contract (types, NOT NULL, keys, "
            "checks), a mutant the tests do not kill (add the test its advice names), or a policy finding.\n"
            "3. Edit the module or its tests, never tables.yml's guarantees, then validate again; stop after three "
            "tries and tell me what is left."
        )

    @server.prompt(
        title="Check the repo's health",
        description="Run doctor, fix what is a problem, and list the team's edits to template files.",
    )
    def check_the_repo() -> str:
        return (
            "Check this Lakeforge repo's health.\n\n"
            "1. Call `doctor`.\n"
            "2. For each finding that is a problem, apply its fix (ask me first when the fix deletes or overwrites "
            "a file), then call `doctor` again until clean is true.\n"
            "3. List the edits to template files as information: they are the team's choices, not problems."
        )

    @server.prompt(
        title="Strengthen a table's tests",
        description="Ask the testing agent for tests that kill surviving mutants or cover missed lines.",
    )
    def strengthen_tests(table: Annotated[str, Field(description="a filled table of tables.yml")]) -> str:
        spec = _spec(project_dir, table)
        return (
            f"Strengthen the tests of `{table}` ({spec.layer}) in this Lakeforge repo.\n\n"
            f"1. Call `generate_tests` with table={table}.\n"
            "2. Report coverage and mutation score before and after, the tests kept, and why the others were "
            f"rejected; the kept tests are in `{spec.test_path()}`."
        )


def _spec(project_dir: Path, table: str) -> TableSpec:
    """The prompt argument's table; an unknown one is the client's error, in one line (no traceback)."""
    try:
        tables = load_project(project_dir).tables()
    except (ScaffoldError, LakeforgeError) as exc:
        raise MCPError(INVALID_PARAMS, str(exc)) from None
    for spec in tables.tables:
        if spec.name == table:
            return spec
    known = ", ".join(t.name for t in tables.tables) or "none"
    raise MCPError(INVALID_PARAMS, f"table {table!r} is not in tables.yml (known: {known})")


def _landing(project_dir: Path) -> str:
    from scaffolder.profile import landing_root

    with contextlib.suppress(ScaffoldError, LakeforgeError):
        project = load_project(project_dir)
        root = landing_root(project)
        return _relative(project, root if root.is_absolute() else project.root / root) or "data/landing"
    return "data/landing"


def _read(project_dir: Path, name: str) -> str:
    try:
        path = load_project(project_dir).root / name
        return path.read_text(encoding="utf-8")
    except (ScaffoldError, LakeforgeError) as exc:
        raise ResourceError(str(exc)) from None
    except OSError as exc:
        raise ResourceError(f"{name}: {exc.strerror or exc}") from None


def serve(project_dir: Path) -> None:
    """Serve over stdio. Logs go to stderr one line each (the SDK would install rich's handler)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("scaffold serve: %(levelname)s %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    build_server(project_dir).run("stdio")
