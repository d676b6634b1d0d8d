"""`scaffold bench`: how often `scaffold fill` is right, judged by a reference the model never sees.

The task set (`benchmarks/fill_tasks/` in a checkout, or `--tasks-dir`) holds, per table, its
`tables.yml` entry (`table.yml`), a landed sample for bronze (`landing/`) and a hidden
`reference/`: acceptance cases with expected outputs (`cases.yml`) and a solution that passes
them (`solution.py`). Per run, the bench copies a fresh repo from the template, writes the
tables and landed files (never the references), fills the chosen tasks with the configured
provider, model and settings (the normal `fill`: `[tool.scaffold]`, `SCAFFOLD_*`, flags), and
only then copies the reference into the repo and runs it on what the fill kept, in a pytest
process of its own with local Spark, as the repo's own tests run: kept code is never imported here.

Per task and in total it reports kept at attempt 1/2/3, pass@k in aider's sense (kept at attempt
k or earlier *and* passing the hidden reference), kept-but-wrong (kept by the fill, failed by the
reference: the number that must be 0), rejected-but-right (when the rejected reply's code is
available, see `RejectedCode`), the mutation score, contract-probe findings, tokens, estimated
cost and wall time. The engine never prints: it returns a `BenchReport` (pydantic, JSON-ready)
and reports progress through a callback.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lakeforge.identifiers import LAYERS
from lakeforge.tables import TABLES_FILE, TablesFile, TableSpec
from scaffolder import __version__
from scaffolder.errors import ScaffoldError, first_line
from scaffolder.prices import DEFAULT_PRICES, PriceTable
from scaffolder.progress import Progress

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

if TYPE_CHECKING:  # importing fill at run time would load the round for `scaffold bench --help`
    from scaffolder.fill import FillReport
    from scaffolder.judge import MutationScore

FORMAT: Final = "lakeforge-bench/1"
TASKS_VAR = "SCAFFOLD_BENCH_TASKS"
REFERENCE_DIR = "bench_reference"  # inside the bench repo, written only after the fill
RUNNER = "reference_runner.py"
LANDED = "landed"
# What the reference process may see of the environment: what Spark and Python need, no credentials.
_REFERENCE_ENV = ("PATH", "HOME", "JAVA_HOME", "LANG", "LANGUAGE", "TMPDIR", "VIRTUAL_ENV", "SPARK_LOCAL_IP")
_REFERENCE_ENV_PREFIXES = ("LC_", "LAKEFORGE_")


def default_tasks_dir() -> Path:
    """`benchmarks/fill_tasks` of the checkout scaffold runs from (an installed wheel has none)."""
    return Path(__file__).resolve().parent.parent / "benchmarks" / "fill_tasks"


# --- the task set ------------------------------------------------------------------------------


class Case(BaseModel):
    """One acceptance case of a task's hidden reference."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    inputs: dict[str, Literal["landed"] | list[dict[str, Any]]] = Field(default_factory=dict)
    expected: list[dict[str, Any]]


