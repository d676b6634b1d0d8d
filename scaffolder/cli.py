"""The `scaffold` command line: parses arguments, calls engines, prints what they return.

Engines never print; this module owns the terminal (rich), so the MCP server can share them.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, Optional, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lakeforge.errors import LakeforgeError
from scaffolder import __version__
from scaffolder.errors import ProviderName, ScaffoldError
from scaffolder.progress import progress_view

if TYPE_CHECKING:
    from scaffolder.fill import FillReport
    from scaffolder.project import Project


def load_project(start: Path, overrides: dict[str, object] | None = None) -> Project:
    """The repo and its settings (imported here: `scaffold --help` needs neither pydantic nor tomllib)."""
    from scaffolder.project import load_project as load

    return load(start, overrides)


# Options several commands share (typer copies each before it fills in the default).
Tables = Annotated[Optional[list[str]], typer.Option("--table", "-t", help="Only these tables (repeatable).")]  # noqa: UP045
Provider = Annotated[Optional[ProviderName], typer.Option(help="Model provider (default: pyproject's).")]  # noqa: UP045
Model = Annotated[Optional[str], typer.Option(help="Model or deployment name.")]  # noqa: UP045
MaxAttempts = Annotated[Optional[int], typer.Option(help="Rounds of check + repair per table.")]  # noqa: UP045
Jobs = Annotated[Optional[int], typer.Option(help="Model calls in parallel.")]  # noqa: UP045
ProjectDir = Annotated[Path, typer.Option("--project", help="The pipeline repo.")]


def flag(*names: str, help: str) -> Any:
    """A boolean option shown as a flag: `--dry-run`, not `--dry-run <bool>` (typer's placeholder)."""
    return typer.Option(*names, metavar="", help=help)


app = typer.Typer(
    name="scaffold",
    help="Lakeforge: generate and grow Databricks pipelines; AI-written code is run before it is kept.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
errors = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"scaffold {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, metavar="", help="Print the version and exit."),
    ] = False,
) -> None:
    """Lakeforge scaffolder."""


def _fail(message: str) -> NoReturn:
    errors.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


P = ParamSpec("P")
R = TypeVar("R")


def cli_errors(command: Callable[P, R]) -> Callable[P, R]:
    """A command's one-line errors (ScaffoldError, LakeforgeError) as `error: ...` and exit 2, no traceback;
    the CLI's twin of mcp_server.tool_errors. functools.wraps keeps the signature and help typer reads."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except (ScaffoldError, LakeforgeError) as exc:
            _fail(str(exc))
        except KeyboardInterrupt:
            _interrupted(command.__name__.removesuffix("_command"))

    return run


def _interrupted(name: str) -> NoReturn:
    """Ctrl-C: one line and the shell's exit code for SIGINT, not click's bare `Aborted!`. Every
    write is atomic and happens only after its verdict, so a second run picks up where this one
    stopped."""
    again = "" if name == "serve" else "; nothing is half-written and what it kept stays: run it again to finish"
    errors.print(f"interrupted: scaffold {name} stopped{again}", highlight=False, soft_wrap=True)
    raise typer.Exit(130)


def _summary(report: FillReport) -> Table:
    """One row per table. No borders, so 80 columns show a 26-character name whole; a longer name
    wraps (never `raw_tr…`). `kept` is the attempt kept / attempts made; `sec` the table's own time."""
    table = Table(
        title=f"scaffold fill — {report.provider} ({report.model})",
        title_justify="left",
        box=None,
        pad_edge=False,
        header_style="bold underline",
    )
    for column in ("table", "layer", "status", "kept", "mutants", "tokens", "sec"):
        right = column in ("kept", "mutants", "tokens", "sec")
        table.add_column(column, overflow="fold", no_wrap=column != "table", justify="right" if right else "left")
    colors = {"filled": "green", "would-write": "cyan", "skipped": "dim", "failed": "red", "refused": "red"}
    for o in report.outcomes:
        table.add_row(
            escape(o.name),
            o.layer,
            f"[{colors.get(o.status.value, 'white')}]{o.status.value}[/]",
            f"{o.kept_at or '-'}/{o.attempts}" if o.attempts else "-",
            f"{o.mutation.killed}/{o.mutation.required}" if o.mutation else "-",
            f"{o.prompt_tokens}/{o.completion_tokens}",
            f"{o.seconds:.1f}",
        )
    return table


