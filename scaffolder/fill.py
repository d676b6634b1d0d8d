"""`scaffold fill`: stubs → prompts → model → checks → sandboxed rounds → repair → atomic write.

Nothing is kept until it has run on local Spark, inside the OS sandbox, and been proven: its
tests pass twice, its output honours the contract, its tests kill every mutant. Model calls for
the tables of a round go out in parallel (`jobs` at once); their runs are spread over the cores.
A table that still fails after `max_attempts` keeps its stub and is reported with its last
problems; the others are written as soon as their round passes, so a later failure never loses
finished work.

The loop, per attempt: ask the model for every pending table → as replies come in, in batches:
static checks → ruff → a validation round → keep what passed; then repair prompts (redacted) for
the rest. Replies that come together are judged in one round; a slow reply does not hold up the
round of the ones already in.
"""

from __future__ import annotations

import contextlib
import difflib
import re
from collections.abc import Generator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, wait
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from pathlib import Path

from lakeforge.tables import TablesFile, TableSpec
from scaffolder import checks, safe_subset
from scaffolder.audit import AuditLog
from scaffolder.model_calls import ModelCalls
from scaffolder.problems import Problem, ProblemKind
from scaffolder.progress import Progress
from scaffolder.project import Project
from scaffolder.prompts import Prompt, PromptBuilder
from scaffolder.redact import Redactor
from scaffolder.session import Answer, EngineSession, select_tables
from scaffolder.stubs import ModuleState, ensure_stub, is_stub_test, module_state
from scaffolder.validation import Candidate, MutationScore, Verdict
from scaffolder.writer import Manifest, digest, edited_by_person, load_manifest, save_manifest, write_tracked


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
    seconds: float = 0.0  # this table's own: its model calls and its runs in the rounds
    problems: list[Problem] = field(default_factory=list)
    note: str = ""
    diff: str = ""
    mutation: MutationScore | None = None  # the kept tests' score

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
    runs: int = 0  # worker runs in the rounds: real, probe and mutant runs
    jvm_starts: int = 0
    round_seconds: float = 0.0
    each_round: list[tuple[float, float]] = field(default_factory=list)  # (seconds, of which set-up) per round
    test_seconds: float = 0.0
    mutation_seconds: float = 0.0
    audit_path: Path | None = None
    written: list[str] = field(default_factory=list)  # repo-relative files the fill wrote, in order
    cost_usd: Decimal | None = None  # estimated from the tokens and scaffolder/prices.py; None: unknown
    priced_by: str = "list prices"  # or the repo's own [tool.scaffold.prices]

    @property
    def failed(self) -> list[TableOutcome]:
        return [o for o in self.outcomes if o.status.bad]

    @property
    def tokens(self) -> tuple[int, int]:
        return sum(o.prompt_tokens for o in self.outcomes), sum(o.completion_tokens for o in self.outcomes)


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
    answer: Answer | None = None  # the model's last answer (its cache entry is dropped when it fails)
    files: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
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


def fill(
    project: Project,
    layer: str,
    names: Sequence[str] = (),
    dry_run: bool = False,
    force: bool = False,
    progress: Progress | None = None,
    environ: Mapping[str, str] | None = None,
) -> FillReport:
    with EngineSession(project, environ, progress, dry_run=dry_run) as session:
        specs = select_tables(session.tables, layer, names)
        provider = session.provider
        report = FillReport(
            provider.name, provider.model, session.announcement, [], session.sandbox_note, audit_path=session.audit.path
        )
        session.audit.record(
            stage="run", provider=provider.name, model=provider.model, sandbox=session.sandbox_note, dry_run=dry_run
        )
        manifest = load_manifest(project.root)
        pending = [
            item
            for spec in specs
            if (item := _prepare(project, manifest, session.prompts, report, spec, dry_run, force)) is not None
        ]
        if not dry_run:
            save_manifest(project.root, manifest)
        if pending:
            session.start_spark()  # it boots while the model writes the first replies
        _attempts(session, manifest, report, pending)
    report.jvm_starts = session.jvm_starts
    if session.isolation_note:
        report.sandbox = f"{report.sandbox}; {session.isolation_note}"
    _sanitize(report, session.redactor)
    tokens_in, tokens_out = report.tokens
    if tokens_in or tokens_out:
        report.cost_usd, report.priced_by = project.settings.priced(provider.model, tokens_in, tokens_out)
    return report


def _sanitize(report: FillReport, redactor: Redactor) -> None:
    """What the CLI and the MCP server show went through the same sanitizer as the model's prompts."""
    for outcome in report.outcomes:
        outcome.problems = [Problem(p.kind, redactor.text(p.message)) for p in outcome.problems]
        outcome.diff, outcome.note = redactor.text(outcome.diff), redactor.text(outcome.note)


def _attempts(session: EngineSession, manifest: Manifest, report: FillReport, pending: list[_Table]) -> None:
    for attempt in range(1, session.settings.max_attempts + 1):
        if not pending:
            break
        for item in pending:
            item.outcome.attempts, item.problems = attempt, []
        with contextlib.closing(_replies(session, pending, attempt)) as batches:  # its asks end with it
            for batch in batches:
                _check_and_judge(session, manifest, report, batch, attempt)
        pending = _next_attempt(session, pending, attempt)


