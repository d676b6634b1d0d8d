"""`scaffold test`: more tests for an existing transformation, kept only when they prove something.

The testing agent of the design research (§3), with Meta's TestGen-LLM filter and ACH's aim: for
a finished module (written by a person or by `fill`), ask the model for more unit tests, and keep
a new test only when it passes twice in the sandboxed round AND it kills a mutant the existing
tests let survive, or runs lines or branches of the module they never run (coverage.py). The
module is never edited; kept tests are appended to the table's test file, a person's tests kept.

One round per attempt, on the fill engine's parts: providers, prompts, checks, the round. The
report says the mutation score and the coverage before and after.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lakeforge.tables import TableSpec
from scaffolder import checks, safe_subset
from scaffolder.errors import ScaffoldError
from scaffolder.merging import merge_tests, named_tests
from scaffolder.problems import Problem, ProblemKind
from scaffolder.progress import Progress
from scaffolder.project import Project
from scaffolder.prompts import Prompt
from scaffolder.session import EngineSession
from scaffolder.stubs import ModuleState, module_state
from scaffolder.validation import Candidate, Coverage, MutationScore, Verdict
from scaffolder.writer import atomic_write, digest, load_manifest, save_manifest


@dataclass
class TestAgentReport:
    table: str
    provider: str
    model: str
    announcement: str
    sandbox: str = ""
    test_file: str = ""
    coverage_before: float = 0.0
    coverage_after: float = 0.0
    mutation_before: MutationScore | None = None
    mutation_after: MutationScore | None = None
    kept: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)  # test -> why it was not kept
    problems: list[Problem] = field(default_factory=list)  # what stopped a round (the reply's faults)
    rounds: int = 0
    jvm_starts: int = 0


def resolve_table(project: Project, target: str) -> TableSpec:
    """A table name, or the path of its module."""
    tables = project.tables()
    name = Path(target).stem if target.endswith(".py") else target
    try:
        spec = tables.get(name)
    except KeyError:
        known = ", ".join(t.name for t in tables.tables) or "none"
        raise ScaffoldError(f"{target}: no such table in tables.yml (known: {known})") from None
    if target.endswith(".py") and Path(target).as_posix().lstrip("./") != spec.module_path(project.package):
        raise ScaffoldError(
            f"{target}: not a table module; {spec.name}'s module is {spec.module_path(project.package)}"
        )
    return spec


def generate_tests(
    project: Project,
    target: str,
    target_coverage: float = 90.0,
    max_rounds: int = 5,
    environ: Mapping[str, str] | None = None,
    progress: Progress | None = None,
) -> TestAgentReport:
    spec = resolve_table(project, target)
    module_rel, test_rel = spec.module_path(project.package), spec.test_path()
    state = module_state(project.root / module_rel)
    if state is not ModuleState.FILLED:
        raise ScaffoldError(f"{module_rel} is {state.value}: `scaffold test` adds tests to a finished transformation")
    with EngineSession(project, environ, progress) as session:
        provider = session.provider
        if provider.name == "offline":
            raise ScaffoldError(
                "scaffold test needs a model provider (OPENAI_API_KEY, DATABRICKS_HOST, ...): the offline generator "
                "writes tests only with the transformation"
            )
        report = TestAgentReport(
            spec.name, provider.name, provider.model, session.announcement, session.sandbox_note, test_rel
        )
        session.start_spark()  # one sandboxed Spark for every round of the command
        _rounds(session, spec, report, target_coverage, max_rounds)
    report.jvm_starts = session.jvm_starts
    if session.isolation_note:
        report.sandbox = f"{report.sandbox}; {session.isolation_note}"
    return report


def _rounds(
    session: EngineSession, spec: TableSpec, report: TestAgentReport, target_coverage: float, max_rounds: int
) -> TestAgentReport:
    project, notify, builder, audit = session.project, session.notify, session.prompts, session.audit
    module_rel, test_rel = spec.module_path(project.package), spec.test_path()
    module = (project.root / module_rel).read_text(encoding="utf-8")
    test_path = project.root / test_rel
    tests = test_path.read_text(encoding="utf-8") if test_path.is_file() else ""
    baseline_digest = digest(tests)
    new_rel = spec.more_test_path()

    def judge(files: dict[str, str]) -> Verdict:
        candidate = Candidate(
            spec, files, [], mutants=True, coverage=True, mutate_passing=True, persons={test_rel}, probes=False
        )
        return session.judge([candidate], progress=False).verdicts[spec.name]

    notify(spec.name, "measuring the existing tests")
    before = judge({module_rel: module, test_rel: tests} if tests else {module_rel: module})
    blocking = [p for p in before.problems if p.kind is not ProblemKind.MUTANTS]
    if tests and blocking:
        raise ScaffoldError(f"the existing tests of {spec.name} do not pass; fix them first: {blocking[0]}")
    existing = set(before.tests)
    report.mutation_before, report.mutation_after = before.mutation, before.mutation
    coverage = before.coverage
    report.coverage_before = report.coverage_after = coverage.percent(existing) if coverage else 0.0
    survivors = {o.name: o.advice for o in before.mutants if o.status == "survived"}
    kept_tests: set[str] = set(existing)
    prompt: Prompt | None = None
    for attempt in range(1, max_rounds + 1):
        if report.coverage_after >= target_coverage and not survivors:
            break
        report.rounds = attempt
        missing = _missing_lines(module, coverage, kept_tests)
        if prompt is None:
            prompt = builder.more_tests(
                spec, module, tests, list(survivors.values()), missing, new_rel, dict(report.rejected)
            )
        notify(spec.name, f"asking {session.provider.name} for tests (round {attempt})")
        answer = session.ask(spec, prompt, {new_rel}, attempt, purpose="more-tests")
        problems, new = answer.problems, answer.files.get(new_rel, "")
        if not problems:
            problems, new = _static_problems(project, spec, new_rel, new)
        if not problems:
            notify(spec.name, f"running the new tests in the sandbox (round {attempt})")
            verdict = judge({module_rel: module, **({test_rel: tests} if tests else {}), new_rel: new})
            problems = [p for p in verdict.problems if p.kind in (ProblemKind.POLICY, ProblemKind.CONTRACT)]
            if not problems:
                keep = _credited(verdict, existing | kept_tests, survivors, report)
                merge = merge_tests(tests, new, keep)
                report.rejected.update(merge.conflicts)
                if merge.merged:
                    tests = _formatted(project, test_rel, merge.text)
                    kept_tests |= set(merge.merged)
                    report.kept += merge.merged
                    if verdict.coverage is not None:
                        coverage = verdict.coverage
                        report.coverage_after = coverage.percent(kept_tests)
                    killed = {o.name for o in verdict.mutants if o.status == "killed" and o.killed_by in merge.merged}
                    survivors = {k: v for k, v in survivors.items() if k not in killed}
                audit.record(
                    table=spec.name, attempt=attempt, stage="more-tests", kept=merge.merged, rejected=report.rejected
                )
                prompt = None  # the next round asks about what is still not proven
                continue
        report.problems = problems
        audit.record(table=spec.name, attempt=attempt, stage="more-tests", errors=[str(p) for p in problems])
        prompt = builder.repair(prompt, spec, "", attempt + 1, max_rounds, [str(p) for p in problems], [new_rel])
    if report.kept:
        notify(spec.name, "checking the merged test file")
        after = judge({module_rel: module, test_rel: tests})
        if not after.tests or any(p.kind is not ProblemKind.MUTANTS for p in after.problems):
            raise ScaffoldError(
                f"the merged {test_rel} failed its check ({after.problems[0] if after.problems else 'no test ran'}); "
                "nothing was written"
            )
        report.mutation_after = after.mutation
        if after.coverage is not None:
            report.coverage_after = after.coverage.percent(after.tests)
        current = test_path.read_text(encoding="utf-8") if test_path.is_file() else ""
        if digest(current) != baseline_digest:
            raise ScaffoldError(f"{test_rel} changed while scaffold test ran (a person's edit): nothing was written")
        atomic_write(test_path, tests)
        manifest = load_manifest(project.root)
        if test_rel in manifest.files:  # scaffold's own file stays tracked; a person's stays theirs
            manifest.record(test_rel, tests)
            save_manifest(project.root, manifest)
    return report


def _credited(verdict: Verdict, before: set[str], survivors: dict[str, str], report: TestAgentReport) -> set[str]:
    """New tests that passed every run and killed a surviving mutant or ran something new."""
    new = [t for t in verdict.tests if t not in before]
    passing = {t for t in new if verdict.outcomes.get(t) and all(o == "passed" for o in verdict.outcomes[t])}
    for test in new:
        if test not in passing:
            report.rejected[test] = f"did not pass every run ({', '.join(verdict.outcomes.get(test, ['no run']))})"
    keep = {
        o.killed_by for o in verdict.mutants if o.status == "killed" and o.name in survivors and o.killed_by in passing
    }
    if verdict.coverage is not None:
        lines, arcs = verdict.coverage.covered(before | keep)
        for test in sorted(passing - keep):
            more_lines, more_arcs = verdict.coverage.covered([test])
            if more_lines - lines or more_arcs - arcs:
                keep.add(test)
                lines, arcs = lines | more_lines, arcs | more_arcs
    for test in passing - keep:
        report.rejected[test] = "kills no surviving mutant and covers nothing new"
    return keep


def _missing_lines(module: str, coverage: Coverage | None, tests: set[str]) -> list[tuple[int, str]]:
    if coverage is None:
        return []
    lines, _ = coverage.covered(tests)
    source = module.splitlines()
    missing = sorted(coverage.statements - lines)
    return [(n, source[n - 1].strip()) for n in missing if 0 < n <= len(source)][:40]


def _static_problems(project: Project, spec: TableSpec, rel: str, text: str) -> tuple[list[Problem], str]:
    """The checks fill applies to generated tests; returns the problems and the ruff-fixed text."""
    tree, problems = checks.parse(rel, text)
    if tree is None:
        return problems, text
    context = safe_subset.context_for(spec, project.tables(), project.package, True, project.settings.allowed_imports)
    problems = checks.check_policy(rel, tree, context) + checks.check_tests(rel, tree)
    if not named_tests(tree):
        problems.append(Problem(ProblemKind.TESTS, f"{rel} has no tests"))
    fixed, lint = checks.ruff_fix_and_format({rel: text}, project.root)
    return problems + lint, fixed[rel]


def _formatted(project: Project, rel: str, text: str) -> str:
    fixed, _ = checks.ruff_fix_and_format({rel: text}, project.root)
    return fixed[rel]