def _cost_line(report: FillReport) -> str | None:
    tokens_in, tokens_out = report.tokens
    if not (tokens_in or tokens_out):
        return None
    if report.cost_usd is None:
        return (
            f"tokens {tokens_in} in / {tokens_out} out; cost unknown: no price for {report.model} "
            "(add it under [tool.scaffold.prices] in pyproject.toml)"
        )
    return f"tokens {tokens_in} in / {tokens_out} out; estimated cost ${report.cost_usd:.4f} ({report.priced_by})"


def _print_report(report: FillReport, show_diff: bool) -> None:
    console.print(_summary(report))
    for o in report.outcomes:
        if o.note:
            console.print(escape(f"{o.name}: {o.note}"), style="dim")
        if show_diff and o.diff:
            from rich.syntax import Syntax

            console.print(Syntax(o.diff, "diff", theme="ansi_dark"))
        if o.mutation:
            console.print(escape(f"{o.name}: {o.mutation}"), style="dim", highlight=False)
        for error in o.errors:
            console.print(f"[red]{escape(o.name)}[/red]: {escape(error)}", highlight=False, soft_wrap=True)
    if report.written:
        console.print(f"wrote {len(report.written)} file(s):", highlight=False)
        for rel in report.written:
            console.print(f"  {escape(rel)}", highlight=False, soft_wrap=True)
    cost = _cost_line(report)
    if cost:
        console.print(escape(cost), highlight=False)
    console.print(escape(report.sandbox), style="red" if "OFF" in report.sandbox else "dim", highlight=False)
    console.print(
        f"{report.rounds} validation round(s), {report.jvm_starts} JVM start(s); audit log: {report.audit_path}",
        style="dim",
        highlight=False,
    )


@app.command("fill")
@cli_errors
def fill_command(
    layer: Annotated[str, typer.Argument(help="bronze, silver, gold or all")],
    table: Tables = None,
    provider: Provider = None,
    model: Model = None,
    max_attempts: MaxAttempts = None,
    jobs: Jobs = None,
    dry_run: Annotated[
        bool,
        flag("--dry-run", help="Check the replies statically and show the diff; run and write nothing."),
    ] = False,
    force: Annotated[bool, flag("--force", help="Rewrite filled or person-edited modules.")] = False,
    no_sandbox: Annotated[
        bool,
        flag("--no-sandbox", help="Run model-written code WITHOUT the OS sandbox (opt-out; see `scaffold sandbox`)."),
    ] = False,
    project_dir: ProjectDir = Path("."),
) -> None:
    """Write the transformations and tests of a layer with an LLM; keep only code proven on local Spark."""
    from scaffolder.fill import fill

    project = load_project(
        project_dir,
        {
            "provider": provider,
            "model": model,
            "max_attempts": max_attempts,
            "jobs": jobs,
            "sandbox": "off" if no_sandbox else None,
        },
    )
    with progress_view(console) as progress:
        report = fill(project, layer, table or (), dry_run=dry_run, force=force, progress=progress)
    console.print(escape(report.announcement), style="yellow" if report.provider == "offline" else None)
    _print_report(report, show_diff=dry_run)
    if report.failed:
        raise typer.Exit(1)