def _check_and_judge(
    session: EngineSession, manifest: Manifest, report: FillReport, batch: list[_Table], attempt: int
) -> None:
    """One batch of replies: static checks, ruff, the safe subset, then one round; keep what passed."""
    project, settings, notify = session.project, session.settings, session.notify
    for item in batch:
        if not item.problems:
            notify(item.spec.name, "checking the reply (ruff, safe subset)")
            item.problems = _static_checks(project, session.tables, item)
    _ruff_all(project, [item for item in batch if not item.problems])
    for item in batch:  # every rule a file breaks, so one repair can fix them all
        if item.files and not any(p.kind in (ProblemKind.PROVIDER, ProblemKind.REPLY) for p in item.problems):
            item.problems += _safe_subset(project, session.tables, item)
        if not item.problems:
            item.add_regressions()
    for item in batch:
        session.audit.record(
            table=item.spec.name, attempt=attempt, stage="static", errors=[str(p) for p in item.problems]
        )
    ready = [item for item in batch if not item.problems]
    if ready and session.dry_run:
        for item in ready:
            _keep(project, manifest, item, attempt, dry_run=True)
            notify(item.spec.name, item.outcome.status.value)
    elif ready:
        for item in ready:
            notify(item.spec.name, "in the round: tests twice, probes, mutants")
        result = session.judge([Candidate(i.spec, i.files, i.existing_tests, settings.mutants) for i in ready])
        report.rounds += 1
        report.runs += result.runs
        report.round_seconds += result.seconds
        report.each_round.append((result.seconds, result.setup_seconds))
        report.test_seconds += result.test_seconds
        report.mutation_seconds += result.mutation_seconds
        for item in ready:
            verdict = result.verdicts[item.spec.name]
            item.outcome.seconds += verdict.seconds
            item.problems = verdict.problems
            item.regressions += [t for t in verdict.regressions if t not in item.regressions]
            _record_verdict(session.audit, item, attempt, verdict, result.seconds)
            if verdict.passed:
                item.outcome.mutation = verdict.mutation
                _keep(project, manifest, item, attempt, dry_run=False)
                if item.outcome.status is TableStatus.FILLED:
                    report.written += [rel for rel in item.files if rel not in report.written]
                notify(item.spec.name, item.outcome.status.value)
        save_manifest(project.root, manifest)


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
        report.written += ensure_stub(project, manifest, spec)  # a stub a failed table keeps is written too
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


def _next_attempt(session: EngineSession, pending: list[_Table], attempt: int) -> list[_Table]:
    """Tables still to try: the rest either failed for good or get a repair prompt."""
    max_attempts = session.settings.max_attempts
    still = []
    for item in pending:
        if item.outcome.status is not TableStatus.PENDING:  # kept, or refused at the last moment
            continue
        if item.answer is not None and item.problems:
            session.forget(item.answer)
        if any(p.kind.fatal for p in item.problems) or attempt == max_attempts:
            item.outcome.status = TableStatus.FAILED
            item.outcome.problems = item.problems
            session.notify(item.spec.name, "failed")
            continue
        errors = [str(p) for p in item.problems]
        item.prompt = session.prompts.repair(item.prompt, item.spec, item.reply, attempt + 1, max_attempts, errors)
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


SETTLE_SECONDS = 0.3  # replies this close together are judged in one round


def _replies(session: EngineSession, items: list[_Table], attempt: int) -> Generator[list[_Table], None, None]:
    """Every table's prompt to the model (`jobs` at a time); yields the tables whose replies are in,
    batch by batch, each batch then judged in a round of its own.

    The first batch waits until the round's Spark is ready (replies that come in meanwhile join
    it); each later one is what came in while the one before it was judged. With a model whose
    replies take long and come apart, the cores judge the first while the last are still being
    written; replies that come together still go in one round.
    """
    package, name = session.project.package, session.provider.name

    def ask(item: _Table) -> None:
        session.notify(item.spec.name, f"asking {name} (attempt {attempt})")
        allowed = {item.spec.module_path(package), item.spec.test_path()}
        answer = item.answer = session.ask(item.spec, item.prompt, allowed, attempt)
        item.reply, item.files = answer.reply, dict(answer.files)
        asked_for = item.spec.test_path()
        if item.test_target != asked_for and asked_for in item.files:  # a person's test file is there
            item.files[item.test_target] = item.files.pop(asked_for)
        item.outcome.seconds += answer.seconds
        item.outcome.prompt_tokens += answer.prompt_tokens
        item.outcome.completion_tokens += answer.completion_tokens
        item.fail(*answer.problems)

    calls = ModelCalls(ask, items, session.settings.jobs)
    asking = dict(calls.futures)
    try:
        while asking:
            done, left = wait(asking, return_when=FIRST_COMPLETED)
            while left:  # the ones that come in now, or before a round can start, join this batch
                more, left = wait(left, timeout=SETTLE_SECONDS, return_when=FIRST_COMPLETED)
                if not more and session.round_ready():
                    break
                done |= more
            for future in done:
                future.result()  # what failed in `ask` (a cancelled tool call) stops the fill here
            answered = {id(asking.pop(future)) for future in done}
            yield [item for item in items if id(item) in answered]
    finally:
        calls.stop()  # on Ctrl-C the command exits now, not when the calls in flight end


def _static_checks(project: Project, tables: TablesFile, item: _Table) -> list[Problem]:
    spec = item.spec
    module_rel = spec.module_path(project.package)
    problems: list[Problem] = []
    if module_rel not in item.files:
        problems.append(Problem(ProblemKind.REPLY, f"no file {module_rel}"))
    if item.test_target not in item.files:
        problems.append(Problem(ProblemKind.REPLY, f"no tests ({spec.test_path()} is missing)"))
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
        item.files = {rel: fixed[rel] for rel in item.files}


def _keep(project: Project, manifest: Manifest, item: _Table, attempt: int, dry_run: bool) -> None:
    """Write the kept files, unless a person edited one of them while the fill ran."""
    outcome = item.outcome
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
