"""`scaffold fill`: stubs → prompts → model → checks → one sandboxed round → repair → atomic write.

Nothing is kept until it has run on local Spark, inside the OS sandbox, and been proven: its
tests pass twice, its output honours the contract, its tests kill every mutant. Model calls for
the tables of a round go out in parallel (`jobs`); their tests run in one pytest process. A table
that still fails after `max_attempts` keeps its stub and is reported with its last problems; the
others are written as soon as their round passes, so a later failure never loses finished work.

The loop, per attempt: ask the model for every pending table → static checks → ruff → the
validation round → keep what passed → repair prompts (redacted) for the rest.
"""

from __future__ import annotations

import difflib
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from lakeforge.identifiers import LAYERS
from lakeforge.tables import TablesFile, TableSpec
from scaffolder import checks, safe_subset
from scaffolder.audit import AuditLog, ReplyCache
from scaffolder.errors import ScaffoldError
from scaffolder.problems import Problem, ProblemKind
from scaffolder.project import Project
from scaffolder.prompts import Prompt, PromptBuilder
from scaffolder.providers import Completion, Provider, ProviderError, Request, resolve_provider
from scaffolder.redact import Redactor
from scaffolder.replies import ReplyError, parse_reply
from scaffolder.sandbox import Sandbox, SandboxUnavailable, resolve_sandbox
from scaffolder.stubs import ModuleState, ensure_stub, is_stub_test, module_state
from scaffolder.validation import Candidate, RoundSettings, RoundSpark, Verdict, run_round
from scaffolder.writer import Manifest, digest, edited_by_person, load_manifest, save_manifest, write_tracked

Progress = Callable[[str, str], None]  # (table, event)


class TableStatus(str, Enum):
    PENDING = "pending"
    FILLED = "filled"  # kept and written
    WOULD_WRITE = "would-write"  # --dry-run: passed the static checks, nothing was run or written
    SKIPPED = "skipped"  # already filled
    FAILED = "failed"  # the stub stays; the problems say why
    REFUSED = "refused"  # a person's edit, or a module that does not parse

    @property
    def bad(self) -> bool:
        return self in (TableStatus.FAILED, TableStatus.REFUSED)


@dataclass
class TableOutcome:
    name: str
    layer: str
    status: TableStatus = TableStatus.PENDING
    attempts: int = 0
    kept_at: int | None = None  # the attempt whose reply was kept
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    problems: list[Problem] = field(default_factory=list)
    note: str = ""
    diff: str = ""
    mutation: str = ""

    @property
    def errors(self) -> list[str]:
        return [str(p) for p in self.problems]


@dataclass
class FillReport:
    provider: str
    model: str
    announcement: str
    outcomes: list[TableOutcome]
    sandbox: str = ""
    rounds: int = 0
    jvm_starts: int = 0
    round_seconds: float = 0.0
    test_seconds: float = 0.0
    mutation_seconds: float = 0.0
    audit_path: Path | None = None

    @property
    def failed(self) -> list[TableOutcome]:
        return [o for o in self.outcomes if o.status.bad]


@dataclass
class _Table:
    """One table's way through the attempts."""

    spec: TableSpec
    outcome: TableOutcome
    prompt: Prompt
    test_target: str
    existing_tests: list[str]
    baseline: dict[str, str | None] = field(default_factory=dict)  # repo-relative path -> digest when the fill began
    reply: str = ""
    cache_key: str = ""
    files: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)
    regressions: list[str] = field(default_factory=list)  # tests pinning rows the probe found breaking the contract

    def fail(self, *problems: Problem) -> None:
        self.problems += problems

    def add_regressions(self) -> None:
        """The probe's regression tests, appended to the test file: they run in this round and stay."""
        if not self.regressions or self.test_target not in self.files:
            return
        tests = [
            re.sub(r"_probe_regression_\d+\(", f"_probe_regression_{n}(", t, count=1)
            for n, t in enumerate(self.regressions)
        ]
        self.files[self.test_target] = self.files[self.test_target].rstrip("\n") + "\n" + "".join(tests)