@app.command("add")
@cli_errors
def add_command(
    layer: Annotated[str, typer.Argument(help="bronze, silver or gold")],
    name: Annotated[str, typer.Argument(help="Table name (lowercase, digits, underscores).")],
    description: Annotated[str, typer.Option(help="What the table holds (the model reads it).")],
    column: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option(
            "--column",
            "-c",
            help="NAME:TYPE, NOT NULL with a trailing ! (repeatable). Bronze without -c: profile the landed files.",
        ),
    ] = None,
    source: Annotated[Optional[str], typer.Option(help="Bronze: path under the landing root.")] = None,  # noqa: UP045
    format: Annotated[str, typer.Option("--format", help="Bronze: csv, json, parquet, ...")] = "csv",
    input: Annotated[
        list[str] | None, typer.Option("--input", help="Silver/gold: upstream table (repeatable).")
    ] = None,
    key: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--key", help="A column that identifies a row: one row per key (repeatable)."),
    ] = None,
    not_null: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--not-null", help="A column that may hold no nulls, like NAME:TYPE! (repeatable)."),
    ] = None,
    check: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--check", help='NAME=SQL: a named row check, e.g. "amount_positive=amount >= 0" (repeatable).'),
    ] = None,
    on_violation: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--on-violation",
            help="What production does with a row that breaks NOT NULL or a check: fail (default), drop, warn.",
        ),
    ] = None,
    project_dir: ProjectDir = Path("."),
) -> None:
    """Add a table to tables.yml and create its stub module and test stub."""
    from scaffolder.add import Contract, add_table

    contract = Contract(key or (), not_null or (), check or (), on_violation)
    project = load_project(project_dir)
    if column or layer != "bronze":
        result = add_table(project, layer, name, description, column or (), source, format, input or (), contract)
    else:
        with console.status(f"profiling the files landed for {name} on local Spark..."):
            result = add_table(project, layer, name, description, (), source, format, input or (), contract)
    console.print(f"added {result.spec.layer} table {result.spec.name} to tables.yml")
    if result.profile is not None:
        console.print(
            f"  schema inferred from {escape(result.profile.source)} "
            f"({result.profile.rows} rows); statistics in {result.profile_path}",
            highlight=False,
        )
    for rel in result.created:
        console.print(f"  created {rel}")
    console.print(f"next: scaffold fill {layer} --table {name}")


@app.command("validate")
@cli_errors
def validate_command(
    layer: Annotated[str, typer.Argument(help="bronze, silver, gold or all")] = "all",
    table: Tables = None,
    no_sandbox: Annotated[bool, flag("--no-sandbox", help="Run the code WITHOUT the OS sandbox (opt-out).")] = False,
    project_dir: ProjectDir = Path("."),
) -> None:
    """Give hand-written tables the verdict fill would: tests twice, the output contract, the mutants."""
    from scaffolder.validate import validate

    project = load_project(project_dir, {"sandbox": "off" if no_sandbox else None})
    with progress_view(console) as progress:
        report = validate(project, layer, table or (), progress=progress)
    for name, verdict in report.verdicts.items():
        mark = "[green]proven[/green]" if verdict.passed else "[red]not proven[/red]"
        score = f" — {verdict.mutation}" if verdict.mutation else ""
        console.print(f"{escape(name)}: {mark}{escape(score)}", highlight=False)
        for problem in verdict.problems:
            console.print(f"  [red]{escape(name)}[/red]: {escape(str(problem))}", highlight=False, soft_wrap=True)
    console.print(escape(report.sandbox), style="dim", highlight=False)
    if report.failed:
        raise typer.Exit(1)


@app.command("test")
@cli_errors
def test_command(
    target: Annotated[str, typer.Argument(help="A table of tables.yml, or the path of its module.")],
    target_coverage: Annotated[
        float, typer.Option(help="Stop when line+branch coverage of the module reaches this (percent).")
    ] = 90.0,
    max_rounds: Annotated[int, typer.Option(help="Rounds of asking the model for more tests.")] = 5,
    provider: Provider = None,
    model: Model = None,
    no_sandbox: Annotated[
        bool, flag("--no-sandbox", help="Run model-written tests WITHOUT the OS sandbox (opt-out).")
    ] = False,
    project_dir: ProjectDir = Path("."),
) -> None:
    """Ask the model for more tests of a finished table; keep those that kill a surviving mutant or cover more."""
    from scaffolder.testagent import generate_tests

    project = load_project(
        project_dir, {"provider": provider, "model": model, "sandbox": "off" if no_sandbox else None}
    )
    with progress_view(console) as progress:
        report = generate_tests(project, target, target_coverage, max_rounds, progress=progress)
    console.print(escape(f"scaffold test — {report.table} ({report.provider}, {report.model})"), highlight=False)
    before = str(report.mutation_before or "no mutants")
    after = str(report.mutation_after or "no mutants")
    console.print(f"coverage: {report.coverage_before:.0f}% → {report.coverage_after:.0f}%", highlight=False)
    console.print(escape(f"mutants: {before} → {after}"), highlight=False)
    for test in report.kept:
        console.print(f"  [green]kept[/green] {escape(test)}", highlight=False)
    for test, why in report.rejected.items():
        console.print(f"  [dim]dropped {escape(test)}: {escape(why)}[/dim]", highlight=False)
    for problem in report.problems:
        console.print(f"  [red]last round[/red]: {escape(str(problem))}", highlight=False, soft_wrap=True)
    where = f"appended to {report.test_file}" if report.kept else "nothing written"
    console.print(
        escape(f"{len(report.kept)} test(s) {where}; {report.rounds} round(s), {report.jvm_starts} JVM start(s)"),
        style="dim",
    )
    console.print(escape(report.sandbox), style="dim", highlight=False)


