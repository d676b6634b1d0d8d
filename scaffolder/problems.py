"""What can be wrong with a table's generated code, as typed values instead of string prefixes.

Every check, the model call and the validation round report `Problem`s; the fill loop decides
on their kind (a provider failure ends the table, everything else is repair feedback), the CLI
and the repair prompt print them as one line each: `kind: message`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class ProblemKind(str, Enum):
    PROVIDER = "provider"  # the model could not be asked: not worth repeating the prompt
    REPLY = "reply"  # the reply has no usable files
    SYNTAX = "syntax"
    CONTRACT = "contract"  # signature, SCHEMA, or the DataFrame transform returned
    POLICY = "policy"  # the lint policy, or what the sandbox's detector saw the code try
    LINT = "ruff"
    TESTS = "tests"  # the tests failed, were flaky, hung, skipped or did not run
    MUTANTS = "mutants"  # the tests pass on a wrong transform

    @property
    def fatal(self) -> bool:
        """A repair prompt cannot fix it."""
        return self is ProblemKind.PROVIDER


@dataclass(frozen=True)
class Problem:
    kind: ProblemKind
    message: str

    def __str__(self) -> str:
        return f"{self.kind.value}: {self.message}"
