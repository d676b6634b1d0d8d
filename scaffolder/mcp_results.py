"""What each `scaffold serve` tool returns: pydantic models, so every tool publishes an output
schema that names its fields (an agent plans with it before calling) and the client gets the
same data as `structuredContent`.

The engines keep their own types; the `*_result` functions here render an engine's report as
the published model, once, at the edge. Problems become the lines the CLI prints, enums their
values, paths repo-relative strings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, TypeVar

from pydantic import BaseModel, Field

from scaffolder.doctor import Edit, Finding
from scaffolder.profiling.model import TableProfile

if TYPE_CHECKING:
    from scaffolder.add import AddResult as AddReport
    from scaffolder.doctor import DoctorReport
    from scaffolder.fill import FillReport, TableOutcome
    from scaffolder.judge import MutationScore, Verdict
    from scaffolder.profile import ProfileResult as ProfileReport
    from scaffolder.testagent import TestAgentReport
    from scaffolder.validate import ValidateReport

ModuleStateName = Literal["missing", "stub", "filled", "broken"]
FillStatus = Literal["pending", "filled", "would-write", "skipped", "failed", "refused"]

M = TypeVar("M", bound=BaseModel)


def published(model: type[M], report: object, **values: object) -> M:
    """`model` from an engine's report: each field that `values` does not give is the report's
    attribute of the same name, so a field shared by the two is named once (in the model)."""
    taken = {name: getattr(report, name) for name in model.model_fields if name not in values}
    return model.model_validate({**taken, **values})


# list_tables ------------------------------------------------------------------------------------


class TableState(BaseModel):
    name: str
    layer: str
    state: ModuleStateName = Field(
        description="missing (no module), stub (to fill), filled, or broken (the module does not parse)"
    )
    module: str = Field(description="repo-relative path of the table's module")
    tests: str = Field(description="repo-relative path of its unit tests")
    description: str


class TableList(BaseModel):
    tables: list[TableState] = Field(description="every table of tables.yml, in file order")


# add --------------------------------------------------------------------------------------------


class Added(BaseModel):
    table: str
    layer: str
    created: list[str] = Field(description="repo-relative files written: the stub module and its test stub")
    profile: TableProfile | None = Field(
        default=None, description="a bronze table added without columns: what profiling its landed files found"
    )
    profile_path: str | None = Field(default=None, description="where that profile was saved")
    next: str = Field(description="the tool call that fills the new table")


def added_result(result: AddReport) -> Added:
    spec = result.spec
    return Added(
        table=spec.name,
        layer=spec.layer,
        created=list(result.created),
        profile=result.profile,
        profile_path=result.profile_path,
        next=f"fill_layer(layer={spec.layer!r}, tables=[{spec.name!r}])",
    )


# fill_layer -------------------------------------------------------------------------------------


class Score(BaseModel):
    killed: int
    required: int
    equivalent: int = Field(description="mutants no test input can tell from the module")


class FilledTable(BaseModel):
    name: str
    layer: str
    status: FillStatus = Field(
        description="filled (kept and written), would-write (dry run: passed the static checks), skipped "
        "(already filled), failed (the stub stays; see problems), refused (a person's edit or a broken module)"
    )
    attempts: int
    kept_at: int | None = Field(description="the attempt whose reply was kept")
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    problems: list[str] = Field(description="why the table was not kept, one line each")
    note: str
    diff: str = Field(description="unified diff of what was (or, in a dry run, would be) written")
    mutation: str = Field(description="the kept tests' mutation score, e.g. '9/9 mutants killed (...)'")
    mutation_score: Score | None = Field(default=None, description="the same score as numbers")


class Filled(BaseModel):
    provider: str
    model: str
    announcement: str = Field(description="which provider was picked, and why")
    dry_run: bool
    sandbox: str = Field(description="the sandbox the code ran in, or why none")
    failed: list[str] = Field(description="tables that failed or were refused")
    tables: list[FilledTable]
    rounds: int = Field(description="validation rounds run")
    jvm_starts: int
    audit_log: str | None = Field(description="repo-relative path of this run's audit log")


def filled_table(outcome: TableOutcome) -> FilledTable:
    return published(
        FilledTable,
        outcome,
        status=outcome.status.value,
        problems=outcome.errors,
        mutation=str(outcome.mutation or ""),
        mutation_score=score(outcome.mutation),
    )


def filled_result(report: FillReport, dry_run: bool, audit_log: str | None) -> Filled:
    return published(
        Filled,
        report,
        dry_run=dry_run,
        failed=[o.name for o in report.failed],
        tables=[filled_table(o) for o in report.outcomes],
        audit_log=audit_log,
    )


# validate ---------------------------------------------------------------------------------------


class Mutant(BaseModel):
    name: str
    status: Literal["killed", "survived", "equivalent"]
    advice: str = Field(description="for a survivor: the test that would kill it")
    killed_by: str


class TableVerdict(BaseModel):
    passed: bool
    problems: list[str] = Field(description="why the table is not proven, one line each")
    mutation: str | None = Field(description="the mutation score as the CLI prints it")
    mutation_score: Score | None
    mutants: list[Mutant]
    tests: list[str] = Field(description="the tests that ran, as pytest names them")


class Validated(BaseModel):
    passed: bool = Field(description="every table proven")
    failed: list[str]
    tables: dict[str, TableVerdict] = Field(description="table name -> its verdict")
    sandbox: str
    jvm_starts: int
    seconds: float


def score(mutation: MutationScore | None) -> Score | None:
    if mutation is None:
        return None
    return Score(killed=mutation.killed, required=mutation.required, equivalent=mutation.equivalent)


def table_verdict(verdict: Verdict) -> TableVerdict:
    return TableVerdict(
        passed=verdict.passed,
        problems=[str(p) for p in verdict.problems],
        mutation=str(verdict.mutation) if verdict.mutation else None,
        mutation_score=score(verdict.mutation),
        mutants=[Mutant(name=m.name, status=m.status, advice=m.advice, killed_by=m.killed_by) for m in verdict.mutants],
        tests=list(verdict.tests),
    )


def validated_result(report: ValidateReport) -> Validated:
    return Validated(
        passed=not report.failed,
        failed=report.failed,
        tables={name: table_verdict(verdict) for name, verdict in report.verdicts.items()},
        sandbox=report.sandbox,
        jvm_starts=report.jvm_starts,
        seconds=round(report.seconds, 1),
    )


# generate_tests ---------------------------------------------------------------------------------


class MoreTests(BaseModel):
    table: str
    provider: str
    model: str
    announcement: str
    sandbox: str
    test_file: str = Field(description="repo-relative test file the kept tests were merged into")
    coverage_before: float = Field(description="line+branch coverage before, percent")
    coverage_after: float
    mutation_before: str = Field(description="mutation score before, or 'no mutants'")
    mutation_after: str
    kept: list[str] = Field(description="the new tests kept")
    rejected: dict[str, str] = Field(description="test -> why it was not kept")
    problems: list[str] = Field(description="what stopped a round (the reply's faults)")
    rounds: int
    jvm_starts: int


def more_tests_result(report: TestAgentReport) -> MoreTests:
    return published(
        MoreTests,
        report,
        mutation_before=str(report.mutation_before or "no mutants"),
        mutation_after=str(report.mutation_after or "no mutants"),
        problems=[str(p) for p in report.problems],
    )


# profile ----------------------------------------------------------------------------------------


class Profiled(BaseModel):
    table: str
    profile: TableProfile
    profile_path: str = Field(description="where the profile was saved (fill's prompt reads it)")
    diff: str = Field(description="unified diff of tables.yml; empty when it already says this")
    applied: bool = Field(description="the diff was written to tables.yml")
    notes: list[str]
    spark_jobs: int | None
    proposed: dict[str, list[str]] = Field(description="keys / not_null the data proposes (in the diff)")


def profiled_result(result: ProfileReport) -> Profiled:
    return published(Profiled, result)


# doctor -----------------------------------------------------------------------------------------


class DoctorFinding(Finding):
    problem: bool = Field(description="false for advice (a newer template version)")


class Diagnosis(BaseModel):
    clean: bool = Field(description="nothing is a problem")
    problems: int = Field(description="how many findings are problems")
    findings: list[DoctorFinding]
    edits: list[Edit] = Field(description="the team's edits to template files (information)")
    notes: list[str] = Field(description="checks that could not run, and why")


def diagnosis_result(report: DoctorReport) -> Diagnosis:
    problems = report.problems
    return Diagnosis(
        clean=report.clean,
        problems=len(problems),
        findings=[DoctorFinding(**f.model_dump(), problem=f in problems) for f in report.findings],
        edits=list(report.edits),
        notes=list(report.notes),
    )