class Reference(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cases: list[Case] = Field(min_length=1)


@dataclass(frozen=True)
class Task:
    name: str
    layer: str
    folder: Path
    entry: dict[str, Any]  # the tables.yml entry, as written in table.yml

    @property
    def landing(self) -> Path:
        return self.folder / "landing"

    @property
    def cases(self) -> Path:
        return self.folder / "reference" / "cases.yml"

    @property
    def solution(self) -> Path:
        return self.folder / "reference" / "solution.py"


@dataclass(frozen=True)
class TaskSet:
    folder: Path
    tasks: dict[str, Task]  # in tables.yml order: every input above the tables that read it
    tables: TablesFile
    answers: dict[str, Any]

    def select(self, names: Sequence[str] = ()) -> list[Task]:
        wanted = [n.strip() for name in names for n in name.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in self.tasks]
        if unknown:
            raise ScaffoldError(
                f"--tasks {', '.join(unknown)}: not in the task set at {self.folder} (known: {', '.join(self.tasks)})"
            )
        return [t for t in self.tasks.values() if not wanted or t.name in wanted]

    def needed(self, chosen: Sequence[Task]) -> list[Task]:
        """The chosen tasks and every table they read, transitively, in tables.yml order."""
        names: set[str] = set()
        stack = [t.name for t in chosen]
        while stack:
            name = stack.pop()
            if name not in names:
                names.add(name)
                stack += self.tasks[name].entry.get("inputs", [])
        return [t for t in self.tasks.values() if t.name in names]


def load_task_set(folder: Path) -> TaskSet:
    """Read and check the task set; every error names the file and what to fix."""
    folder = folder.resolve()
    if not folder.is_dir() or not (folder / RUNNER).is_file():
        raise ScaffoldError(
            f"no fill task set at {folder}: pass --tasks-dir pointing at a Lakeforge checkout's "
            f"benchmarks/fill_tasks (or set {TASKS_VAR})"
        )
    entries: dict[str, tuple[Path, dict[str, Any]]] = {}
    for path in sorted(folder.glob("*/table.yml")):
        entry = _yaml(path)
        if not isinstance(entry, dict) or entry.get("name") != path.parent.name:
            raise ScaffoldError(f"{path}: must hold one tables.yml entry whose name is {path.parent.name!r}")
        entries[path.parent.name] = (path.parent, entry)
    if not entries:
        raise ScaffoldError(f"{folder}: no <task>/table.yml found: add a task folder per table")
    order = _tables_order({name: entry for name, (_, entry) in entries.items()}, folder)
    try:
        tables = TablesFile.model_validate({"version": 1, "tables": [entries[n][1] for n in order]})
    except ValidationError as exc:
        error = exc.errors()[0]
        where = error["loc"][1] if len(error["loc"]) > 1 and isinstance(error["loc"][1], int) else None
        name = order[where] if where is not None else "?"
        raise ScaffoldError(
            f"{folder / name / 'table.yml'}: {str(error['msg']).removeprefix('Value error, ')}"
        ) from None
    tasks = {}
    for spec in tables.tables:
        task_folder, entry = entries[spec.name]
        task = Task(spec.name, spec.layer, task_folder, entry)
        _check_task(task, spec, tables)
        tasks[spec.name] = task
    answers_path = folder / "answers.yml"
    answers = _yaml(answers_path) if answers_path.is_file() else {}
    return TaskSet(folder, tasks, tables, dict(answers or {}))


def _yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise ScaffoldError(f"{path}{line}: not valid YAML; fix the file") from None


def _tables_order(entries: dict[str, dict[str, Any]], folder: Path) -> list[str]:
    """Layers in order, inputs above their readers, names alphabetical otherwise."""

    def rank(name: str) -> tuple[int, str]:
        layer = entries[name].get("layer")
        return (LAYERS.index(layer) if layer in LAYERS else len(LAYERS), name)

    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str, reader: str) -> None:
        if name in order:
            return
        if name not in entries:
            raise ScaffoldError(f"{folder / reader / 'table.yml'}: input {name!r} is not a task of the set")
        if name in visiting:
            raise ScaffoldError(f"{folder / name / 'table.yml'}: its inputs form a cycle")
        visiting.add(name)
        for upstream in sorted(
            entries[name].get("inputs", []) or [], key=lambda n: rank(n) if n in entries else (9, n)
        ):
            visit(upstream, name)
        order.append(name)

    for name in sorted(entries, key=rank):
        visit(name, name)
    return order


def _check_task(task: Task, spec: TableSpec, tables: TablesFile) -> None:
    if not task.cases.is_file() or not task.solution.is_file():
        raise ScaffoldError(
            f"{task.folder}: a task needs reference/cases.yml and reference/solution.py (the hidden reference)"
        )
    try:
        reference = Reference.model_validate(_yaml(task.cases))
    except ValidationError as exc:
        error = exc.errors()[0]
        raise ScaffoldError(f"{task.cases}: {'.'.join(map(str, error['loc']))}: {error['msg']}") from None
    params = ["raw"] if spec.layer == "bronze" else spec.inputs
    for case in reference.cases:
        unknown = [name for name in case.inputs if name not in params]
        if unknown:
            raise ScaffoldError(
                f"{task.cases}: case {case.name!r} gives inputs {unknown}; transform takes {', '.join(params)}"
            )
        landed = [name for name, rows in case.inputs.items() if rows == LANDED]
        if landed and (spec.layer != "bronze" or not task.landing.is_dir()):
            raise ScaffoldError(f"{task.cases}: case {case.name!r}: only a bronze task with landing/ can use landed")