@app.command("sandbox")
@cli_errors
def sandbox_command(
    project_dir: Annotated[
        Path, typer.Option("--project", help="The pipeline repo (for the sandbox setting in its pyproject.toml).")
    ] = Path("."),
) -> None:
    """Say which sandbox `scaffold fill` will use, and prove it: a write outside, a connection out, a canary read."""
    from scaffolder.probe import probe
    from scaffolder.sandbox import resolve_sandbox

    setting = os.environ.get("SCAFFOLD_SANDBOX") or "auto"  # outside a repo: the machine's default
    with contextlib.suppress(ScaffoldError):
        setting = load_project(project_dir).settings.sandbox
    sandbox = resolve_sandbox(setting)
    console.print(f"sandbox: {escape(sandbox.describe())}", highlight=False)
    result = probe(sandbox)
    for check in result.checks:
        mark = "[green]blocked[/green]" if check.blocked else "[red]NOT blocked[/red]"
        console.print(f"  {mark}  {escape(check.name)}: {escape(check.detail)}", highlight=False)
    if not result.confined:
        raise typer.Exit(1)


@app.command("profile")
@cli_errors
def profile_command(
    target: Annotated[
        str,
        typer.Argument(help="A sample file or folder (CSV, JSON lines, parquet), catalog.schema.table, or a table."),
    ],
    table: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--table", "-t", help="The tables.yml entry to write (default: from the path or name)."),
    ] = None,
    yes: Annotated[bool, flag("--yes", "-y", help="Write the schema into tables.yml (else: show the diff).")] = False,
    project_dir: ProjectDir = Path("."),
) -> None:
    """Infer a table's schema and statistics from a sample or a Unity Catalog table; show or apply the diff."""
    from scaffolder.profile import profile_table

    project = load_project(project_dir)
    with console.status(f"profiling {target}..."):
        result = profile_table(project, target, table, apply=yes)
    profile = result.profile
    counts = [] if profile.rows is None else [f"{profile.rows} rows", f"{profile.bad_rows} malformed"]
    if result.spark_jobs is not None:
        counts.append(f"{result.spark_jobs} Spark jobs")
    console.print(
        f"profiled {escape(profile.source)} ({profile.kind}{', ' if counts else ''}{', '.join(counts)}) "
        f"for table {escape(result.table)}",
        highlight=False,
    )
    view = Table(show_edge=False)
    for heading in ("column", "type", "nulls", "~distinct", "min", "max", "frequent values"):
        view.add_column(heading)

    def shown(value: object) -> str:
        return "" if value is None else escape(str(value))

    for c in profile.columns:
        nulls = "" if c.null_fraction is None else f"{c.null_fraction:.0%}"
        if c.nullable is False:
            nulls = "NOT NULL"
        view.add_row(
            escape(c.name),
            escape(c.type),
            nulls,
            shown(c.approx_distinct),
            shown(c.min),
            shown(c.max),
            escape(", ".join(map(str, c.samples))),
        )
    console.print(view)
    if profile.candidate_keys:
        console.print(f"candidate keys (unique, never null here): {escape(', '.join(profile.candidate_keys))}")
    for example in profile.bad_row_examples:
        console.print(f"malformed record: {escape(example)}", style="yellow", highlight=False)
    for column in profile.columns:
        if column.note:
            console.print(f"{escape(column.name)}: {escape(column.note)}", style="dim", highlight=False)
    for note in result.notes:
        console.print(escape(note), style="yellow", highlight=False)
    if not result.diff:
        console.print("tables.yml already declares this schema")
    else:
        from rich.syntax import Syntax

        console.print(Syntax(result.diff, "diff", theme="ansi_dark"))
        if result.applied:
            console.print(f"[green]wrote the schema of {escape(result.table)} to tables.yml[/green]")
        else:
            console.print("tables.yml is unchanged: run again with --yes to write this schema")
    console.print(f"statistics: {result.profile_path}", style="dim", highlight=False)


