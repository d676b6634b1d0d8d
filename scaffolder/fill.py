"""`scaffold fill`: stubs → prompts → model → checks → one test round → repair → atomic write.

Nothing is kept until it has run and passed on local Spark. Model calls for the tables of a
round go out in parallel (`jobs`); their tests run in one pytest process. A table that still
fails after `max_attempts` keeps its stub and is reported with its last errors; the others are
written as soon as their round passes, so a later failure never loses finished work.
"""

from __future__ import annotations

import difflib
import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from lakeforge.identifiers import LAYERS
from lakeforge.tables import TablesFile, TableSpec
from scaffolder import checks
from scaffolder.audit import AuditLog, ReplyCache
from scaffolder.project import Project, ScaffoldError
from scaffolder.prompts import Prompt, PromptBuilder
from scaffolder.providers import Completion, Provider, ProviderError, Request, resolve_provider
from scaffolder.replies import ReplyError, parse_reply
from scaffolder.stubs import is_stub, is_stub_test, stub_module, stub_test
from scaffolder.validation import Candidate, run_round
from scaffolder.writer import Manifest, atomic_write, digest, edited_by_person, load_manifest, save_manifest

Progress = Callable[[str, str], None]  # (table, event)


@dataclass
class TableOutcome:
    name: str
    layer: str
    status: str = "pending"  # filled | failed | skipped | refused | would-write
    attempts: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    note: str = ""
    diff: str = ""


@dataclass
class FillReport:
    provider: str
    model: str
    announcement: str
    outcomes: list[TableOutcome]
    rounds: int = 0
    jvm_starts: int = 0
    audit_path: Path | None = None

    @property
    def failed(self) -> list[TableOutcome]:
        return [o for o in self.outcomes if o.status in ("failed", "refused")]


@dataclass
class _Work:
    spec: TableSpec
    outcome: TableOutcome
    prompt: Prompt
    test_target: str
    existing_tests: list[str]
    reply: str = ""
    cache_key: str = ""
    files: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)


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


def ensure_stub(project: Project, manifest: Manifest, spec: TableSpec) -> list[str]:
    """Create the module and test stubs when missing; returns the paths created."""
    created = []
    for rel, text in (
        (spec.module_path(project.package), stub_module(spec)),
        (spec.test_path(), stub_test(spec)),
    ):
        path = project.root / rel
        if not path.exists():
            init = path.parent / "__init__.py"
            if rel.startswith("src/") and not init.exists():
                atomic_write(init, "")
            atomic_write(path, text)
            manifest.files[rel] = digest(text)
            created.append(rel)
    return created


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
    manifest = load_manifest(project.root)
    audit = AuditLog(project.root)
    cache = ReplyCache(project.root)
    report = FillReport(provider.name, provider.model, announcement, [], audit_path=audit.path)
    builder = PromptBuilder(project.root, project.package, tables, settings.prompt_token_budget)

    work: list[_Work] = []
    for spec in specs:
        outcome = TableOutcome(spec.name, spec.layer)
        report.outcomes.append(outcome)
        module_rel = spec.module_path(project.package)
        if not dry_run:
            ensure_stub(project, manifest, spec)
        module = project.root / module_rel
        current = module.read_text(encoding="utf-8") if module.is_file() else None
        if current is not None and not force:
            if not is_stub(current):
                outcome.status, outcome.note = "skipped", "already filled (use --force to rewrite it)"
                continue
            if edited_by_person(project.root, manifest, module_rel):
                outcome.status = "refused"
                outcome.errors = [
                    f"{module_rel} was edited by a person since scaffold wrote it: pass --force to overwrite"
                ]
                continue
        test_target, existing = _test_target(project, manifest, spec, force)
        work.append(_Work(spec, outcome, builder.build(spec), test_target, existing))
    if not dry_run:
        save_manifest(project.root, manifest)

    pending = work
    for attempt in range(1, settings.max_attempts + 1):
        if not pending:
            break
        for item in pending:
            item.outcome.attempts = attempt
            item.errors = []
        _ask_all(provider, pending, tables, project, cache, audit, attempt, settings.jobs, notify)
        for item in pending:
            if not item.errors:
                _static_checks(project, item)
        _ruff_all(project, [item for item in pending if not item.errors])
        for item in pending:
            audit.record(table=item.spec.name, attempt=attempt, stage="static", errors=item.errors)
        ready = [item for item in pending if not item.errors]
        if ready:
            for item in ready:
                notify(item.spec.name, "testing")
            result = run_round(
                project.root,
                project.package,
                [Candidate(i.spec, i.files, i.existing_tests) for i in ready],
                settings.test_timeout_seconds,
                settings.timeout_seconds,
                environ,
            )
            report.rounds += 1
            report.jvm_starts += result.jvm_starts
            for item in ready:
                verdict = result.verdicts[item.spec.name]
                item.errors = verdict.errors
                audit.record(
                    table=item.spec.name,
                    attempt=attempt,
                    stage="tests",
                    passed=verdict.passed,
                    errors=verdict.errors,
                    tests_run=verdict.tests_run,
                    round_seconds=result.seconds,
                )
                if verdict.passed:
                    _keep(project, manifest, item, dry_run)
                    notify(item.spec.name, "filled" if not dry_run else "checked")
            if not dry_run:
                save_manifest(project.root, manifest)
        for item in pending:
            if item.errors and item.cache_key:
                cache.drop(item.cache_key)
        still = []
        for item in pending:
            if item.outcome.status in ("filled", "would-write"):
                continue
            if any(e.startswith("provider:") for e in item.errors) or attempt == settings.max_attempts:
                item.outcome.status = "failed"
                item.outcome.errors = item.errors
                item.outcome.seconds = time.perf_counter() - item.started
                notify(item.spec.name, "failed")
                continue
            item.prompt = builder.repair(
                item.prompt, item.spec, item.reply, attempt + 1, settings.max_attempts, item.errors
            )
            still.append(item)
        pending = still
    return report


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
    return rel.replace(".py", "_scaffold.py"), [rel]