# --- results -----------------------------------------------------------------------------------

ReferenceStatus = Literal["passed", "failed", "error", "not-run"]


class Mutation(BaseModel):
    killed: int
    required: int


class TaskResult(BaseModel):
    task: str
    layer: str
    run: int
    status: str = Field(description="fill's outcome: filled, failed, refused, skipped; 'solution' when calibrating")
    attempts: int = 0
    kept_at: int | None = Field(default=None, description="the attempt whose reply the fill kept")
    reference: ReferenceStatus = "not-run"
    correct_at: int | None = Field(default=None, description="kept at this attempt and passed the hidden reference")
    kept_but_wrong: bool = False
    rejected_but_right: bool | None = Field(default=None, description="None: not measured (see rejected_note)")
    rejected_note: str = ""
    reference_failures: list[str] = Field(default_factory=list)
    mutation: Mutation | None = None
    probe_findings: int = Field(default=0, description="contract-probe problems seen over all attempts")
    problems: list[str] = Field(default_factory=list, description="why the fill did not keep it (last attempt)")
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float | None = None
    seconds: float = 0.0


class Totals(BaseModel):
    tasks: int
    kept: int
    kept_at: dict[int, int] = Field(description="tasks kept at attempt k")
    correct_at: dict[int, int] = Field(description="tasks kept at attempt k and right by the reference")
    pass_at_1: float = Field(description="share right at attempt 1 (aider's pass rate 1)")
    pass_at_3: float = Field(description="share right within 3 attempts")
    kept_but_wrong: int
    rejected: int
    rejected_but_right: int | None = Field(description="None when no rejected reply's code was available")
    mutants_killed: int
    mutants_required: int
    mutation_score: float | None
    probe_findings: int
    tokens_in: int
    tokens_out: int
    cost_usd: float | None
    seconds: float


class RunResult(BaseModel):
    run: int
    project: str | None = Field(description="the bench repo, when kept (--keep)")
    sandbox: str = ""
    audit_log: str | None = None
    seconds: float
    fill_seconds: float
    reference_seconds: float
    reference_note: str = ""
    tasks: list[TaskResult]
    totals: Totals


class Spread(BaseModel):
    mean: float
    stdev: float
    min: float
    max: float


class BenchReport(BaseModel):
    format: Literal["lakeforge-bench/1"] = FORMAT
    scaffold_version: str = __version__
    started_at: str
    mode: Literal["fill", "solutions"]
    provider: str
    model: str
    announcement: str = Field(default="", description="how fill announced the provider and model")
    settings: dict[str, Any]
    task_set: str
    tasks: list[str]
    repeat: int
    runs: list[RunResult]
    summary: Totals
    spread: dict[str, Spread] = Field(default_factory=dict, description="over runs, with --repeat")
    notes: list[str] = Field(default_factory=list)

    @property
    def kept_but_wrong(self) -> int:
        return self.summary.kept_but_wrong

    def json_lines(self) -> list[str]:
        """One line per task and run, one per run, one summary: for appending runs to a history file."""
        head = {"format": self.format, "started_at": self.started_at, "provider": self.provider, "model": self.model}
        lines = [
            json.dumps({"kind": "task", **head, **task.model_dump(mode="json")})
            for run in self.runs
            for task in run.tasks
        ]
        lines += [
            json.dumps({"kind": "run", **head, **run.model_dump(mode="json", exclude={"tasks"})}) for run in self.runs
        ]
        summary = {
            "summary": self.summary.model_dump(mode="json"),
            "spread": {k: v.model_dump() for k, v in self.spread.items()},
        }
        lines.append(
            json.dumps(
                {
                    "kind": "summary",
                    **head,
                    "settings": self.settings,
                    "tasks": self.tasks,
                    "repeat": self.repeat,
                    **summary,
                }
            )
        )
        return lines