def select_tables(tables: TablesFile, layer: str, names: Sequence[str] = ()) -> list[TableSpec]:
    if layer not in (*LAYERS, "all"):
        raise ScaffoldError(f"layer {layer!r} is unknown: use bronze, silver, gold or all")
    chosen = [t for t in tables.tables if layer == "all" or t.layer == layer]
    if names:
        known = {t.name for t in chosen}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ScaffoldError(
                f"--table {', '.join(unknown)}: not a {layer} table in tables.yml (known: {', '.join(sorted(known)) or 'none'})"
            )
        chosen = [t for t in chosen if t.name in names]
    return chosen


def choose_sandbox(setting: str, environ: Mapping[str, str], offline: bool = False) -> tuple[Sandbox, str]:
    """The sandbox for the round and a sentence for the summary and the audit log.

    Code from a model (or an agent, or a person's disk) never runs unconfined unless the user
    opted out; the offline generator's own code (written by this program from tables.yml) may,
    when no sandbox exists here.
    """
    try:
        sandbox = resolve_sandbox(setting, environ)
    except SandboxUnavailable as exc:
        if not offline:
            raise
        return Sandbox(), f"no sandbox: {exc.reason}; the offline generator's own code ran unconfined"
    if setting == "off":
        return sandbox, "sandbox OFF (opted out): model-written code ran with your user's rights"
    return sandbox, f"sandbox: {sandbox.describe()}"


def fill(
    project: Project,
    layer: str,
    names: Sequence[str] = (),
    dry_run: bool = False,
    force: bool = False,
    progress: Progress | None = None,
    environ: Mapping[str, str] | None = None,
) -> FillReport:
    environ = os.environ if environ is None else environ
    notify = progress or (lambda table, event: None)
    settings = project.settings
    provider, announcement = resolve_provider(settings, environ)
    tables = project.tables()
    specs = select_tables(tables, layer, names)
    sandbox, sandbox_note = (Sandbox(), "--dry-run: nothing from the reply runs") if dry_run else (None, "")
    if sandbox is None:
        sandbox, sandbox_note = choose_sandbox(settings.sandbox, environ, offline=provider.name == "offline")
    redactor = Redactor.from_environment(environ, repo=project.root)
    manifest = load_manifest(project.root)
    audit = AuditLog(project.root, redactor)
    cache = ReplyCache(project.root)
    report = FillReport(provider.name, provider.model, announcement, [], sandbox_note, audit_path=audit.path)
    audit.record(stage="run", provider=provider.name, model=provider.model, sandbox=sandbox_note, dry_run=dry_run)
    builder = PromptBuilder(project.root, project.package, tables, settings.prompt_token_budget)

    pending = [
        item
        for spec in specs
        if (item := _prepare(project, manifest, builder, report, spec, dry_run, force)) is not None
    ]
    if not dry_run:
        save_manifest(project.root, manifest)

    round_settings = RoundSettings(settings.test_timeout_seconds, settings.timeout_seconds)
    # One sandbox and one Spark server for every round of this fill, started now: it boots and
    # warms up while the model writes the first replies.
    spark = RoundSpark(project.root, sandbox, environ) if pending and not dry_run else None
    try:
        if spark is not None:
            spark.start()
        _attempts(
            project,
            manifest,
            provider,
            tables,
            cache,
            audit,
            redactor,
            builder,
            report,
            pending,
            settings,
            round_settings,
            sandbox,
            spark,
            environ,
            dry_run,
            notify,
        )
    finally:
        if spark is not None:
            spark.close()
            report.jvm_starts = spark.jvm_starts
    _sanitize(report, redactor)
    return report


def _sanitize(report: FillReport, redactor: Redactor) -> None:
    """What the CLI and the MCP server show went through the same sanitizer as the model's prompts."""
    for outcome in report.outcomes:
        outcome.problems = [Problem(p.kind, redactor.text(p.message)) for p in outcome.problems]
        outcome.diff, outcome.note = redactor.text(outcome.diff), redactor.text(outcome.note)


