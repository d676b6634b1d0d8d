"""@monte_carlo_rule validates when applied and records rules for the monitors export."""

import pytest

from lakeforge import RuleError, monte_carlo_rule
from lakeforge.observability import clear_registry, registered_rules


@pytest.fixture(autouse=True)
def empty_registry():
    clear_registry()
    yield
    clear_registry()


def test_rules_are_recorded_with_their_function() -> None:
    @monte_carlo_rule(rule_type="freshness", threshold_hours=24, severity="high")
    @monte_carlo_rule(rule_type="volume", threshold_change_percent=20)
    def transform(df):
        return df

    rules = registered_rules()
    assert [r.rule_type for r in rules] == ["volume", "freshness"]
    assert rules[1].threshold_hours == 24 and rules[1].severity == "high"
    assert rules[0].function.endswith("transform")
    assert transform.__monte_carlo_rules__ == rules


def test_field_metric_and_custom_sql() -> None:
    @monte_carlo_rule(rule_type="field_metric", field="email", metric="null_rate", max_value=0.01)
    @monte_carlo_rule(rule_type="custom_sql", sql="SELECT count(*) FROM t WHERE amount < 0", comparison="gt")
    def transform(df):
        return df

    assert {r.rule_type for r in registered_rules()} == {"field_metric", "custom_sql"}


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"rule_type": "latency"}, "rule_type 'latency' is unknown"),
        ({"rule_type": "freshness"}, "threshold_hours: Field required"),
        ({"rule_type": "freshness", "threshold_hours": -1}, "threshold_hours: Input should be greater than 0"),
        ({"rule_type": "freshness", "threshold_hours": 1, "severity": "urgent"}, "severity"),
        ({"rule_type": "volume"}, "threshold_change_percent or min_rows"),
        ({"rule_type": "field_metric", "field": "x", "metric": "median", "max_value": 1}, "metric"),
        ({"rule_type": "field_metric", "field": "x", "metric": "null_rate"}, "min_value or max_value"),
        ({"rule_type": "field_metric", "field": "x", "metric": "min", "min_value": 5, "max_value": 1}, "above"),
        ({"rule_type": "custom_sql", "sql": "DELETE FROM t"}, "one SELECT"),
        ({"rule_type": "freshness", "threshold_hours": 1, "threshhold": 2}, "threshhold: Extra inputs"),
    ],
)
def test_bad_arguments_are_rejected_when_applied(kwargs: dict, fragment: str) -> None:
    with pytest.raises(RuleError) as err:

        @monte_carlo_rule(**kwargs)
        def transform(df):
            return df

    assert fragment in str(err.value)
    assert registered_rules() == []
