"""Monte Carlo rules declared next to the code they watch (design research §7).

`@monte_carlo_rule(...)` validates its arguments when the module is imported, not when a
monitor is deployed, so a typo fails the unit tests instead of a release. Rules land in a
process-wide registry. `scaffold monitors` reads the same decorators from the syntax tree (no
import of model code) and the `monitors:` entries of `tables.yml`, validates both with
`validate_rule` below (the one source of truth) and writes Monte Carlo monitors-as-code;
`MonteCarloSync` (`lakeforge.montecarlo`) applies those files with the `montecarlo` CLI.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from lakeforge.errors import RuleError
from lakeforge.montecarlo import MonteCarloError, MonteCarloSync

__all__ = [
    "RULE_TYPES",
    "MonitorRule",
    "MonteCarloError",
    "MonteCarloSync",
    "clear_registry",
    "monte_carlo_rule",
    "registered_rules",
    "timed",
    "validate_rule",
]
log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])
Severity = Literal["low", "medium", "high", "critical"]


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    severity: Severity = "medium"
    table: str | None = Field(default=None, description="layer.table or a full name; default: the module's table")
    description: str | None = None
    module: str = ""
    function: str = ""


class FreshnessRule(_Rule):
    rule_type: Literal["freshness"]
    threshold_hours: float = Field(gt=0, le=24 * 365)
    timestamp_field: str | None = Field(
        default=None,
        min_length=1,
        description="the column whose latest value says when data last arrived (bronze: _ingested_at by default)",
    )


class VolumeRule(_Rule):
    rule_type: Literal["volume"]
    threshold_change_percent: float | None = Field(default=None, gt=0, le=1000)
    min_rows: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _one_threshold(self) -> VolumeRule:
        if self.threshold_change_percent is None and self.min_rows is None:
            raise ValueError("volume rules need threshold_change_percent or min_rows")
        return self


class FieldMetricRule(_Rule):
    rule_type: Literal["field_metric"]
    field: str = Field(min_length=1)
    metric: Literal["null_rate", "unique_rate", "min", "max", "mean", "row_count_distinct", "empty_string_rate"]
    min_value: float | None = None
    max_value: float | None = None

    @model_validator(mode="after")
    def _bounds(self) -> FieldMetricRule:
        if self.min_value is None and self.max_value is None:
            raise ValueError("field_metric rules need min_value or max_value")
        if self.min_value is not None and self.max_value is not None and self.min_value > self.max_value:
            raise ValueError(f"min_value {self.min_value} is above max_value {self.max_value}")
        return self


class CustomSqlRule(_Rule):
    rule_type: Literal["custom_sql"]
    sql: str = Field(min_length=1)
    comparison: Literal["gt", "gte", "lt", "lte", "eq", "ne"] = "gt"
    threshold: float = 0

    @model_validator(mode="after")
    def _is_select(self) -> CustomSqlRule:
        if not self.sql.lstrip().lower().startswith(("select", "with")):
            raise ValueError("custom_sql rules take one SELECT statement returning a number")
        return self


MonitorRule = Annotated[FreshnessRule | VolumeRule | FieldMetricRule | CustomSqlRule, Field(discriminator="rule_type")]
RULE_TYPES = ("freshness", "volume", "field_metric", "custom_sql")
RULE_MODELS: dict[str, type[_Rule]] = {
    "freshness": FreshnessRule,
    "volume": VolumeRule,
    "field_metric": FieldMetricRule,
    "custom_sql": CustomSqlRule,
}
_ADAPTER: TypeAdapter[Any] = TypeAdapter(MonitorRule)
_REGISTRY: list[Any] = []
# Set by the decorator or by `scaffold monitors`, never by the person declaring the rule.
_PROVENANCE = ("module", "function")


def _arguments(rule_type: str) -> list[str]:
    """The arguments a rule type takes, its own first, then the shared ones."""
    own = [n for n in RULE_MODELS[rule_type].model_fields if n not in _Rule.model_fields and n != "rule_type"]
    shared = [n for n in _Rule.model_fields if n not in _PROVENANCE]
    return own + shared


def _fix(rule_type: str, key: str, error: Any) -> str:
    """What to do about one pydantic error, in words a person declaring a rule understands."""
    kind = error["type"]
    if kind == "missing":
        return f"add {key}=... to the rule"
    if kind == "extra_forbidden":
        return f"remove it or check its spelling; {rule_type} rules take {', '.join(_arguments(rule_type))}"
    return f"fix {key}"


def validate_rule(rule_type: Any, arguments: dict[str, Any], where: str, module: str = "", function: str = "") -> Any:
    """The rule `monte_carlo_rule(rule_type, **arguments)` declares, or a one-line RuleError.

    `where` names the declaration in the message (the function, or a file and line); the message
    names the argument, what is wrong with it and the fix. The decorator and `scaffold monitors`
    (which reads decorators from the syntax tree and `tables.yml`'s `monitors:`) both call this.
    """
    if rule_type not in RULE_TYPES:
        raise RuleError(
            f"monte_carlo_rule{' on ' + where if where else ''}: rule_type {rule_type!r} is unknown; "
            f"use one of {', '.join(RULE_TYPES)}"
        )
    given = [key for key in _PROVENANCE if key in arguments]
    if given:
        raise RuleError(f"monte_carlo_rule on {where}: {given[0]}: set by Lakeforge, not by the rule; remove it")
    try:
        return _ADAPTER.validate_python({"rule_type": rule_type, **arguments, "module": module, "function": function})
    except ValidationError as exc:
        problems = exc.errors()
        # A misspelt argument is both unknown and missing: name the spelling, the likelier fix.
        first = next((e for e in problems if e["type"] == "extra_forbidden"), problems[0])
        key = ".".join(str(p) for p in first["loc"][1:]) or rule_type
        message = str(first["msg"]).removeprefix("Value error, ")
        if key == rule_type:  # a check across arguments: its message says what is needed
            raise RuleError(f"monte_carlo_rule on {where}: {message}") from None
        got = f" (got {first['input']!r})" if first["type"] != "missing" else ""
        raise RuleError(f"monte_carlo_rule on {where}: {key}: {message}{got}; {_fix(rule_type, key, first)}") from None


def monte_carlo_rule(rule_type: str, **kwargs: Any) -> Callable[[F], F]:
    """Declare a Monte Carlo rule for the table the decorated function produces.

    Keep the arguments literal values (numbers, strings): `scaffold monitors` reads them from the
    syntax tree without importing the module.
    """
    if rule_type not in RULE_TYPES:
        raise RuleError(f"monte_carlo_rule: rule_type {rule_type!r} is unknown; use one of {', '.join(RULE_TYPES)}")

    def decorate(func: F) -> F:
        where = f"{func.__module__}.{func.__qualname__}"
        rule = validate_rule(rule_type, kwargs, where, module=func.__module__, function=func.__qualname__)
        _REGISTRY.append(rule)
        func.__dict__.setdefault("__monte_carlo_rules__", []).append(rule)
        return func

    return decorate


def registered_rules() -> list[Any]:
    """Every rule declared so far in this process, in declaration order."""
    return list(_REGISTRY)


def clear_registry() -> None:
    _REGISTRY.clear()


@contextmanager
def timed(step: str, **fields: Any) -> Iterator[None]:
    """Log how long a pipeline step took, with its fields, as one structured line."""
    start = time.perf_counter()
    try:
        yield
    finally:
        extra = " ".join(f"{k}={v}" for k, v in fields.items())
        log.info("step=%s seconds=%.3f %s", step, time.perf_counter() - start, extra)