# --- options and hooks ------------------------------------------------------------------------

RejectedCode = Callable[[str, Any], Mapping[str, str] | None]
"""(task, fill's TableOutcome) -> the last rejected reply's files {repo-relative path: text}, or None.

FillReport does not expose a rejected reply's code today, so rejected-but-right is reported as
not measured. When it does (a `rejected_files` attribute on the outcome, read by
`rejected_files`), or when a caller passes its own hook, the bench runs the hidden reference on
that module too — after the same safe-subset check the fill runs, never on code outside it.
"""


def rejected_files(task: str, outcome: Any) -> Mapping[str, str] | None:
    """The default hook: the outcome's `rejected_files`, once the fill report carries them."""
    files = getattr(outcome, "rejected_files", None)
    return dict(files) if isinstance(files, Mapping) and files else None


class BenchOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    tasks_dir: Path | None = Field(
        default=None, description=f"the task set (default: ${TASKS_VAR}, else the checkout's)"
    )
    tasks: list[str] = Field(default_factory=list, description="task names; empty: all")
    repeat: int = Field(default=1, ge=1, le=50)
    workdir: Path | None = Field(default=None, description="where bench repos go (default: a temporary folder)")
    keep: bool = Field(default=False, description="keep the bench repos after the run")
    settings_from: Path | None = Field(default=None, description="a repo whose [tool.scaffold] the bench uses")
    overrides: dict[str, Any] = Field(default_factory=dict, description="settings from flags (provider, model, ...)")
    template: Path | None = Field(default=None, description="the Copier template (default: scaffold's own)")
    vcs_ref: str | None = "HEAD"
    solutions: bool = Field(default=False, description="write the hidden solutions instead of asking a model")
    reference_timeout: float = Field(default=900, gt=0)
    prices: PriceTable = DEFAULT_PRICES


# --- the engine --------------------------------------------------------------------------------