def _attempts(
    project: Project,
    manifest: Manifest,
    provider: Provider,
    tables: TablesFile,
    cache: ReplyCache,
    audit: AuditLog,
    redactor: Redactor,
    builder: PromptBuilder,
    report: FillReport,
    pending: list[_Table],
    settings: Any,
    round_settings: RoundSettings,
    sandbox: Sandbox,
    spark: RoundSpark | None,
    environ: Mapping[str, str],
    dry_run: bool,
    notify: Progress,
) -> None:
    for attempt in range(1, settings.max_attempts + 1):
        if not pending:
            break
        for item in pending:
            item.outcome.attempts, item.problems = attempt, []
        _ask_all(provider, pending, tables, project, cache, audit, redactor, attempt, settings.jobs, notify)
        for item in pending:
            if not item.problems:
                item.problems = _static_checks(project, tables, item)
        _ruff_all(project, [item for item in pending if not item.problems])
        for item in pending:  # every rule a file breaks, so one repair can fix them all
            if item.files and not any(p.kind in (ProblemKind.PROVIDER, ProblemKind.REPLY) for p in item.problems):
                item.problems += _safe_subset(project, tables, item)
            if not item.problems:
                item.add_regressions()
        for item in pending:
            audit.record(table=item.spec.name, attempt=attempt, stage="static", errors=[str(p) for p in item.problems])
        ready = [item for item in pending if not item.problems]
        if ready and dry_run:
            for item in ready:
                _keep(project, manifest, item, attempt, dry_run=True)
        elif ready:
            for item in ready:
                notify(item.spec.name, "testing in the sandbox")
            result = run_round(
                project.root,
                project.package,
                [Candidate(i.spec, i.files, i.existing_tests, settings.mutants) for i in ready],
                round_settings,
                sandbox,
                environ,
                spark=spark,
            )
            report.rounds += 1
            report.round_seconds += result.seconds
            report.test_seconds += result.test_seconds
            report.mutation_seconds += result.mutation_seconds
            for item in ready:
                verdict = result.verdicts[item.spec.name]
                item.problems = verdict.problems
                item.regressions += [t for t in verdict.regressions if t not in item.regressions]
                _record_verdict(audit, item, attempt, verdict, result.seconds)
                if verdict.passed:
                    item.outcome.mutation = str(verdict.mutation or "")
                    _keep(project, manifest, item, attempt, dry_run=False)
                    notify(item.spec.name, "filled")
            save_manifest(project.root, manifest)
        pending = _next_attempt(pending, builder, cache, attempt, settings.max_attempts, notify)


def _prepare(
    project: Project,
    manifest: Manifest,
    builder: PromptBuilder,
    report: FillReport,
    spec: TableSpec,
    dry_run: bool,
    force: bool,
) -> _Table | None:
    """The table's starting point: skipped, refused, or a prompt to send."""
    outcome = TableOutcome(spec.name, spec.layer)
    report.outcomes.append(outcome)
    module_rel = spec.module_path(project.package)
    if not dry_run:
        ensure_stub(project, manifest, spec)
    state = module_state(project.root / module_rel)
    if not force:
        if state is ModuleState.BROKEN:
            outcome.status = TableStatus.REFUSED
            outcome.problems = [
                Problem(ProblemKind.SYNTAX, f"{module_rel} does not parse: fix it, or pass --force to rewrite it")
            ]
            return None
        if state is ModuleState.FILLED:
            outcome.status, outcome.note = TableStatus.SKIPPED, "already filled (use --force to rewrite it)"
            return None
        if state is ModuleState.STUB and edited_by_person(project.root, manifest, module_rel):
            outcome.status = TableStatus.REFUSED
            outcome.problems = [
                Problem(
                    ProblemKind.CONTRACT,
                    f"{module_rel} was edited by a person since scaffold wrote it: pass --force to overwrite",
                )
            ]
            return None
    test_target, existing = _test_target(project, manifest, spec, force)
    baseline = {rel: _digest_of(project.root / rel) for rel in (module_rel, test_target)}
    return _Table(spec, outcome, builder.build(spec), test_target, existing, baseline)


