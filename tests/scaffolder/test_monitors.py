"""`scaffold monitors`: Monte Carlo monitors-as-code from @monte_carlo_rule and tables.yml.

The files are checked against a schema kept here and written from Monte Carlo's documentation,
not against scaffold's own models: docs.getmontecarlo.com "Monitors as Code" (montecarlo.yml:
version 1, namespace, default_resource, include/exclude patterns), "Metric Monitor" (`metric`:
name, description, data_source.table as database:schema.table, alert_conditions of metric /
operator / threshold_value / fields, schedule), "Custom SQL Monitor" (`custom_sql`: sql returning
one number, exactly one alert condition: type threshold or change with baseline_agg_function,
baseline_interval_minutes and is_threshold_relative; operators EQ NEQ GT GTE LT LTE ...), and the
deprecation notices (field_health blocked, freshness and volume rules deprecated: never written).
Repos are real copier copies of the template with monte_carlo=true.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Literal

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

import pytest
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from lakeforge import RuleError, monte_carlo_rule
from lakeforge.observability import clear_registry
from scaffolder.errors import ScaffoldError
from scaffolder.monitors import export_monitors
from scaffolder.project import load_project

from ..template.conftest import copy_project
from .conftest import bronze_table, scaffold, write_tables
from .test_cli_imports import loaded_after

ENVS = ("dev", "lab", "prod")

# --- Monte Carlo's documented format, as the tests read it ----------------------------------


class Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DocProject(Doc):
    version: Literal[1]
    default_resource: str | None = None
    default_domain: str | None = None
    namespace: str | None = None
    include_file_patterns: list[str] | None = None
    exclude_file_patterns: list[str] | None = None


class DocSchedule(Doc):
    type: Literal["fixed", "dynamic", "loose"]
    interval_minutes: int | None = Field(default=None, gt=0)
    start_time: str | None = None


AUTO_ONLY = {"ROW_COUNT_CHANGE", "TIME_SINCE_LAST_ROW_COUNT_CHANGE", "RELATIVE_ROW_COUNT"}
TABLE_METRICS = AUTO_ONLY
FIELD_METRICS = {
    "NULL_COUNT",
    "NULL_RATE",
    "UNIQUE_COUNT",
    "UNIQUE_RATE",
    "DUPLICATE_COUNT",
    "EMPTY_STRING_COUNT",
    "EMPTY_STRING_RATE",
    "NUMERIC_MEAN",
    "NUMERIC_MEDIAN",
    "NUMERIC_MIN",
    "NUMERIC_MAX",
    "NUMERIC_STDDEV",
    "SUM",
    "ZERO_COUNT",
    "ZERO_RATE",
    "NEGATIVE_COUNT",
    "NEGATIVE_RATE",
}


class DocMetricCondition(Doc):
    metric: str
    operator: Literal["AUTO", "AUTO_HIGH", "AUTO_LOW", "GT", "GTE", "LT", "LTE", "EQ", "NEQ"]
    threshold_value: float | None = None
    fields: list[str] | None = None

    @model_validator(mode="after")
    def _documented(self) -> DocMetricCondition:
        assert self.metric in TABLE_METRICS | FIELD_METRICS, self.metric
        if self.metric in AUTO_ONLY:
            assert self.operator == "AUTO" and self.threshold_value is None and not self.fields
        else:
            assert self.fields, "field-level metrics name their fields"
        if not self.operator.startswith("AUTO"):
            assert self.threshold_value is not None, "explicit operators need threshold_value"
        return self


class DocDataSource(Doc):
    table: str | None = Field(default=None, pattern=r"^[a-z0-9_]+:[a-z0-9_]+\.[a-z0-9_]+$")
    sql: str | None = None


class DocMonitor(Doc):
    name: str = Field(min_length=1)
    description: str = Field(min_length=1, max_length=512)
    warehouse: str | None = None
    schedule: DocSchedule | None = None
    priority: Literal["P1", "P2", "P3", "P4", "P5"] | None = None
    audiences: list[str] | None = None
    domains: list[str] | None = None
    notes: str | None = None


class DocMetricMonitor(DocMonitor):
    data_source: DocDataSource
    alert_conditions: list[DocMetricCondition] = Field(min_length=1)
    aggregate_time_field: str | None = None
    aggregate_by: Literal["hour", "day", "week", "month"] | None = None
    sensitivity: Literal["low", "medium", "high"] | None = None


class DocSqlCondition(Doc):
    type: Literal["threshold", "change"] = "threshold"
    operator: Literal["EQ", "NEQ", "GT", "GTE", "LT", "LTE", "OUTSIDE_RANGE", "INSIDE_RANGE"]
    threshold_value: float
    baseline_agg_function: Literal["AVG", "MIN", "MAX"] | None = None
    baseline_interval_minutes: int | None = Field(default=None, ge=0, le=129600)
    is_threshold_relative: bool | None = None

    @model_validator(mode="after")
    def _change_fields(self) -> DocSqlCondition:
        change = (self.baseline_agg_function, self.baseline_interval_minutes, self.is_threshold_relative)
        if self.type == "change":
            assert all(v is not None for v in change), "change thresholds need their baseline fields"
        else:
            assert all(v is None for v in change)
        return self


class DocCustomSqlMonitor(DocMonitor):
    sql: str
    alert_conditions: list[DocSqlCondition] = Field(min_length=1, max_length=1)
    schedule: DocSchedule  # required for custom SQL

    @model_validator(mode="after")
    def _one_select(self) -> DocCustomSqlMonitor:
        assert self.sql.lstrip().upper().startswith(("SELECT", "WITH")) and ";" not in self.sql
        return self


class DocValidationValue(Doc):
    field: str


class DocPredicate(Doc):
    name: str
    negated: bool | None = None


class DocValidationCondition(Doc):
    """ "Validation Monitor": a predicate tree that matches the INVALID rows."""

    type: Literal["GROUP", "UNARY", "BINARY", "SQL"]
    operator: Literal["AND", "OR"] | None = None
    conditions: list[DocValidationCondition] | None = None
    predicate: DocPredicate | None = None
    value: list[DocValidationValue] | None = None
    left: list[dict[str, Any]] | None = None
    right: list[dict[str, Any]] | None = None
    sql: str | None = None

    @model_validator(mode="after")
    def _shape(self) -> DocValidationCondition:
        if self.type == "GROUP":
            assert self.operator and self.conditions, "a GROUP combines conditions with AND or OR"
        if self.type == "UNARY":
            assert self.predicate and self.value and len(self.value) == 1
        if self.type == "SQL":
            assert self.sql and not self.sql.lstrip().upper().startswith("SELECT"), "a boolean expression, no query"
        return self


class DocValidationMonitor(DocMonitor):
    data_source: DocDataSource
    alert_condition: DocValidationCondition
    schedule: DocSchedule  # required for validation monitors

    @model_validator(mode="after")
    def _group_on_top(self) -> DocValidationMonitor:
        assert self.alert_condition.type == "GROUP", "the top of alert_condition is a GROUP"
        return self


class DocMonitors(Doc):
    """The documented, current monitor types (deprecated field_health/freshness/volume are absent)."""

    metric: list[DocMetricMonitor] | None = None
    custom_sql: list[DocCustomSqlMonitor] | None = None
    validation: list[DocValidationMonitor] | None = None
    metric_comparison: list[dict[str, Any]] | None = None
    table: list[dict[str, Any]] | None = None


class DocMonitorsFile(Doc):
    montecarlo: DocMonitors


# --- repos ----------------------------------------------------------------------------------

CUSTOMERS_MODULE = '''"""customers (silver)."""

from __future__ import annotations

import pyspark.sql.functions as F  # never imported by scaffold monitors
from lakeforge.observability import monte_carlo_rule as rule

raise RuntimeError("scaffold monitors must not import model code")


@rule("freshness", threshold_hours=6, severity="critical", timestamp_field="updated_at")
@rule(rule_type="field_metric", field="email", metric="null_rate", max_value=0.05, min_value=0)
@rule(rule_type="custom_sql", sql="SELECT count(*) FROM {table} WHERE customer_id < 0", comparison="gt")
def transform(raw_customers):
    return raw_customers.select(F.col("customer_id"))
'''

SILVER_COLUMNS = [
    {"name": "customer_id", "type": "int", "nullable": False},
    {"name": "email", "type": "string"},
    {"name": "updated_at", "type": "timestamp"},
]


def silver(name: str, monitors: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": name,
        "layer": "silver",
        "description": f"Test table {name}.",
        "inputs": ["raw_customers"],
        "schema": SILVER_COLUMNS,
        "monitors": monitors,
    }


@pytest.fixture(scope="module")
def pristine(template_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copier copy (package `shop`, monte_carlo=true, no examples); each test works on a copy of it."""
    dest = tmp_path_factory.mktemp("mc") / "shop"
    return copy_project(template_repo, dest, project_name="shop", include_examples=False, monte_carlo=True)