@app.command("doctor")
@cli_errors
def doctor_command(
    diff: Annotated[
        bool,
        flag(
            "--diff",
            help="Also print your edits to template files as a patch against the template (to propose upstream).",
        ),
    ] = False,
    project_dir: ProjectDir = Path("."),
) -> None:
    """Say what is wrong with the repo and how to fix each thing; exit 0 only when nothing is (for CI).

    Your edits to files the template renders (config, bundle, resources, ...) are listed as
    information: `copier update` keeps them. Doctor fails on what breaks the repo or the next
    update: conflict markers, .rej files, stubs, tables.yml vs code, invalid config, a deleted
    template file the repo still needs.
    """
    from scaffolder.doctor import run_doctor

    project = load_project(project_dir)
    with console.status("checking tables, modules, merge leftovers, your edits to the template and config..."):
        report = run_doctor(project)
    for finding in report.findings:
        color = "red" if finding in report.problems else "yellow"
        console.print(
            f"[{color}]{escape(finding.kind.value)}[/{color}] {escape(finding.path)}: {escape(finding.message)}",
            highlight=False,
            soft_wrap=True,
        )
        console.print(f"  fix: {escape(finding.fix)}", highlight=False, soft_wrap=True)
    if report.edits:
        console.print(
            f"note: {len(report.edits)} file(s) the template renders differ from it: your edits, kept by copier update",
            style="dim",
            highlight=False,
            soft_wrap=True,
        )
        width = max(len(e.path) for e in report.edits)
        for edit in report.edits:
            console.print(f"  {escape(edit.path.ljust(width))}  {edit.stat}", style="dim", highlight=False)
        if diff:
            for edit in report.edits:
                console.out(edit.diff, end="", highlight=False)  # as is: a patch to copy
        else:
            console.print(
                "  to propose one upstream: `scaffold doctor --diff` prints them as a patch against the "
                f"template ({escape(report.template)})",
                style="dim",
                highlight=False,
                soft_wrap=True,
            )
    for note in report.notes:
        console.print(f"note: {escape(note)}", style="dim", highlight=False, soft_wrap=True)
    if not report.clean:
        console.print(f"[red]{len(report.problems)} problem(s)[/red]")
        raise typer.Exit(1)
    console.print("[green]no problems found[/green]")


@app.command("monitors")
@cli_errors
def monitors_command(
    check: Annotated[
        bool,
        flag("--check", help="Write nothing; exit 1 naming the stale file when a file is out of date."),
    ] = False,
    env: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--env", "-e", help="Only these deployed environments (repeatable; default: all but local)."),
    ] = None,
    project_dir: ProjectDir = Path("."),
) -> None:
    """Write Monte Carlo monitors-as-code (monitors/<env>/) from @monte_carlo_rule and tables.yml's monitors."""
    from scaffolder.monitors import export_monitors

    project = load_project(project_dir)
    report = export_monitors(project, env or (), check=check)
    for note in report.notes:
        console.print(f"note: {escape(note)}", style="dim", highlight=False, soft_wrap=True)
    if check:
        if report.stale:
            more = f" (and {len(report.stale) - 1} more file(s))" if len(report.stale) > 1 else ""
            first = report.stale[0]
            if first in report.files:
                state = "is out of date with the rules" if (project.root / first).exists() else "is missing"
            else:
                state = "belongs to an environment that is no longer exported"
            message = f"{first} {state}{more}: run `scaffold monitors` and commit it"
            errors.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
            raise typer.Exit(1)
        console.print(f"[green]up to date[/green]: {len(report.files)} file(s), {report.rules} rule(s)")
        return
    for rel in report.written:
        console.print(f"wrote {escape(rel)}", highlight=False)
    for rel in report.unchanged:
        console.print(f"unchanged {escape(rel)}", style="dim", highlight=False)
    for rel in report.removed:
        console.print(f"removed {escape(rel)} (its environment is no longer exported)", highlight=False)
    for name, count in report.environments.items():
        console.print(
            escape(
                f"{name}: {count} monitor(s); apply with: montecarlo monitors apply "
                f"--project-dir monitors/{name} --namespace {report.namespaces[name]} [--dry-run]"
            ),
            highlight=False,
            soft_wrap=True,  # a command to copy: never broken across lines
        )