def _digest_of(path: Path) -> str | None:
    return digest(path.read_text(encoding="utf-8")) if path.is_file() else None


def _next_attempt(
    pending: list[_Table], builder: PromptBuilder, cache: ReplyCache, attempt: int, max_attempts: int, notify: Progress
) -> list[_Table]:
    """Tables still to try: the rest either failed for good or get a repair prompt."""
    still = []
    for item in pending:
        if item.outcome.status is not TableStatus.PENDING:  # kept, or refused at the last moment
            continue
        if item.cache_key and item.problems:
            cache.drop(item.cache_key)  # a reply that failed its checks is not worth replaying
        if any(p.kind.fatal for p in item.problems) or attempt == max_attempts:
            item.outcome.status = TableStatus.FAILED
            item.outcome.problems = item.problems
            item.outcome.seconds = time.perf_counter() - item.started
            notify(item.spec.name, "failed")
            continue
        errors = [str(p) for p in item.problems]
        item.prompt = builder.repair(item.prompt, item.spec, item.reply, attempt + 1, max_attempts, errors)
        still.append(item)
    return still


def _record_verdict(audit: AuditLog, item: _Table, attempt: int, verdict: Verdict, seconds: float) -> None:
    score = verdict.mutation
    audit.record(
        table=item.spec.name,
        attempt=attempt,
        stage="tests",
        passed=verdict.passed,
        errors=[str(p) for p in verdict.problems],
        tests_run=verdict.tests_run,
        mutants_killed=score.killed if score else None,
        mutants_required=score.required if score else None,
        mutants_equivalent=score.equivalent if score else None,
        round_seconds=round(seconds, 3),
    )


def _test_target(project: Project, manifest: Manifest, spec: TableSpec, force: bool) -> tuple[str, list[str]]:
    """Where generated tests go, and which existing tests run with them.

    A test file a person wrote is kept and run alongside; the generated tests then go beside it.
    """
    rel = spec.test_path()
    path = project.root / rel
    if not path.is_file() or force:
        return rel, []
    text = path.read_text(encoding="utf-8")
    if is_stub_test(text) or (manifest.files.get(rel) == digest(text)):
        return rel, []
    return spec.scaffold_test_path(), [rel]


def _ask_all(
    provider: Provider,
    items: list[_Table],
    tables: TablesFile,
    project: Project,
    cache: ReplyCache,
    audit: AuditLog,
    redactor: Redactor,
    attempt: int,
    jobs: int,
    notify: Progress,
) -> None:
    def ask(item: _Table) -> None:
        notify(item.spec.name, f"asking {provider.name} (attempt {attempt})")
        key = cache.key(provider.name, provider.model, item.prompt.hash)
        item.cache_key = key
        cached = cache.get(key)
        call = {
            "table": item.spec.name,
            "attempt": attempt,
            "stage": "model",
            "provider": provider.name,
            "model": provider.model,
            "prompt_hash": item.prompt.hash,
            "prompt_tokens_estimate": item.prompt.tokens,
        }
        messages = [{**m, "content": redactor.text(m["content"])} for m in item.prompt.messages]
        try:
            if cached is not None:
                completion = Completion(cached["text"], 0, 0, cached.get("finish_reason"), 0.0)
            else:
                completion = provider.complete(Request(messages, item.spec, tables, project.package))
        except ProviderError as exc:
            item.fail(Problem(ProblemKind.PROVIDER, str(exc)))
            audit.record(**call, error=str(exc))
            return
        item.reply = completion.text
        item.outcome.prompt_tokens += completion.prompt_tokens
        item.outcome.completion_tokens += completion.completion_tokens
        audit.record(
            **call,
            prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens,
            latency=round(completion.latency, 3),
            cached=cached is not None,
            finish_reason=completion.finish_reason,
            exemplars=item.prompt.exemplars,
        )
        allowed = {item.spec.module_path(project.package), item.spec.test_path()}
        try:
            parsed = parse_reply(completion.text, allowed, completion.finish_reason)
        except ReplyError as exc:
            item.fail(Problem(ProblemKind.REPLY, str(exc)))
            return
        if cached is None:
            cache.put(key, {"text": completion.text, "finish_reason": completion.finish_reason})
        item.files = dict(parsed.files)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        list(pool.map(ask, items))


