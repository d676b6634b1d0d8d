"""Monte Carlo rules declared next to the code they watch (design research §7).

`@monte_carlo_rule(...)` validates its arguments when the module is imported, not when a
monitor is deployed, so a typo fails the unit tests instead of a release. Rules land in a
process-wide registry that `scaffold monitors` exports as Monte Carlo monitors-as-code.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from lakeforge.errors import RuleError

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
_ADAPTER: TypeAdapter[Any] = TypeAdapter(MonitorRule)
_REGISTRY: list[Any] = []


def monte_carlo_rule(rule_type: str, **kwargs: Any) -> Callable[[F], F]:
    """Declare a Monte Carlo rule for the table the decorated function produces."""
    if rule_type not in RULE_TYPES:
        raise RuleError(f"monte_carlo_rule: rule_type {rule_type!r} is unknown; use one of {', '.join(RULE_TYPES)}")

    def decorate(func: F) -> F:
        where = f"{func.__module__}.{func.__qualname__}"
        try:
            rule = _ADAPTER.validate_python(
                {"rule_type": rule_type, **kwargs, "module": func.__module__, "function": func.__qualname__}
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            key = ".".join(str(p) for p in first["loc"][1:]) or rule_type
            raise RuleError(
                f"monte_carlo_rule on {where}: {key}: {first['msg']} (got {first.get('input')!r})"
            ) from None
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
