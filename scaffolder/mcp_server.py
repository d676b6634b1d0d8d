"""`scaffold serve`: the scaffold engines as MCP tools for IDE agents (stdio transport).

Every tool calls the engine the CLI command of the same job calls (`add_table`, `fill`,
`generate_tests`, `profile_table`, `run_doctor`, `validate`), with the same checks, the same
sandbox and the same refusal to overwrite a person's edits, and returns plain JSON data.

- Progress: the long tools hand the engine a callback; each event becomes an MCP progress
  notification on the request's progress token. Engines call back from worker threads (the
  tool body runs in one, `fill` asks the model from a pool), so events cross to the event loop
  through `anyio.from_thread` and a stream that keeps their order.
- Errors: a `ScaffoldError` or `LakeforgeError` (unknown layer, unknown table, a bad path, a
  broken tables.yml) becomes the SDK's `ToolError` carrying the message the CLI prints after
  `error:`; arguments that fail the tool's schema become one line naming the argument. The
  client gets an `isError` result with that text; the server logs one line on stderr.
- One engine at a time: tools that write or run a validation round wait for each other (an
  agent may call several at once; two rounds on a laptop only slow each other down).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import re
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError, ToolError, UnexpectedToolError
from pydantic import BaseModel, Field, ValidationError

from lakeforge.errors import LakeforgeError
from scaffolder import __version__
from scaffolder.errors import ProviderName, ScaffoldError
from scaffolder.problems import Problem
from scaffolder.project import Project, load_project

T = TypeVar("T")
Notify = Callable[[str], None]

INSTRUCTIONS = (
    "Tools for a Lakeforge Databricks pipeline repo. tables.yml is the contract (resource "
    "lakeforge://tables.yml) and AGENTS.md the conventions (lakeforge://AGENTS.md). Add a table with "
    "`add`, let `fill_layer` write and prove its code, or edit the module and its tests yourself and "
    "run `validate`: the same verdict fill gives (tests twice, the output contract, every mutant killed, "
    "in the OS sandbox). `generate_tests` adds tests that prove more, `profile` infers a schema from "
    "data, `doctor` says what is wrong with the repo and how to fix it."
)

Layer = Annotated[str, Field(description="bronze, silver, gold or all")]
TableNames = Annotated[
    list[str] | None, Field(description="only these tables of the layer (default: every table of it)")
]
Provider = Annotated[
    ProviderName | None, Field(description="model provider (default: [tool.scaffold] provider of pyproject.toml)")
]
Model = Annotated[str | None, Field(description="model, Azure deployment or Databricks serving endpoint")]

log = logging.getLogger("scaffold.serve")


# Plain data ------------------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """JSON-able data from what the engines return: dataclasses and pydantic models become dicts,
    enums their values, problems the lines the CLI prints, paths strings."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Problem):
        return str(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted(plain(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _relative(project: Project, path: Path | None) -> str | None:
    if path is None:
        return None
    with contextlib.suppress(ValueError):
        return path.resolve().relative_to(project.root).as_posix()
    return str(path)


def table_states(project_dir: Path) -> list[dict[str, str]]:
    from scaffolder.stubs import module_state

    project = load_project(project_dir)
    states = []
    for spec in project.tables().tables:
        module = spec.module_path(project.package)
        states.append(
            {
                "name": spec.name,
                "layer": spec.layer,
                "state": module_state(project.root / module).value,  # missing, stub, filled or broken
                "module": module,
                "tests": spec.test_path(),
                "description": spec.description,
            }
        )
    return states


# Errors and progress ---------------------------------------------------------------------------


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


class ScaffoldServer(MCPServer):
    """MCPServer whose argument errors are one line, like typer's, instead of pydantic's report."""

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Context | None = None) -> Any:  # type: ignore[override]
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            cause = exc.__cause__
            if isinstance(exc, UnexpectedToolError) or not isinstance(cause, ValidationError):
                raise
            raise ToolError(f"Error executing tool {name}: {argument_problem(cause)}") from cause


class _EngineGate:
    """One engine at a time. Taken in the worker thread, so it binds to no event loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def held(self, notify: Notify) -> Iterator[None]:
        if not self._lock.acquire(blocking=False):
            notify("waiting for another scaffold tool of this server to finish")
            self._lock.acquire()
        try:
            # A request cancelled while it waited (the client gave up) must not start its engine now.
            with contextlib.suppress(RuntimeError):  # RuntimeError: not in an anyio worker thread
                anyio.from_thread.check_cancelled()
            yield
        finally:
            self._lock.release()


async def run_engine(ctx: Context | None, work: Callable[[Notify], T]) -> T:
    """Run `work(notify)` in a worker thread; every `notify(message)` becomes a progress notification.

    `notify` may be called from any thread (the worker, or a pool the engine starts): it hands the
    message to the event loop, where one task sends them in order with the request's progress
    token (`ctx.report_progress`; nothing is sent when the client asked for no progress). A
    notification that cannot be sent (the client left) never stops the engine.
    """
    send, receive = anyio.create_memory_object_stream[str](math.inf)
    token = anyio.lowlevel.current_token()

    def notify(message: str) -> None:
        with contextlib.suppress(Exception):
            anyio.from_thread.run_sync(send.send_nowait, message, token=token)

    async def forward() -> None:
        count = 0
        async with receive:
            async for message in receive:
                count += 1
                if ctx is not None:
                    with contextlib.suppress(Exception):
                        await ctx.report_progress(count, None, message)

    failure: Exception | None = None
    result: T | None = None
    async with anyio.create_task_group() as group:
        group.start_soon(forward)
        try:
            result = await anyio.to_thread.run_sync(work, notify)
        except Exception as exc:  # raised after the stream is drained, outside the task group
            failure = exc
        finally:
            send.close()
    if failure is not None:
        raise failure
    return result  # type: ignore[return-value]


_TABLE_NAME = re.compile(r"[a-z_][a-z0-9_]*")

# The server ------------------------------------------------------------------------------------


def build_server(project_dir: Path) -> MCPServer:
    server = ScaffoldServer(name="lakeforge", version=__version__, instructions=INSTRUCTIONS)
    gate = _EngineGate()

    def project(overrides: Mapping[str, object] | None = None) -> Project:
        return load_project(project_dir, dict(overrides or {}))

    @server.tool(
        description="List the tables of tables.yml, each with its module and test paths and whether the module "
        "is missing, a stub, filled or broken (does not parse)."
    )
    async def list_tables() -> list[dict[str, str]]:
        with tool_errors():
            return table_states(project_dir)

    @server.tool(
        description="Add a table to tables.yml and create its stub module and test stub. columns: NAME:TYPE, "
        "NOT NULL with a trailing ! (e.g. refund_id:string!, amount:decimal(10,2)); keys, not_null and named "
        "checks (SQL conditions) declare what every row promises, on_violation what production does when one "
        "does not (fail, drop, warn). A bronze table needs "
        "source (a path under the landing root) and format; without columns its schema is profiled from the "
        "landed files on local Spark. Silver and gold tables need inputs (upstream tables, in order)."
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
    ) -> dict[str, Any]:
        from scaffolder.add import Contract, add_table

        def work(notify: Notify) -> dict[str, Any]:
            with gate.held(notify):
                if not columns and layer == "bronze":
                    notify(f"profiling the files landed for {name} on local Spark")
                contract = Contract(keys or (), not_null or (), checks or {}, on_violation)
                result = add_table(
                    project(), layer, name, description, columns or (), source, format, inputs or (), contract
                )
            out: dict[str, Any] = {"table": result.spec.name, "layer": result.spec.layer, "created": result.created}
            if result.profile is not None:
                out["profile"] = plain(result.profile)
                out["profile_path"] = result.profile_path
            out["next"] = f"fill_layer(layer={result.spec.layer!r}, tables=[{result.spec.name!r}])"
            return out

        with tool_errors():
            return await run_engine(ctx, work)

    @server.tool(
        description="Fill the stubs of a layer (bronze, silver, gold or all) with a model's transformation and "
        "tests; keep a table only when its tests pass twice on local Spark in the OS sandbox, its output honours "
        "tables.yml and its tests kill every mutant (else the stub stays and the problems say why). dry_run: "
        "check the replies statically and return the diffs; nothing is run or written. Filled or person-edited "
        "modules are never overwritten. Reports progress."
    )
    async def fill_layer(
        ctx: Context,
        layer: Layer,
        tables: TableNames = None,
        provider: Provider = None,
        model: Model = None,
        dry_run: Annotated[bool, Field(description="static checks and diffs only; run and write nothing")] = False,
    ) -> dict[str, Any]:
        from scaffolder.fill import fill

        def work(notify: Notify) -> dict[str, Any]:
            with gate.held(notify):
                repo = project({"provider": provider, "model": model})
                report = fill(
                    repo,
                    layer,
                    tables or (),
                    dry_run=dry_run,
                    progress=lambda table, event: notify(f"{table}: {event}"),
                )
            return {
                "provider": report.provider,
                "model": report.model,
                "announcement": report.announcement,
                "dry_run": dry_run,
                "sandbox": report.sandbox,
                "failed": [o.name for o in report.failed],
                "tables": [plain(o) for o in report.outcomes],
                "rounds": report.rounds,
                "jvm_starts": report.jvm_starts,
                "audit_log": _relative(repo, report.audit_path),
            }

        with tool_errors():
            return await run_engine(ctx, work)

    @server.tool(
        description="Run the validation round on tables as their modules and tests are on disk (written by hand "
        "or by an agent): the verdict fill would give. Each test runs twice in the OS sandbox, the DataFrames "
        "transform returns must honour tables.yml, and the tests must kill every mutant. Writes nothing. "
        "Reports progress."
    )
    async def validate(ctx: Context, layer: Layer = "all", tables: TableNames = None) -> dict[str, Any]:
        from scaffolder.validate import validate as validate_tables

        def work(notify: Notify) -> dict[str, Any]:
            with gate.held(notify):
                report = validate_tables(project(), layer, tables or (), progress=notify)
            verdicts = {
                name: {
                    "passed": verdict.passed,
                    "problems": [str(p) for p in verdict.problems],
                    "mutation": str(verdict.mutation) if verdict.mutation else None,
                    "mutation_score": plain(verdict.mutation),
                    "mutants": plain(verdict.mutants),
                    "tests": verdict.tests,
                }
                for name, verdict in report.verdicts.items()
            }
            return {
                "passed": not report.failed,
                "failed": report.failed,
                "tables": verdicts,
                "sandbox": report.sandbox,
                "jvm_starts": report.jvm_starts,
                "seconds": round(report.seconds, 1),
            }

        with tool_errors():
            return await run_engine(ctx, work)

    @server.tool(
        description="The testing agent: ask the model for more unit tests of a finished table (name or module path) "
        "and keep a new test only when it passes twice in the sandbox and kills a surviving mutant or covers "
        "lines or branches the existing tests miss; kept tests are appended to the table's test file. Needs a "
        "model provider (not offline). Reports progress."
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
    ) -> dict[str, Any]:
        from scaffolder.testagent import generate_tests as more_tests

        def work(notify: Notify) -> dict[str, Any]:
            with gate.held(notify):
                repo = project({"provider": provider, "model": model})
                report = more_tests(repo, table, target_coverage, max_rounds, progress=notify)
            out = plain(report)
            out["mutation_before"] = str(report.mutation_before or "no mutants")
            out["mutation_after"] = str(report.mutation_after or "no mutants")
            return out

        with tool_errors():
            return await run_engine(ctx, work)

    @server.tool(
        description="The profiling agent: infer a table's schema and statistics from a sample file or folder "
        "(CSV, JSON lines, parquet; a relative path is relative to the repo), a Unity Catalog table "
        "(catalog.schema.table) or a bronze table's landed files (its name). Returns the profile and the diff "
        "of tables.yml; writes the schema into tables.yml only with apply. Reports progress."
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
    ) -> dict[str, Any]:
        from scaffolder.profile import is_uc_name, profile_table

        def work(notify: Notify) -> dict[str, Any]:
            with gate.held(notify):
                repo = project()
                # The CLI reads a relative path from the shell's folder; an agent means the repo's (and
                # an error names the repo's path, not the server's working folder).
                bare = is_uc_name(target) or (_TABLE_NAME.fullmatch(target) and not (repo.root / target).exists())
                where = target if Path(target).is_absolute() or bare else str(repo.root / target)
                result = profile_table(repo, where, table, apply=apply, progress=notify)
            return plain(result)

        with tool_errors():
            return await run_engine(ctx, work)

    @server.tool(
        description="Say what is wrong with the repo and how to fix each thing: tables and modules (missing, "
        "orphan, stub, syntax, SCHEMA vs tables.yml), merge leftovers, deleted template files the repo still "
        "needs, a newer template version, configuration. clean is true when nothing is a problem. edits lists "
        "the team's edits to template files (information, with their diff against the template)."
    )
    async def doctor(ctx: Context) -> dict[str, Any]:
        from scaffolder.doctor import run_doctor

        def work(notify: Notify) -> dict[str, Any]:
            notify("checking tables, modules, merge leftovers, template drift and config")
            report = run_doctor(project())
            problems = report.problems
            return {
                "clean": report.clean,
                "problems": len(problems),
                "findings": [{**plain(f), "problem": f in problems} for f in report.findings],
                "edits": [plain(e) for e in report.edits],
                "notes": report.notes,
            }

        with tool_errors():
            return await run_engine(ctx, work)

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

    return server


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