def _static_checks(project: Project, tables: TablesFile, item: _Table) -> list[Problem]:
    spec = item.spec
    module_rel = spec.module_path(project.package)
    test_rel = spec.test_path()
    problems: list[Problem] = []
    if module_rel not in item.files:
        problems.append(Problem(ProblemKind.REPLY, f"no file {module_rel}"))
    if test_rel not in item.files:
        problems.append(Problem(ProblemKind.REPLY, f"no tests ({test_rel} is missing)"))
    for rel, text in item.files.items():
        tree, syntax = checks.parse(rel, text)
        problems += syntax
        if tree is None:
            continue
        if rel == module_rel:
            problems += checks.check_module(spec, rel, tree)
        else:
            problems += checks.check_tests(rel, tree)
    return problems


def _safe_subset(project: Project, tables: TablesFile, item: _Table) -> list[Problem]:
    """The safe subset, on the files as ruff left them: what would run and be kept (an unused
    `import os` that ruff removed is gone; nothing ruff does adds code)."""
    problems: list[Problem] = []
    module_rel = item.spec.module_path(project.package)
    for rel, text in item.files.items():
        tree, _ = checks.parse(rel, text)
        if tree is None:
            continue  # the syntax error is already said
        is_test = rel != module_rel
        settings = project.settings
        context = safe_subset.context_for(item.spec, tables, project.package, is_test, settings.allowed_imports)
        problems += checks.check_policy(rel, tree, context)
    return problems


def _ruff_all(project: Project, items: list[_Table]) -> None:
    """One `ruff` pass over every table's files (a subprocess per table would cost seconds)."""
    if not items:
        return
    files = {rel: text for item in items for rel, text in item.files.items()}
    fixed, lint = checks.ruff_fix_and_format(files, project.root)
    for item in items:
        problems = [p for p in lint if any(p.message.startswith(f"{rel}:") for rel in item.files)]
        if problems:
            item.fail(*problems)
            continue
        test_rel = item.spec.test_path()
        item.files = {rel: fixed[rel] for rel in item.files}
        if item.test_target != test_rel:
            item.files[item.test_target] = item.files.pop(test_rel)


def _keep(project: Project, manifest: Manifest, item: _Table, attempt: int, dry_run: bool) -> None:
    """Write the kept files, unless a person edited one of them while the fill ran."""
    outcome = item.outcome
    outcome.seconds = time.perf_counter() - item.started
    diffs = []
    for rel, text in item.files.items():
        path = project.root / rel
        before = path.read_text(encoding="utf-8") if path.is_file() else ""
        diffs.append(
            "".join(difflib.unified_diff(before.splitlines(True), text.splitlines(True), f"a/{rel}", f"b/{rel}"))
        )
    outcome.diff = "\n".join(diffs)
    outcome.kept_at = attempt
    if dry_run:
        outcome.status = TableStatus.WOULD_WRITE
        outcome.note = "passed the static checks; --dry-run ran nothing from the reply and wrote nothing"
        return
    # A person may have edited a file while the model and the round were busy: re-check now.
    changed = [
        rel for rel in item.files if rel in item.baseline and _digest_of(project.root / rel) != item.baseline[rel]
    ]
    if changed:
        outcome.status = TableStatus.REFUSED
        outcome.problems = [
            Problem(
                ProblemKind.CONTRACT,
                f"{', '.join(changed)} changed while the fill ran (a person's edit): nothing was written; "
                "run the fill again, or pass --force to overwrite",
            )
        ]
        return
    for rel, text in item.files.items():
        write_tracked(project.root, manifest, rel, text)
    outcome.status = TableStatus.FILLED