def run_bench(
    options: BenchOptions,
    progress: Progress | None = None,
    environ: Mapping[str, str] | None = None,
    rejected_code: RejectedCode | None = rejected_files,
) -> BenchReport:
    environ = dict(os.environ if environ is None else environ)
    notify = progress or (lambda task, event: None)
    task_set = load_task_set(options.tasks_dir or Path(environ.get(TASKS_VAR) or default_tasks_dir()))
    chosen = task_set.select(options.tasks)
    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    workdir = options.workdir or Path(tempfile.mkdtemp(prefix="lakeforge-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    runs: list[RunResult] = []
    provider, model, announcement = "solutions", "reference", ""
    settings: dict[str, Any] = {}
    try:
        for run in range(1, options.repeat + 1):
            notify("", f"run {run}/{options.repeat}: copying a fresh repo")
            result, provider, model, settings, said = _one_run(
                options, task_set, chosen, workdir / f"run{run}", run, environ, notify, rejected_code
            )
            runs.append(result)
            announcement = announcement or said
    finally:
        if not options.keep:
            with contextlib.suppress(OSError):
                if options.workdir is None:
                    shutil.rmtree(workdir, ignore_errors=True)
                else:
                    for run in range(1, options.repeat + 1):
                        shutil.rmtree(workdir / f"run{run}", ignore_errors=True)
    notes = []
    if not options.solutions and any(t.rejected_but_right is None and t.kept_at is None for r in runs for t in r.tasks):
        notes.append(
            "rejected-but-right is not measured for rejected tasks: the fill report does not expose the rejected "
            "reply's code (hook: scaffolder.bench.RejectedCode / FillReport outcome.rejected_files)"
        )
    if not options.solutions and any(r.totals.cost_usd is None for r in runs):
        notes.append(f"no price known for model {model!r}: cost is unknown (scaffolder/prices.py)")
    return BenchReport(
        started_at=started,
        mode="solutions" if options.solutions else "fill",
        provider=provider,
        model=model,
        announcement=announcement,
        settings=settings,
        task_set=str(task_set.folder),
        tasks=[t.name for t in chosen],
        repeat=options.repeat,
        runs=runs,
        summary=_totals([t for r in runs for t in r.tasks], sum(r.seconds for r in runs)),
        spread=_spread(runs) if len(runs) > 1 else {},
        notes=notes,
    )


def _one_run(
    options: BenchOptions,
    task_set: TaskSet,
    chosen: list[Task],
    destination: Path,
    run: int,
    environ: dict[str, str],
    notify: Progress,
    rejected_code: RejectedCode | None,
) -> tuple[RunResult, str, str, dict[str, Any], str]:
    from scaffolder.project import load_project

    start = time.perf_counter()
    if destination.exists():
        shutil.rmtree(destination)
    make_bench_repo(destination, task_set, chosen, options)
    project = load_project(destination, options.overrides, environ=environ)
    settings = project.settings.model_dump(mode="json", exclude={"allowed_imports"})
    results = {t.name: TaskResult(task=t.name, layer=t.layer, run=run, status="pending") for t in chosen}
    fill_start = time.perf_counter()
    report: FillReport | None = None
    rejected: dict[str, Mapping[str, str]] = {}
    if options.solutions:
        provider, model = "solutions", "reference"
        _write_solutions(project, task_set, chosen, results)
    else:
        from scaffolder.fill import fill

        notify("", f"run {run}: filling {len(chosen)} table(s)")
        report = fill(project, "all", [t.name for t in chosen], progress=notify, environ=environ)
        provider, model = report.provider, report.model
        own = {name: price.model_dump() for name, price in project.settings.prices.items()}
        _read_fill(report, results, options.prices.with_overrides(own))  # the repo's own prices count
        for outcome in report.outcomes:
            if results[outcome.name].kept_at is not None or rejected_code is None:
                continue
            files = rejected_code(outcome.name, outcome)
            if files:
                rejected[outcome.name] = files
    fill_seconds = time.perf_counter() - fill_start

    judged = [t for t in chosen if results[t.name].status in ("filled", "solution")]
    judged += _install_rejected(project, task_set, chosen, rejected, results)
    notify("", f"run {run}: hidden reference on {len(judged)} table(s)")
    reference_start = time.perf_counter()
    verdicts, note = run_reference(destination, task_set, judged, environ, options.reference_timeout)
    reference_seconds = time.perf_counter() - reference_start
    for task in judged:
        result = results[task.name]
        status, failures = verdicts.get(task.name, ("error", [note or "the reference did not report this task"]))
        result.reference, result.reference_failures = status, failures
        if task.name in rejected:
            result.rejected_but_right = status == "passed"
            result.rejected_note = "the reference ran on the last rejected reply's module (written over the stub)"
            continue
        if status == "passed":
            result.correct_at = result.kept_at
        elif status == "failed":
            result.kept_but_wrong = True
    seconds = time.perf_counter() - start
    tasks = list(results.values())
    run_result = RunResult(
        run=run,
        project=str(destination) if options.keep else None,
        sandbox=report.sandbox if report else "",
        audit_log=str(report.audit_path) if report and report.audit_path and options.keep else None,
        seconds=round(seconds, 3),
        fill_seconds=round(fill_seconds, 3),
        reference_seconds=round(reference_seconds, 3),
        reference_note=note,
        tasks=tasks,
        totals=_totals(tasks, seconds),
    )
    return run_result, provider, model, settings, report.announcement if report else ""


def make_bench_repo(destination: Path, task_set: TaskSet, chosen: Sequence[Task], options: BenchOptions) -> None:
    """A fresh repo from the template with the tasks' tables and landed files, and no reference."""
    import copier
    from copier.errors import DirtyLocalWarning

    from scaffolder.resources import template_dir

    answers = {"include_examples": False, "init_git": False, "monte_carlo": False, **task_set.answers}
    template = options.template or template_dir()
    try:
        with warnings.catch_warnings():  # copying from a checkout with local edits is what a bench of them means
            warnings.simplefilter("ignore", DirtyLocalWarning)
            copier.run_copy(
                str(template),
                destination,
                data=answers,
                defaults=True,
                unsafe=True,
                quiet=True,
                vcs_ref=options.vcs_ref,
            )
    except Exception as exc:  # copier's own errors: one line, naming the template
        raise ScaffoldError(f"copying the template {template} failed ({first_line(exc)}); check the template") from None
    needed = task_set.needed(chosen)
    document = {"version": 1, "tables": [t.entry for t in needed]}
    (destination / TABLES_FILE).write_text(
        "# The fill benchmark's tables (scaffold bench); the hidden references are not in this repo.\n"
        + yaml.safe_dump(document, sort_keys=False, allow_unicode=True),
        encoding="utf-8",
    )
    for task in needed:
        if task.landing.is_dir():
            shutil.copytree(task.landing, destination / "data" / "landing", dirs_exist_ok=True)
    if options.settings_from is not None:
        _copy_scaffold_settings(options.settings_from, destination / "pyproject.toml")


def _copy_scaffold_settings(source_repo: Path, target: Path) -> None:
    """The user's `[tool.scaffold]` replaces the bench repo's, so the bench fills as their repo would."""
    from scaffolder.project import find_root

    source = find_root(source_repo) / "pyproject.toml"
    try:
        settings = tomllib.loads(source.read_text(encoding="utf-8")).get("tool", {}).get("scaffold")
    except tomllib.TOMLDecodeError as exc:
        raise ScaffoldError(f"{source}: not valid TOML ({exc})") from None
    if not settings:
        return
    text = target.read_text(encoding="utf-8")
    block = "[tool.scaffold]\n" + "".join(f"{key} = {_toml(value)}\n" for key, value in settings.items())
    pattern = re.compile(r"^\[tool\.scaffold\]\n(?:(?!\[).*\n?)*", re.M)
    text = pattern.sub(lambda _: block + "\n", text, count=1) if pattern.search(text) else text + "\n" + block
    target.write_text(text, encoding="utf-8")


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml(v)}" for k, v in value.items()) + "}"
    raise ScaffoldError(f"[tool.scaffold]: cannot copy the value {value!r} into the bench repo")