@app.command("demo")
@cli_errors
def demo_command(
    destination: Annotated[Path, typer.Argument(help="A new folder for the demo repo.")] = Path("lakeforge-demo"),
) -> None:
    """Copy the template with the demo answers, fill every table, run the repo's tests (no API key needed)."""
    import sys

    from scaffolder.demo import free_destination, is_free, run_demo

    if not is_free(destination):
        offered = free_destination(destination)
        if sys.stdin.isatty() and sys.stdout.isatty():
            destination = Path(typer.prompt(f"{destination} is not empty: put the demo in", default=str(offered)))
        else:
            console.print(f"{escape(str(destination))} is not empty: the demo goes to {escape(str(offered))}")
            destination = offered
    with progress_view(console) as progress:
        result = run_demo(destination, progress=progress)
    console.print(result.report.announcement, style="yellow")
    _print_report(result.report, show_diff=False)
    summary = [line for line in result.tests_output.splitlines() if " passed" in line or " failed" in line]
    console.print(f"the demo repo's own tests: {summary[-1].strip() if summary else 'no summary line'}")
    if result.report.failed or not result.tests_passed:
        console.print(result.tests_output)
        raise typer.Exit(1)
    console.print(f"[green]demo repo ready:[/green] {escape(str(result.project))}", highlight=False, soft_wrap=True)
    console.print(f"run its tests again: {escape(result.tests_command)}", highlight=False, soft_wrap=True)


@app.command("serve")
@cli_errors
def serve_command(
    project_dir: ProjectDir = Path("."),
) -> None:
    """Serve the scaffold engines to IDE agents as MCP tools over stdio (see the repo's .mcp.json).

    Tools: list_tables, add, fill_layer, validate, generate_tests, profile, doctor.
    Resources: tables.yml, AGENTS.md. Logs go to stderr, one line each.
    """
    load_project(project_dir)
    from scaffolder.mcp_server import serve

    serve(project_dir)


