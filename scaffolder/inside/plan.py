"""The contract between scaffold and its sandboxed round: the plan in, the events out.

The plan is a JSON file the round reads before any model-written code runs. Events come back as
JSON lines on a pipe the parent reads while the round runs, so a round that hangs or is killed
still leaves a record of which table's test was running.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

PLAN_FILE = "plan.json"
PLAN_VAR = "SCAFFOLD_ROUND_PLAN"  # where the round finds the plan
MAX_MESSAGE = 1500


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TablePlan(_Model):
    name: str
    module: str = Field(description="dotted module name of the table's transformation")
    files: list[str] = Field(description="absolute paths of the candidate's own files (module and generated tests)")
    tests: list[str] = Field(description="absolute paths of every test file that runs for the table")
    generated: list[str] = Field(description="the test files the model wrote (they must run, not skip)")
    mutants: bool = True
    coverage: bool = Field(default=False, description="measure line and branch coverage of the module, per test")
    mutate_passing: bool = Field(
        default=False, description="run the mutants against the tests that passed even when others failed"
    )


class RoundPlan(_Model):
    version: Literal[1] = 1
    root: str
    package: str
    tables: list[TablePlan]
    test_timeout: float
    repeat: int = Field(default=2, ge=1)
    channel_fd: int
    writable: list[str] = Field(description="roots where writes are expected: the shadow copy, scratch, HOME")
    credentials: list[str] = Field(description="files and folders no candidate may read")
    private_tmp: bool = Field(
        default=False, description="/tmp is the sandbox's own: anything new in it was written by the code under test"
    )


class Imported(_Model):
    event: Literal["import"] = "import"
    table: str
    file: str


class Started(_Model):
    event: Literal["start"] = "start"
    table: str
    test: str
    phase: Literal["setup", "call"]
    mutant: str = ""


class Result(_Model):
    event: Literal["result"] = "result"
    table: str
    file: str
    test: str
    run: int
    outcome: Literal["passed", "failed", "skipped", "xfailed", "timeout"]
    message: str = ""


class CollectError(_Model):
    event: Literal["collect-error"] = "collect-error"
    table: str
    file: str
    message: str


class Policy(_Model):
    event: Literal["policy"] = "policy"
    table: str
    message: str


class Contract(_Model):
    event: Literal["contract"] = "contract"
    table: str
    message: str


class MutantOutcome(_Model):
    name: str
    status: Literal["killed", "survived", "equivalent", "not-applicable"]
    advice: str = ""
    killed_by: str = ""


class Mutants(_Model):
    event: Literal["mutants"] = "mutants"
    table: str
    outcomes: list[MutantOutcome]


class Covered(_Model):
    """What one test executed in the table's module (its first run); test "" is the import."""

    event: Literal["covered"] = "covered"
    table: str
    test: str
    lines: list[int]
    arcs: list[tuple[int, int]]


class Measurable(_Model):
    """What there is to cover in the table's module: its statements and its branch arcs."""

    event: Literal["measurable"] = "measurable"
    table: str
    statements: list[int]
    branches: list[tuple[int, int]]


class Done(_Model):
    event: Literal["done"] = "done"
    test_seconds: float = Field(default=0.0, description="spent running the real tests, every repeat")
    mutant_seconds: float = Field(default=0.0, description="spent on mutants: equivalence checks and test runs")


Event = Annotated[
    Imported | Started | Result | CollectError | Policy | Contract | Mutants | Covered | Measurable | Done,
    Field(discriminator="event"),
]
EVENT = TypeAdapter(Event)