def _write_solutions(project: Any, task_set: TaskSet, chosen: Sequence[Task], results: dict[str, TaskResult]) -> None:
    """Calibration: each task's hidden solution as if the fill had kept it (checked by the safe subset first)."""
    for task in chosen:
        spec = task_set.tables.get(task.name)
        text = task.solution.read_text(encoding="utf-8")
        result = results[task.name]
        result.status, result.attempts, result.kept_at = "solution", 1, 1
        result.problems = _safe_subset_problems(project, task_set.tables, spec, text)
        _write_module(project, spec, text)


def _write_module(project: Any, spec: TableSpec, text: str) -> None:
    path = project.root / spec.module_path(project.package)
    path.parent.mkdir(parents=True, exist_ok=True)
    init = path.parent / "__init__.py"
    if not init.exists():
        init.write_text("", encoding="utf-8")
    path.write_text(text, encoding="utf-8")


def _safe_subset_problems(project: Any, tables: TablesFile, spec: TableSpec, text: str) -> list[str]:
    from scaffolder import checks, safe_subset

    rel = spec.module_path(project.package)
    tree, problems = checks.parse(rel, text)
    if tree is not None:
        context = safe_subset.context_for(spec, tables, project.package, False, project.settings.allowed_imports)
        problems = [*checks.check_module(spec, rel, tree), *checks.check_policy(rel, tree, context)]
    return [str(p) for p in problems]


def _install_rejected(
    project: Any,
    task_set: TaskSet,
    chosen: Sequence[Task],
    rejected: dict[str, Mapping[str, str]],
    results: dict[str, TaskResult],
) -> list[Task]:
    """Rejected replies' modules, written in place of their stubs when they pass the safe subset."""
    judged = []
    for task in chosen:
        files = rejected.get(task.name)
        if not files:
            continue
        spec = task_set.tables.get(task.name)
        text = files.get(spec.module_path(project.package))
        result = results[task.name]
        if text is None:
            result.rejected_note = "the rejected reply has no module"
            rejected.pop(task.name)
            continue
        problems = _safe_subset_problems(project, task_set.tables, spec, text)
        if problems:
            result.rejected_note = f"not run: the rejected module is outside the safe subset ({problems[0]})"
            rejected.pop(task.name)
            continue
        _write_module(project, spec, text)
        judged.append(task)
    return judged