def _ask_all(
    provider: Provider,
    items: list[_Work],
    tables: TablesFile,
    project: Project,
    cache: ReplyCache,
    audit: AuditLog,
    attempt: int,
    jobs: int,
    notify: Progress,
) -> None:
    def ask(item: _Work) -> None:
        notify(item.spec.name, f"asking {provider.name} (attempt {attempt})")
        key = f"{provider.name}-{provider.model}-{item.prompt.hash}"
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
        try:
            if cached is not None:
                completion = Completion(cached["text"], 0, 0, cached.get("finish_reason"), 0.0)
            else:
                completion = provider.complete(Request(item.prompt.messages, item.spec, tables, project.package))
        except ProviderError as exc:
            item.errors = [f"provider: {exc}"]
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
            item.errors = [f"reply: {exc}"]
            return
        if cached is None:
            cache.put(key, {"text": completion.text, "finish_reason": completion.finish_reason})
        item.files = dict(parsed.files)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        list(pool.map(ask, items))


def _static_checks(project: Project, item: _Work) -> None:
    spec = item.spec
    module_rel = spec.module_path(project.package)
    test_rel = spec.test_path()
    errors: list[str] = []
    if module_rel not in item.files:
        errors.append(f"reply: no file {module_rel}")
    if test_rel not in item.files:
        errors.append(f"reply: no tests ({test_rel} is missing)")
    for rel, text in item.files.items():
        tree, syntax = checks.parse(rel, text)
        errors += syntax
        if tree is None:
            continue
        if rel == module_rel:
            errors += checks.check_module(spec, rel, tree)
            errors += checks.check_policy(rel, tree, is_test=False)
        else:
            errors += checks.check_policy(rel, tree, is_test=True)
            errors += checks.check_tests(rel, tree)
    item.errors = errors


def _ruff_all(project: Project, items: list[_Work]) -> None:
    """One `ruff` pass over every table's files (a subprocess per table would cost seconds)."""
    if not items:
        return
    files = {rel: text for item in items for rel, text in item.files.items()}
    fixed, lint = checks.ruff_fix_and_format(files, project.root)
    for item in items:
        problems = [p for p in lint if any(f"ruff: {rel}:" in p for rel in item.files)]
        if problems:
            item.errors = problems
            continue
        test_rel = item.spec.test_path()
        item.files = {rel: fixed[rel] for rel in item.files}
        if item.test_target != test_rel:
            item.files[item.test_target] = item.files.pop(test_rel)


def _keep(project: Project, manifest: Manifest, item: _Work, dry_run: bool) -> None:
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
    if dry_run:
        outcome.status = "would-write"
        return
    for rel, text in item.files.items():
        atomic_write(project.root / rel, text)
        manifest.files[rel] = digest(text)
    outcome.status = "filled"