@pytest.fixture
def project(pristine: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "shop"
    shutil.copytree(pristine, dest, symlinks=True)
    shutil.rmtree(dest / "monitors")  # the copy's own export (see the test below); these tests write their own
    raw = {**bronze_table("raw_customers"), "monitors": [{"rule_type": "freshness", "threshold_hours": 24}]}
    raw_orders = {
        **bronze_table("raw_orders"),
        "monitors": [{"rule_type": "volume", "threshold_change_percent": 30, "min_rows": 10, "severity": "high"}],
    }
    # customers has code with its own rules: its tables.yml monitors are not used.
    customers = silver("customers", [{"rule_type": "volume", "min_rows": 1}])
    # contacts has no code yet: its rules come from tables.yml.
    contacts = silver(
        "contacts", [{"rule_type": "field_metric", "field": "email", "metric": "unique_rate", "min_value": 0.9}]
    )
    contacts["monitors"].append({"rule_type": "freshness", "threshold_hours": 48})
    write_tables(dest, [raw, raw_orders, customers, contacts])
    (dest / "src/shop/transformations/silver/customers.py").write_text(CUSTOMERS_MODULE)
    return dest


def read(project: Path, rel: str) -> Any:
    return yaml.safe_load((project / rel).read_text())


def by_name(monitors: list[dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    return {m["name"]: m for m in monitors or []}


# --- the tests ----------------------------------------------------------------------------


def test_writes_the_documented_format_with_each_environments_table_names(project: Path) -> None:
    result = scaffold(project, "monitors")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "monitors of silver.customers are not used" in result.stdout  # code wins over tables.yml
    assert "has no timestamp_field" in result.stdout  # contacts' freshness: anomaly detection, said so
    files = sorted(p.relative_to(project).as_posix() for p in (project / "monitors").rglob("*") if p.is_file())
    assert files == ["monitors/.gitignore"] + [
        f"monitors/{e}/{f}" for e in ENVS for f in ("monitors.yaml", "montecarlo.yml")
    ]

    for env in ENVS:
        config = DocProject.model_validate(read(project, f"monitors/{env}/montecarlo.yml"))
        assert (config.version, config.namespace, config.default_resource) == (1, f"shop_{env}", "databricks")
        text = (project / f"monitors/{env}/monitors.yaml").read_text()
        assert text.startswith("# yaml-language-server: $schema=https://clidocs.getmontecarlo.com/mac/schema.json\n")
        data = yaml.safe_load(text)
        doc = DocMonitorsFile.model_validate(data).montecarlo
        assert doc.metric is not None and doc.custom_sql is not None
        metric, sql = by_name(data["montecarlo"]["metric"]), by_name(data["montecarlo"]["custom_sql"])
        assert sorted(metric) == [
            "silver_contacts_email_unique_rate",
            "silver_contacts_freshness",
            "silver_customers_email_null_rate",
        ]
        assert sorted(sql) == [
            "bronze_raw_customers_freshness",
            "bronze_raw_orders_volume_drop",
            "bronze_raw_orders_volume_growth",
            "bronze_raw_orders_volume_min_rows",
            "silver_customers_custom_sql_" + sql_suffix(sql),
            "silver_customers_freshness",
        ]
        catalog = f"{env}_analytics"
        # metric monitors watch database:schema.table; custom SQL reads catalog.schema.table
        assert metric["silver_customers_email_null_rate"]["data_source"] == {
            "table": f"{catalog}:shop_silver.customers"
        }
        assert metric["silver_customers_email_null_rate"]["alert_conditions"] == [
            {"metric": "NULL_RATE", "operator": "LT", "threshold_value": 0, "fields": ["email"]},
            {"metric": "NULL_RATE", "operator": "GT", "threshold_value": 0.05, "fields": ["email"]},
        ]
        assert metric["silver_contacts_freshness"]["alert_conditions"] == [
            {"metric": "TIME_SINCE_LAST_ROW_COUNT_CHANGE", "operator": "AUTO"}
        ]
        assert f"FROM {catalog}.shop_bronze.raw_customers" in sql["bronze_raw_customers_freshness"]["sql"]
        assert "MAX(_ingested_at)" in sql["bronze_raw_customers_freshness"]["sql"]  # no time of its own: ingestion
        # the contract of every table: its NOT NULL columns (not the ingestion metadata) as validation monitors
        validation = by_name(data["montecarlo"]["validation"])
        assert sorted(validation) == [
            "bronze_raw_customers_not_null",
            "bronze_raw_orders_not_null",
            "silver_contacts_not_null",
            "silver_customers_not_null",
        ]
        assert validation["silver_customers_not_null"]["alert_condition"] == {
            "type": "GROUP",
            "operator": "OR",
            "conditions": [{"type": "UNARY", "predicate": {"name": "null"}, "value": [{"field": "customer_id"}]}],
        }
        # field metrics aggregate by the table's own time instead of scanning it whole
        assert metric["silver_contacts_email_unique_rate"]["aggregate_time_field"] == "updated_at"
        assert metric["silver_contacts_email_unique_rate"]["aggregate_by"] == "day"
        assert "aggregate_time_field" not in metric["silver_contacts_freshness"]
        assert sql["bronze_raw_customers_freshness"]["alert_conditions"] == [
            {"type": "threshold", "operator": "GT", "threshold_value": 24}
        ]
        assert "MAX(updated_at)" in sql["silver_customers_freshness"]["sql"]
        assert sql["silver_customers_freshness"]["priority"] == "P1"  # severity critical
        assert sql["bronze_raw_orders_volume_min_rows"]["priority"] == "P2"  # severity high
        assert sql["bronze_raw_customers_freshness"]["priority"] == "P3"  # config default_severity medium
        assert sql["bronze_raw_orders_volume_drop"]["alert_conditions"][0]["threshold_value"] == -30
        custom = sql["silver_customers_custom_sql_" + sql_suffix(sql)]
        assert custom["sql"] == f"SELECT count(*) FROM {catalog}.shop_silver.customers WHERE customer_id < 0"
        assert "declared in src/shop/transformations/silver/customers.py, function transform" in custom["description"]
        assert all(m["warehouse"] == "databricks" for m in [*metric.values(), *sql.values()])
        other = {e for e in ENVS if e != env}
        assert not any(f"{o}_analytics" in text for o in other)  # each environment names only its own tables
    assert "target/" in (project / "monitors/.gitignore").read_text()  # the CLI's compile output


def sql_suffix(monitors: dict[str, Any]) -> str:
    (name,) = [n for n in monitors if n.startswith("silver_customers_custom_sql_")]
    return name.removeprefix("silver_customers_custom_sql_")


def test_model_code_is_read_not_imported(project: Path) -> None:
    status, modules = loaded_after(["monitors", "--project", str(project)], project)
    assert status == 0
    assert not [m for m in ("pyspark", "shop", "scaffolder.fill", "openai") if m in modules]


def test_a_fresh_copy_carries_its_monitors_so_its_ci_check_passes(pristine: Path) -> None:
    # copier's task wrote them with scaffold's engine: the generated CI's first run is green.
    assert sorted(p.relative_to(pristine).as_posix() for p in (pristine / "monitors").rglob("*") if p.is_file()) == [
        "monitors/.gitignore"
    ] + [f"monitors/{e}/{f}" for e in ENVS for f in ("monitors.yaml", "montecarlo.yml")]
    check = scaffold(pristine, "monitors", "--check")
    assert check.returncode == 0, check.stdout + check.stderr


def test_check_catches_a_stale_file_and_passes_on_a_fresh_one(project: Path) -> None:
    missing = scaffold(project, "monitors", "--check")
    assert missing.returncode == 1 and not (project / "monitors").exists()  # writes nothing
    assert "monitors/.gitignore is missing" in missing.stderr

    assert scaffold(project, "monitors").returncode == 0
    fresh = scaffold(project, "monitors", "--check")
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert "up to date" in fresh.stdout

    tables = read(project, "tables.yml")
    tables["tables"][0]["monitors"][0]["threshold_hours"] = 12  # raw_customers
    (project / "tables.yml").write_text(yaml.safe_dump(tables, sort_keys=False))
    before = {p: p.read_text() for p in (project / "monitors").rglob("*.y*ml")}
    stale = scaffold(project, "monitors", "--check")
    assert stale.returncode == 1
    assert re.search(
        r"error: monitors/dev/monitors\.yaml is out of date .*\(and 2 more file\(s\)\).*scaffold monitors", stale.stderr
    )
    assert {p: p.read_text() for p in before} == before  # --check wrote nothing

    assert scaffold(project, "monitors").returncode == 0
    (project / "monitors/prod/monitors.yaml").write_text(
        (project / "monitors/prod/monitors.yaml").read_text().replace("threshold_value: 12", "threshold_value: 99")
    )
    edited = scaffold(project, "monitors", "--check")
    assert edited.returncode == 1 and "monitors/prod/monitors.yaml is out of date" in edited.stderr


def test_writes_are_deterministic_and_keep_the_resource_a_person_set(project: Path) -> None:
    first = export_monitors(load_project(project))
    assert first.written and not first.unchanged
    texts = {rel: (project / rel).read_text() for rel in first.files}
    second = export_monitors(load_project(project))
    assert not second.written and sorted(second.unchanged) == sorted(texts)

    path = project / "monitors/prod/montecarlo.yml"
    path.write_text(path.read_text().replace("default_resource: databricks", "default_resource: prod-workspace"))
    third = export_monitors(load_project(project))
    assert third.written == ["monitors/prod/monitors.yaml"]  # the warehouse of each prod monitor follows
    assert read(project, "monitors/prod/montecarlo.yml")["default_resource"] == "prod-workspace"
    assert {m["warehouse"] for m in read(project, "monitors/prod/monitors.yaml")["montecarlo"]["custom_sql"]} == {
        "prod-workspace"
    }
    assert export_monitors(load_project(project), check=True).stale == []


def test_only_the_environments_asked_for(project: Path) -> None:
    report = export_monitors(load_project(project), ["prod"])
    assert sorted(report.files) == [
        "monitors/.gitignore",
        "monitors/prod/monitors.yaml",
        "monitors/prod/montecarlo.yml",
    ]
    assert not (project / "monitors/dev").exists()
    local = scaffold(project, "monitors", "--env", "local")
    assert local.returncode == 2 and "--env local: local runs on your laptop" in local.stderr
    assert "use one of dev, lab, prod" in local.stderr
    unknown = scaffold(project, "monitors", "--env", "qa")
    assert unknown.returncode == 2 and "no config/qa.yaml" in unknown.stderr


def test_an_environment_turned_off_loses_its_files_so_no_one_applies_them(project: Path) -> None:
    assert scaffold(project, "monitors").returncode == 0
    lab = project / "config/lab.yaml"
    lab.write_text(lab.read_text() + "monte_carlo:\n  enabled: false\n")
    mine = project / "monitors/lab/README.md"
    mine.write_text("notes a person keeps next to the monitors\n")

    check = scaffold(project, "monitors", "--check")
    assert check.returncode == 1
    assert (
        "monitors/lab/montecarlo.yml belongs to an environment that is no longer exported (and 1 more" in check.stderr
    )
    assert (project / "monitors/lab/monitors.yaml").exists()  # --check removes nothing

    # Only --env: the other environments' files are not this run's business.
    assert export_monitors(load_project(project), ["dev"]).removed == []
    export = scaffold(project, "monitors")
    assert export.returncode == 0, export.stderr
    assert "removed monitors/lab/monitors.yaml" in export.stdout
    assert sorted(p.name for p in (project / "monitors/lab").iterdir()) == ["README.md"]  # a person's file stays
    assert scaffold(project, "monitors", "--check").returncode == 0


def test_a_namespace_monte_carlo_cannot_take_is_one_line_naming_the_setting(project: Path) -> None:
    defaults = project / "config/defaults.yaml"
    defaults.write_text(defaults.read_text().replace("  namespace: shop\n", "  namespace: 'retail data'\n"))
    result = scaffold(project, "monitors")
    assert result.returncode == 2
    assert "config monte_carlo.namespace: 'retail data' is not a Monte Carlo namespace" in result.stderr
    assert not (project / "monitors").exists()


def module_with(decorator: str) -> str:
    return f"from lakeforge.observability import monte_carlo_rule\n\nHOURS = 3\n\n\n{decorator}\ndef transform(df):\n    return df\n"


@pytest.mark.parametrize(
    ("decorator", "fragments"),
    [
        (
            '@monte_carlo_rule(rule_type="freshness", threshold_hours=-1)',
            ["line 6 (transform)", "threshold_hours: Input should be greater than 0 (got -1); fix threshold_hours"],
        ),
        (
            '@monte_carlo_rule("freshness", threshhold_hours=2)',
            ["threshhold_hours: Extra inputs are not permitted", "remove it or check its spelling", "threshold_hours"],
        ),
        ('@monte_carlo_rule("volume")', ["line 6 (transform): volume rules need threshold_change_percent or min_rows"]),
        (
            '@monte_carlo_rule("freshness", threshold_hours=HOURS)',
            ["line 6: monte_carlo_rule argument threshold_hours is not a literal (HOURS)", "write the value itself"],
        ),
        (
            '@monte_carlo_rule("field_metric", field="mail", metric="null_rate", max_value=1)',
            ["field 'mail' is not a column"],
        ),
        ('@monte_carlo_rule("latency", hours=1)', ["rule_type 'latency' is unknown; use one of freshness, volume"]),
    ],
)
def test_bad_rules_in_code_are_one_line_naming_module_line_and_argument(
    project: Path, decorator: str, fragments: list[str]
) -> None:
    (project / "src/shop/transformations/silver/customers.py").write_text(module_with(decorator))
    result = scaffold(project, "monitors")
    assert result.returncode == 2, result.stdout + result.stderr
    error = result.stderr.strip()
    assert error.count("\n") == 0 and error.startswith("error: ")
    assert "src/shop/transformations/silver/customers.py" in error
    for fragment in fragments:
        assert fragment in error
    assert not (project / "monitors").exists()


def test_bad_rules_in_tables_yml_name_the_table_and_the_argument(project: Path) -> None:
    tables = read(project, "tables.yml")
    tables["tables"][3]["monitors"] = [{"rule_type": "freshness", "threshold_hours": 0}]  # contacts
    (project / "tables.yml").write_text(yaml.safe_dump(tables, sort_keys=False))
    with pytest.raises(
        RuleError, match=r"tables\.yml table 'contacts' monitors\[0\]: threshold_hours: .*greater than 0"
    ):
        export_monitors(load_project(project))
    tables["tables"][3]["monitors"] = [{"rule_type": "volume", "min_rows": 1, "table": "platinum.x"}]
    (project / "tables.yml").write_text(yaml.safe_dump(tables, sort_keys=False))
    with pytest.raises(ScaffoldError, match=r"table 'platinum\.x' is neither <layer>\.<table>"):
        export_monitors(load_project(project))


def test_bad_rule_arguments_fail_at_decoration_naming_the_argument_and_the_fix() -> None:
    clear_registry()
    with pytest.raises(RuleError) as missing:

        @monte_carlo_rule(rule_type="field_metric", metric="null_rate", max_value=0.1)
        def transform(df):
            return df

    assert "field: Field required; add field=... to the rule" in str(missing.value)
    with pytest.raises(RuleError) as extra:

        @monte_carlo_rule(rule_type="volume", min_rows=1, threshold_pct=5)
        def transform2(df):
            return df

    message = str(extra.value)
    assert "threshold_pct: Extra inputs are not permitted" in message
    assert "volume rules take threshold_change_percent, min_rows, severity, table, description" in message
    with pytest.raises(RuleError, match="module: set by Lakeforge, not by the rule; remove it"):
        monte_carlo_rule(rule_type="freshness", threshold_hours=1, module="x")(lambda df: df)
    clear_registry()


def test_a_repo_without_monte_carlo_gets_one_line_with_the_fix(bare_project: Path) -> None:
    result = scaffold(bare_project, "monitors")
    assert result.returncode == 2
    assert "Monte Carlo is not set up in config/: add `monte_carlo: {namespace: shop}` to config/defaults.yaml" in (
        result.stderr
    )


def test_notify_addresses_become_audiences_only_when_they_are_audience_names(project: Path) -> None:
    defaults = project / "config/defaults.yaml"
    defaults.write_text(defaults.read_text().replace("  notify: []", "  notify:\n    - data-platform\n    - a@b.io"))
    report = export_monitors(load_project(project), ["dev"])
    monitors = read(project, "monitors/dev/monitors.yaml")["montecarlo"]
    assert {tuple(m["audiences"]) for m in monitors["metric"] + monitors["custom_sql"]} == {("data-platform",)}
    assert any("'a@b.io' is an email address" in note for note in report.notes)


def run_as_ci(command: str, repo: Path, bin_dir: Path) -> list[str]:
    """Runs one CI shell line in the repo with a fake `montecarlo` that records its arguments."""
    argv_file = bin_dir / "argv"
    argv_file.unlink(missing_ok=True)
    fake = bin_dir / "montecarlo"
    fake.write_text(f'#!/bin/sh\nfor a in "$@"; do echo "$a"; done > {argv_file}\n')
    fake.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "MCD_DEFAULT_API_ID": "id", "MCD_DEFAULT_API_TOKEN": "token"}
    result = subprocess.run(["bash", "-c", command], cwd=repo, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return argv_file.read_text().splitlines() if argv_file.exists() else []


def test_generated_ci_applies_the_namespace_scaffold_wrote_and_only_with_credentials(
    project: Path, template_repo: Path, tmp_path: Path
) -> None:
    workflows = project / ".github" / "workflows"
    lint = subprocess.run(
        [str(Path(sys.executable).parent / "actionlint"), "-no-color", *map(str, sorted(workflows.glob("*.yml")))],
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    # A team that names its Monte Carlo namespace itself: CI must apply exactly what scaffold wrote.
    defaults = project / "config/defaults.yaml"
    defaults.write_text(defaults.read_text().replace("  namespace: shop\n", "  namespace: retail\n"))
    export_monitors(load_project(project))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()

    ci = yaml.safe_load((workflows / "ci.yml").read_text())
    assert "scaffold monitors --check" in [step.get("run") for step in ci["jobs"]["test"]["steps"]]
    dry = ci["jobs"]["monitors"]
    assert dry["if"] == "github.event_name == 'pull_request'" and dry["needs"] == "test"
    assert dry["env"] == {
        "MCD_DEFAULT_API_ID": "${{ secrets.MCD_DEFAULT_API_ID }}",
        "MCD_DEFAULT_API_TOKEN": "${{ secrets.MCD_DEFAULT_API_TOKEN }}",
    }
    dry_runs = [s for s in dry["steps"] if "montecarlo monitors apply" in s.get("run", "")]
    assert len(dry_runs) == len(ENVS)
    deploy = yaml.safe_load((workflows / "deploy.yml").read_text())
    for env in ENVS:
        step = next(s for s in dry_runs if f"--project-dir monitors/{env} " in s["run"])
        assert "env.MCD_DEFAULT_API_ID != '' && env.MCD_DEFAULT_API_TOKEN != ''" in step["if"]
        argv = run_as_ci(step["run"], project, bin_dir)
        assert argv == [
            "monitors",
            "apply",
            "--project-dir",
            f"monitors/{env}",
            "--namespace",
            f"retail_{env}",
            "--dry-run",
        ]
        job = deploy["jobs"][f"deploy-{env}"]
        assert job["env"]["MCD_DEFAULT_API_TOKEN"] == "${{ secrets.MCD_DEFAULT_API_TOKEN }}"
        apply = job["steps"][-1]
        assert apply["if"].startswith("env.MCD_DEFAULT_API_ID != '' && env.MCD_DEFAULT_API_TOKEN != ''")
        assert run_as_ci(apply["run"], project, bin_dir)[-3:] == ["--namespace", f"retail_{env}", "--auto-yes"]
    dev_group = tomllib.loads((project / "pyproject.toml").read_text())["dependency-groups"]["dev"]
    assert "montecarlodata>=0.177" in dev_group

    gitlab_repo = copy_project(
        template_repo,
        tmp_path / "gl",
        project_name="shop",
        include_examples=False,
        monte_carlo=True,
        ci_provider="gitlab",
    )
    gitlab = yaml.safe_load((gitlab_repo / ".gitlab-ci.yml").read_text())
    assert "scaffold monitors --check" in gitlab["test"]["script"]
    skip, *_ = gitlab["monitors"]["script"]
    assert skip.startswith('if [ -z "$MCD_DEFAULT_API_ID" ] || [ -z "$MCD_DEFAULT_API_TOKEN" ]')
    prod_dry = next(line for line in gitlab["monitors"]["script"] if "monitors/prod " in line)
    assert run_as_ci(prod_dry, gitlab_repo, bin_dir)[-3:] == ["--namespace", "shop_prod", "--dry-run"]
    prod = gitlab["deploy-prod"]["script"]
    assert prod[-3].startswith('if [ -z "$MCD_DEFAULT_API_ID" ]') and prod[-3].endswith("exit 0; fi")
    assert run_as_ci(prod[-1], gitlab_repo, bin_dir)[-3:] == ["--namespace", "shop_prod", "--auto-yes"]

    plain = copy_project(template_repo, tmp_path / "plain", project_name="shop", include_examples=False)
    assert "montecarlo" not in (plain / ".github/workflows/ci.yml").read_text()
    assert "montecarlo" not in (plain / ".github/workflows/deploy.yml").read_text()
    assert "montecarlodata" not in (plain / "pyproject.toml").read_text()


def test_the_contract_becomes_monitors_in_the_documented_format(project: Path) -> None:
    # A bronze table with a time of its own, and a silver table with keys, NOT NULL columns and named checks.
    tables = read(project, "tables.yml")
    raw = tables["tables"][0]  # raw_customers
    raw["schema"].insert(2, {"name": "changed_at", "type": "timestamp"})
    contacts = tables["tables"][3]
    contacts["keys"] = ["customer_id", "email"]
    contacts["not_null"] = ["email"]
    contacts["checks"] = {"email_has_at": "email LIKE '%@%'", "recent": "updated_at >= '2020-01-01'"}
    contacts["on_violation"] = "drop"
    (project / "tables.yml").write_text(yaml.safe_dump(tables, sort_keys=False))

    result = scaffold(project, "monitors")
    assert result.returncode == 0, result.stdout + result.stderr
    data = read(project, "monitors/prod/monitors.yaml")
    doc = DocMonitorsFile.model_validate(data).montecarlo  # Monte Carlo's documented format
    assert doc.validation is not None
    validation = by_name(data["montecarlo"]["validation"])
    sql = by_name(data["montecarlo"]["custom_sql"])
    prod = "prod_analytics.shop_silver.contacts"

    not_null = validation["silver_contacts_not_null"]
    assert not_null["data_source"] == {"table": "prod_analytics:shop_silver.contacts"}
    assert [c["value"] for c in not_null["alert_condition"]["conditions"]] == [
        [{"field": "customer_id"}],
        [{"field": "email"}],
    ]
    assert not_null["schedule"] == {"type": "fixed", "interval_minutes": 1440}
    # a check's condition matches the rows that break it (false or NULL), as production treats them
    assert validation["silver_contacts_check_email_has_at"]["alert_condition"] == {
        "type": "GROUP",
        "operator": "AND",
        "conditions": [{"type": "SQL", "sql": "NOT COALESCE((email LIKE '%@%'), FALSE)"}],
    }
    assert "silver_contacts_check_recent" in validation
    keys = sql["silver_contacts_unique_keys"]
    assert keys["sql"] == (
        f"SELECT COUNT(*) FROM (SELECT `customer_id`, `email` FROM {prod} GROUP BY `customer_id`, `email` "
        "HAVING COUNT(*) > 1)"
    )
    assert keys["alert_conditions"] == [{"type": "threshold", "operator": "GT", "threshold_value": 0}]
    assert all(m["priority"] == "P3" for m in [*validation.values(), keys])  # config default_severity medium
    # bronze freshness measures the data's own time now that it has one, not the pipeline's load time
    freshness = sql["bronze_raw_customers_freshness"]["sql"]
    assert "MAX(changed_at)" in freshness and "_ingested_at" not in freshness
    assert scaffold(project, "monitors", "--check").returncode == 0


def test_a_domain_and_patterns_a_person_sets_survive_export_and_check(project: Path) -> None:
    assert scaffold(project, "monitors").returncode == 0
    path = project / "monitors/prod/montecarlo.yml"
    path.write_text(path.read_text() + "default_domain: retail-analytics\n" + "exclude_file_patterns:\n  - drafts/*\n")
    edited = path.read_text()
    check = scaffold(project, "monitors", "--check")
    assert check.returncode == 0, check.stdout + check.stderr  # a person's setting is not stale

    again = scaffold(project, "monitors")
    assert again.returncode == 0, again.stderr
    config = DocProject.model_validate(read(project, "monitors/prod/montecarlo.yml"))
    assert config.default_domain == "retail-analytics" and config.exclude_file_patterns == ["drafts/*"]
    assert path.read_text() == edited  # nothing rewritten
    assert "default_domain" not in read(project, "monitors/dev/montecarlo.yml")  # per environment
