"""`scaffold validate`: the verdict `fill` would give, for code as it is on disk.

A person, or an IDE agent through MCP, edits a transformation and its tests by hand; this runs
the same round on them (the sandbox, the output contract, each test twice, the mutants) without
asking a model or writing anything, so hand-written tables are held to the bar generated ones
are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from lakeforge.tables import TablesFile, TableSpec
from scaffolder import checks, safe_subset
from scaffolder.problems import Problem, ProblemKind
from scaffolder.progress import Progress
from scaffolder.project import Project
from scaffolder.session import EngineSession, select_tables
from scaffolder.stubs import ModuleState, module_state
from scaffolder.validation import Candidate, Verdict


@dataclass
class ValidateReport:
    sandbox: str
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    jvm_starts: int = 0
    seconds: float = 0.0

    @property
    def failed(self) -> list[str]:
        return [name for name, verdict in self.verdicts.items() if not verdict.passed]


def validate(
    project: Project,
    layer: str = "all",
    names: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
    progress: Progress | None = None,
) -> ValidateReport:
    # Code on disk may well be an agent's: the same sandbox rule as for a model's reply.
    with EngineSession(project, environ, progress, asks_model=False) as session:
        return _validate(session, layer, names)


def _validate(session: EngineSession, layer: str, names: Sequence[str]) -> ValidateReport:
    project, settings, notify, tables = session.project, session.settings, session.notify, session.tables
    report = ValidateReport(session.sandbox_note)
    candidates = []
    for spec in select_tables(tables, layer, names):
        module_rel = spec.module_path(project.package)
        state = module_state(project.root / module_rel)
        if state is not ModuleState.FILLED:
            why = {
                ModuleState.MISSING: f"{module_rel} does not exist: run `scaffold add` or `scaffold fill`",
                ModuleState.STUB: f"{module_rel} is still a stub: run `scaffold fill {spec.layer} --table {spec.name}`",
                ModuleState.BROKEN: f"{module_rel} does not parse",
            }[state]
            report.verdicts[spec.name] = Verdict(False, [Problem(ProblemKind.CONTRACT, why)])
            continue
        files = {module_rel: (project.root / module_rel).read_text(encoding="utf-8")}
        for rel in (spec.test_path(), spec.scaffold_test_path()):
            if (project.root / rel).is_file():
                files[rel] = (project.root / rel).read_text(encoding="utf-8")
        problems = _static(project, tables, spec, files)
        if problems:  # the same bar as a reply: outside the safe subset, nothing of it runs
            report.verdicts[spec.name] = Verdict(False, problems)
            continue
        candidates.append(Candidate(spec, files, [], settings.mutants))
    if candidates:
        for candidate in candidates:
            notify(candidate.spec.name, "in the round: tests twice, probes, mutants")
        result = session.judge(candidates)
        report.verdicts.update(result.verdicts)
        report.jvm_starts, report.seconds = session.jvm_starts, result.seconds
        if session.isolation_note:
            report.sandbox = f"{report.sandbox}; {session.isolation_note}"
    for name, verdict in report.verdicts.items():
        if not any(c.spec.name == name for c in candidates):  # the round said so for the others
            notify(name, "proven" if verdict.passed else "not proven")
    return report


def _static(project: Project, tables: TablesFile, spec: TableSpec, files: dict[str, str]) -> list[Problem]:
    """Syntax, the module's contract and the safe subset: the checks a reply gets before it runs."""
    problems: list[Problem] = []
    module_rel = spec.module_path(project.package)
    for rel, text in files.items():
        tree, syntax = checks.parse(rel, text)
        problems += syntax
        if tree is None:
            continue
        is_test = rel != module_rel
        if not is_test:
            problems += checks.check_module(spec, rel, tree)
        context = safe_subset.context_for(spec, tables, project.package, is_test, project.settings.allowed_imports)
        problems += checks.check_policy(rel, tree, context)
    return problems