def _read_fill(report: FillReport, results: dict[str, TaskResult], prices: PriceTable) -> None:
    audit = _audit_records(report.audit_path)
    for outcome in report.outcomes:
        result = results.get(outcome.name)
        if result is None:
            continue
        result.status = outcome.status.value
        result.attempts = outcome.attempts
        result.kept_at = outcome.kept_at if outcome.status.value == "filled" else None
        result.tokens_in, result.tokens_out = outcome.prompt_tokens, outcome.completion_tokens
        price = prices.cost(report.model, outcome.prompt_tokens, outcome.completion_tokens)
        result.cost_usd = None if price is None else float(round(price, 8))
        result.seconds = round(outcome.seconds, 3)
        result.problems = [str(p) for p in outcome.problems] if result.kept_at is None else []
        records = [r for r in audit if r.get("table") == outcome.name and r.get("stage") == "tests"]
        errors = [str(e) for r in records for e in r.get("errors") or []]
        errors += [e for e in result.problems if e not in errors]
        result.probe_findings = sum(1 for e in errors if e.startswith("contract:") and "probe" in e.lower())
        result.mutation = _mutation(outcome.mutation, records, result.kept_at)
        if result.kept_at is None:
            result.rejected_note = "not measured: the fill report does not expose the rejected reply's code"


def _audit_records(path: Path | None) -> list[dict[str, Any]]:
    if path is None or not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict):
                records.append(record)
    return records


def _mutation(score: MutationScore | None, records: list[dict[str, Any]], kept_at: int | None) -> Mutation | None:
    for record in records:
        if record.get("attempt") == kept_at and record.get("mutants_required") is not None:
            return Mutation(killed=int(record.get("mutants_killed") or 0), required=int(record["mutants_required"]))
    return Mutation(killed=score.killed, required=score.required) if score else None


# --- the hidden reference ----------------------------------------------------------------------


def run_reference(
    project: Path, task_set: TaskSet, judged: Sequence[Task], environ: Mapping[str, str], timeout: float
) -> tuple[dict[str, tuple[ReferenceStatus, list[str]]], str]:
    """Run the hidden cases of `judged` on the repo's modules: {task: (status, failure lines)}, a note.

    The reference is copied into the repo only now, after the fill; pytest runs it in its own
    process with the repo's conftest (the `spark` fixture, the contract guard) and `src/` on the path.
    """
    if not judged:
        return {}, ""
    folder = project / REFERENCE_DIR
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "cases").mkdir(parents=True)
    shutil.copy2(task_set.folder / RUNNER, folder / "test_reference.py")
    for task in judged:
        shutil.copy2(task.cases, folder / "cases" / f"{task.name}.yml")
    junit = folder / "junit.xml"
    env = {k: v for k, v in environ.items() if k in _REFERENCE_ENV or k.startswith(_REFERENCE_ENV_PREFIXES)}
    env.update({"PYTHONPATH": str(project / "src"), "TZ": "UTC", "PYTHONDONTWRITEBYTECODE": "1"})
    command = [
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
        f"--junitxml={junit}", "-o", "junit_family=xunit2", REFERENCE_DIR,
    ]  # fmt: skip
    try:
        done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {}, f"the hidden reference did not finish within {timeout:.0f} s"
    output = (done.stdout + done.stderr).strip()
    if not junit.is_file():
        return {}, f"the hidden reference did not run (pytest exit {done.returncode}): {_tail(output)}"
    verdicts = parse_junit(junit, [t.name for t in judged])
    note = (
        "" if verdicts else f"the hidden reference collected no cases (pytest exit {done.returncode}): {_tail(output)}"
    )
    return verdicts, note