@app.command("bench")
@cli_errors
def bench_command(
    tasks: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--tasks", "-t", help="Only these tasks (repeatable or comma-separated; default: all)."),
    ] = None,
    repeat: Annotated[int, typer.Option(min=1, max=50, help="Runs of the whole set, for variance.")] = 1,
    provider: Provider = None,
    model: Model = None,
    max_attempts: MaxAttempts = None,
    jobs: Jobs = None,
    no_sandbox: Annotated[
        bool, flag("--no-sandbox", help="Run model-written code WITHOUT the OS sandbox (opt-out).")
    ] = False,
    json_path: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--json", help="Write the report as JSON to this file (- for stdout) to share or compare runs."),
    ] = None,
    jsonl: Annotated[
        bool,
        flag("--jsonl", help="With --json: append JSON lines (one per task and run, then a summary)."),
    ] = False,
    solutions: Annotated[
        bool,
        flag("--solutions", help="Calibrate the task set: judge the hidden solutions, ask no model."),
    ] = False,
    tasks_dir: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(help="The task set (default: $SCAFFOLD_BENCH_TASKS, else benchmarks/fill_tasks of the checkout)."),
    ] = None,
    workdir: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(help="Where the bench repos are copied (default: a temporary folder)."),
    ] = None,
    keep: Annotated[bool, flag("--keep", help="Keep the bench repos to inspect them.")] = False,
    project_dir: Annotated[
        Path, typer.Option("--project", help="A pipeline repo whose \\[tool.scaffold] settings the bench uses.")
    ] = Path("."),
) -> None:
    """Measure fill quality: fill a fixed task set in fresh repos, judge what was kept with hidden references.

    Per task and in total: pass@1 / pass@3 (kept and right by the hidden reference), kept-but-wrong (must be 0), mutation score, contract-probe findings, tokens, estimated cost, wall time.

    Exit 1 when a kept table is wrong. Example: scaffold bench --provider openai --model gpt-4.1 --json bench.json
    """
    from scaffolder.bench import BenchOptions, BenchReport, TaskResult, run_bench

    if jsonl and json_path is None:
        _fail("--jsonl needs --json PATH (- for stdout): it sets the format of that file")
    settings_from = None
    with contextlib.suppress(ScaffoldError):
        settings_from = load_project(project_dir).root
    overrides = {
        "provider": provider,
        "model": model,
        "max_attempts": max_attempts,
        "jobs": jobs,
        "sandbox": "off" if no_sandbox else None,
    }
    options = BenchOptions(
        tasks_dir=tasks_dir,
        tasks=tasks or [],
        repeat=repeat,
        workdir=workdir,
        keep=keep,
        settings_from=settings_from,
        overrides={k: v for k, v in overrides.items() if v is not None},
        solutions=solutions,
    )
    to_stdout = json_path is not None and str(json_path) == "-"
    screen = errors if to_stdout else console
    with screen.status("copying a bench repo...") as status:

        def progress(task: str, event: str) -> None:
            status.update(escape(f"{task}: {event}" if task else event))

        report = run_bench(options, progress=progress)

    if report.announcement:
        screen.print(escape(report.announcement), style="yellow" if report.provider == "offline" else "dim")

    def money(value: float | None) -> str:
        return "?" if value is None else f"${value:.4f}"

    def verdict(t: TaskResult) -> str:
        if t.kept_but_wrong:
            return "[red bold]KEPT BUT WRONG[/]"
        if t.correct_at is not None:
            return f"[green]right (pass@{t.correct_at})[/]"
        if t.reference == "error":
            return "[yellow]reference error[/]"
        if t.rejected_but_right:
            return "[yellow]rejected but right[/]"
        return f"[dim]not kept ({t.status})[/]"

    def render(report: BenchReport) -> Table:
        table = Table(title=f"scaffold bench — {report.provider} ({report.model}), {len(report.tasks)} task(s)")
        columns = ["task", "layer", "kept at", "verdict", "mutants", "probe", "tokens in/out", "cost", "seconds"]
        for column in (["run"] if report.repeat > 1 else []) + columns:
            table.add_column(column)
        for run in report.runs:
            for t in run.tasks:
                mutants = f"{t.mutation.killed}/{t.mutation.required}" if t.mutation else "-"
                row = [
                    escape(t.task),
                    t.layer,
                    str(t.kept_at or "-"),
                    verdict(t),
                    mutants,
                    str(t.probe_findings or "-"),
                    f"{t.tokens_in}/{t.tokens_out}",
                    money(t.cost_usd),
                    f"{t.seconds:.1f}",
                ]
                table.add_row(*([str(run.run)] if report.repeat > 1 else []), *row)
        return table

    screen.print(render(report))
    for run in report.runs:
        for t in run.tasks:
            for failure in t.reference_failures[:3]:
                screen.print(f"[red]{escape(t.task)}[/red]: {escape(failure)}", highlight=False, soft_wrap=True)
        if run.reference_note:
            screen.print(f"[yellow]run {run.run}[/yellow]: {escape(run.reference_note)}", highlight=False)
    s = report.summary
    kept_at = ", ".join(f"{n} at attempt {k}" for k, n in s.kept_at.items()) or "none"
    score = "-" if s.mutation_score is None else f"{s.mutation_score:.0%} ({s.mutants_killed}/{s.mutants_required})"
    rejected = "not measured" if s.rejected_but_right is None else str(s.rejected_but_right)
    wrong = f"[red bold]{s.kept_but_wrong}[/]" if s.kept_but_wrong else "[green]0[/]"
    screen.print(
        f"pass@1 {s.pass_at_1:.0%}, pass@3 {s.pass_at_3:.0%} of {s.tasks} (kept: {kept_at}); kept-but-wrong {wrong}; "
        f"rejected {s.rejected} (right: {rejected}); mutation score {score}; probe findings {s.probe_findings}; "
        f"tokens {s.tokens_in}/{s.tokens_out}; cost {money(s.cost_usd)}; {s.seconds:.0f} s",
        highlight=False,
    )
    for name, spread in report.spread.items():
        screen.print(
            escape(f"{name}: mean {spread.mean} ± {spread.stdev} (min {spread.min}, max {spread.max})"), style="dim"
        )
    for note in report.notes:
        screen.print(f"note: {escape(note)}", style="dim", highlight=False, soft_wrap=True)
    if json_path is not None:
        text = "\n".join(report.json_lines()) + "\n" if jsonl else report.model_dump_json(indent=2) + "\n"
        if to_stdout:
            typer.echo(text, nl=False)
        else:
            try:
                with json_path.open("a" if jsonl else "w", encoding="utf-8") as handle:
                    handle.write(text)
            except OSError as exc:
                _fail(f"--json {json_path}: cannot write it ({exc.strerror}); give a writable path")
            screen.print(f"report: {escape(str(json_path))}", style="dim", highlight=False)
    if report.kept_but_wrong:
        raise typer.Exit(1)