def parse_junit(path: Path, tasks: Sequence[str]) -> dict[str, tuple[ReferenceStatus, list[str]]]:
    """Per task: passed when every case passed, else failed with one line per failed case."""
    root = ElementTree.parse(path).getroot()
    verdicts: dict[str, tuple[ReferenceStatus, list[str]]] = {}
    for case in root.iter("testcase"):
        name = case.get("name", "")
        match = re.fullmatch(r"test_reference\[(.+)-(\d+)\]", name)
        if not match or match.group(1) not in tasks:
            continue
        task = match.group(1)
        status, failures = verdicts.get(task, ("passed", []))
        for tag in ("failure", "error"):
            for element in case.iter(tag):
                lines = [line for line in (element.text or "").splitlines() if line.strip()]
                message = element.get("message") or (lines[-1] if lines else tag)
                failures.append(f"case {match.group(2)}: {_one_line(message)}")
                status = "failed"
        if case.find("skipped") is not None:
            failures.append(f"case {match.group(2)}: skipped")
            status = "failed"
        verdicts[task] = (status, failures)
    return verdicts


def _one_line(text: str, limit: int = 400) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _tail(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    return _one_line(" | ".join(lines[-3:]) or "no output")


# --- totals ------------------------------------------------------------------------------------


def _totals(tasks: Sequence[TaskResult], seconds: float) -> Totals:
    count = len(tasks)
    kept = [t for t in tasks if t.kept_at is not None]
    kept_at: dict[int, int] = {}
    correct_at: dict[int, int] = {}
    for t in kept:
        kept_at[t.kept_at or 0] = kept_at.get(t.kept_at or 0, 0) + 1
        if t.correct_at is not None:
            correct_at[t.correct_at] = correct_at.get(t.correct_at, 0) + 1
    rejected = [t for t in tasks if t.kept_at is None]
    measured = [t for t in rejected if t.rejected_but_right is not None]
    mutations = [t.mutation for t in tasks if t.mutation is not None]
    killed, required = sum(m.killed for m in mutations), sum(m.required for m in mutations)
    costs = [t.cost_usd for t in tasks]
    return Totals(
        tasks=count,
        kept=len(kept),
        kept_at=dict(sorted(kept_at.items())),
        correct_at=dict(sorted(correct_at.items())),
        pass_at_1=round(correct_at.get(1, 0) / count, 4) if count else 0.0,
        pass_at_3=round(sum(n for k, n in correct_at.items() if k <= 3) / count, 4) if count else 0.0,
        kept_but_wrong=sum(1 for t in tasks if t.kept_but_wrong),
        rejected=len(rejected),
        rejected_but_right=sum(1 for t in measured if t.rejected_but_right) if measured else None,
        mutants_killed=killed,
        mutants_required=required,
        mutation_score=round(killed / required, 4) if required else None,
        probe_findings=sum(t.probe_findings for t in tasks),
        tokens_in=sum(t.tokens_in for t in tasks),
        tokens_out=sum(t.tokens_out for t in tasks),
        cost_usd=None
        if any(c is None for c in costs)
        else round(float(sum(Decimal(str(c)) for c in costs if c is not None)), 8),
        seconds=round(seconds, 3),
    )


def _spread(runs: Sequence[RunResult]) -> dict[str, Spread]:
    series: dict[str, list[float]] = {
        "pass_at_1": [r.totals.pass_at_1 for r in runs],
        "pass_at_3": [r.totals.pass_at_3 for r in runs],
        "kept_but_wrong": [float(r.totals.kept_but_wrong) for r in runs],
        "seconds": [r.seconds for r in runs],
    }
    if all(r.totals.cost_usd is not None for r in runs):
        series["cost_usd"] = [float(r.totals.cost_usd or 0) for r in runs]
    return {
        name: Spread(
            mean=round(statistics.fmean(values), 4),
            stdev=round(statistics.stdev(values), 4) if len(values) > 1 else 0.0,
            min=min(values),
            max=max(values),
        )
        for name, values in series.items()
    }


def load_report(path: Path) -> BenchReport:
    """A report written with `--json` (to compare runs)."""
    try:
        return BenchReport.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValidationError) as exc:
        raise ScaffoldError(f"{path}: not a scaffold bench report ({_one_line(str(exc), 200)})") from None


__all__ = [
    "BenchOptions",
    "BenchReport",
    "Case",
    "RejectedCode",
    "RunResult",
    "Task",
    "TaskResult",
    "TaskSet",
    "Totals",
    "load_report",
    "load_task_set",
    "make_bench_repo",
    "rejected_files",
    "run_bench",
    "run_reference",
]
