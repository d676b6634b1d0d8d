"""`scaffold monitors`: Monte Carlo monitors-as-code from the rules declared next to the code.

Rules come from `@monte_carlo_rule(...)` decorators, read from each module's syntax tree (the
model code is never imported and Spark never starts: only literal arguments count), and, for
tables whose code declares none yet, from `tables.yml`'s `monitors:`. Both go through
`lakeforge.observability.validate_rule`, the decorator's own pydantic models.

Each deployed environment (every `config/<env>.yaml` but local) gets its own Monte Carlo project,
because `montecarlo monitors apply` syncs a whole namespace (monitors missing from the files are
deleted): applying dev must never touch prod's monitors.

    monitors/.gitignore            the CLI's compile output (target/)
    monitors/<env>/montecarlo.yml  version: 1, namespace: <namespace>_<env>, default_resource
    monitors/<env>/monitors.yaml   montecarlo: {metric: [...], custom_sql: [...]}

The format follows Monte Carlo's monitors-as-code documentation (docs.getmontecarlo.com: "Monitors
as Code", "Metric Monitor", "Custom SQL Monitor"). The `freshness` and `volume` monitor types of
that format are deprecated (replacement: metric or table monitors), so the rules map to current
types: a freshness rule is a custom SQL monitor on a timestamp column (hours since its latest
value), or, with no timestamp column, a metric monitor on TIME_SINCE_LAST_ROW_COUNT_CHANGE
(anomaly detection: Monte Carlo cannot take an explicit threshold there); a volume rule is a
custom SQL row count against `min_rows` and/or a relative change against its 7-day average; a
field_metric rule is a metric monitor; a custom_sql rule is a custom SQL monitor (`{table}` in
its SQL is the table's full name in that environment).

The table contract becomes monitors too, for every table of tables.yml, whatever its rules: its
NOT NULL columns one validation monitor (a row with a null in any of them is invalid), each named
check a validation monitor whose SQL condition matches the rows that break it, and its `keys` a
custom SQL monitor counting repeated key values. Metric monitors on a table with a time of its
own (`dedupe.order_by`, else its first timestamp or date column that is not ingestion metadata)
aggregate by it (`aggregate_time_field`, by day) instead of scanning the whole table, and a bronze
freshness rule without `timestamp_field` measures that time, not the pipeline's `_ingested_at`
(which stays the fallback).

`montecarlo.yml` keeps what a person set there among the fields Monte Carlo documents
(`default_resource`, `default_domain`, `include_file_patterns`, `exclude_file_patterns`), so a
new export and `--check` leave them be; `version` and `namespace` are scaffold's.
"""

from __future__ import annotations

import ast
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from lakeforge.catalog import CatalogHelper
from lakeforge.config import ConfigLoader, EnvironmentConfig
from lakeforge.contract import quoted
from lakeforge.errors import IdentifierError
from lakeforge.identifiers import LAYERS
from lakeforge.montecarlo import MONITORS_DIR, PROJECT_FILE
from lakeforge.observability import validate_rule
from lakeforge.tables import INGESTED_AT, METADATA_COLUMNS, TABLES_FILE, TableSpec
from scaffolder.errors import ScaffoldError
from scaffolder.project import Project
from scaffolder.writer import atomic_write

MONITORS_FILE = "monitors.yaml"
# Also what CI can read back with one sed expression (a plain YAML scalar, never quoted).
_NAMESPACE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
GITIGNORE = f"{MONITORS_DIR}/.gitignore"
LOCAL_ENVIRONMENT = "local"
DEFAULT_RESOURCE = "databricks"
SCHEMA_URL = "https://clidocs.getmontecarlo.com/mac/schema.json"
PRIORITY = {"critical": "P1", "high": "P2", "medium": "P3", "low": "P4"}
METRICS = {
    "null_rate": "NULL_RATE",
    "unique_rate": "UNIQUE_RATE",
    "min": "NUMERIC_MIN",
    "max": "NUMERIC_MAX",
    "mean": "NUMERIC_MEAN",
    "row_count_distinct": "UNIQUE_COUNT",
    "empty_string_rate": "EMPTY_STRING_RATE",
}
SqlOperator = Literal["GT", "GTE", "LT", "LTE", "EQ", "NEQ"]
OPERATORS: dict[str, SqlOperator] = {"gt": "GT", "gte": "GTE", "lt": "LT", "lte": "LTE", "eq": "EQ", "ne": "NEQ"}
FRESHNESS_INTERVAL_MINUTES = 60
DAILY_MINUTES = 1440
BASELINE_MINUTES = 7 * DAILY_MINUTES
NEVER_UPDATED_HOURS = 1_000_000  # what a freshness query returns for an empty table: always stale
MAX_DESCRIPTION = 512


# --- the files written: Monte Carlo's monitors-as-code format --------------------------------


class _Mac(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProjectConfig(_Mac):
    """`montecarlo.yml`: one Monte Carlo project (here: one environment)."""

    version: Literal[1] = 1
    namespace: str = Field(min_length=1)
    default_resource: str = Field(min_length=1, description="the warehouse (integration) name or UUID")
    default_domain: str | None = Field(default=None, min_length=1, description="a person's: kept")
    include_file_patterns: list[str] | None = None
    exclude_file_patterns: list[str] | None = None


# The montecarlo.yml fields a person may set and scaffold keeps (Monte Carlo's "Monitors as Code").
KEPT_PROJECT_FIELDS = ("default_resource", "default_domain", "include_file_patterns", "exclude_file_patterns")


class Schedule(_Mac):
    type: Literal["fixed"] = "fixed"
    interval_minutes: int = Field(gt=0)


class DataSource(_Mac):
    table: str = Field(pattern=r"^[^:.]+:[^:.]+\.[^:.]+$", description="database:schema.table")


class MetricCondition(_Mac):
    metric: str
    operator: Literal["AUTO", "GT", "GTE", "LT", "LTE", "EQ", "NEQ"]
    threshold_value: int | float | None = None
    fields: list[str] | None = None


class SqlCondition(_Mac):
    type: Literal["threshold", "change"] = "threshold"
    operator: SqlOperator
    threshold_value: int | float
    baseline_agg_function: Literal["AVG", "MIN", "MAX"] | None = None
    baseline_interval_minutes: int | None = Field(default=None, ge=0, le=129600)
    is_threshold_relative: bool | None = None


class _Monitor(_Mac):
    name: str = Field(min_length=1)
    description: str = Field(min_length=1, max_length=MAX_DESCRIPTION)
    warehouse: str
    schedule: Schedule
    priority: Literal["P1", "P2", "P3", "P4", "P5"] | None = None
    audiences: list[str] | None = None


class MetricMonitor(_Monitor):
    data_source: DataSource
    alert_conditions: list[MetricCondition] = Field(min_length=1)
    aggregate_time_field: str | None = None
    aggregate_by: Literal["hour", "day", "week", "month"] | None = None


class ValidationField(_Mac):
    field: str


class ValidationPredicate(_Mac):
    name: str


class ValidationCondition(_Mac):
    """A node of a validation monitor's condition tree: it matches the INVALID rows."""

    type: Literal["GROUP", "UNARY", "SQL"]
    operator: Literal["AND", "OR"] | None = None
    conditions: list[ValidationCondition] | None = None
    predicate: ValidationPredicate | None = None
    value: list[ValidationField] | None = None
    sql: str | None = None


class ValidationMonitor(_Monitor):
    data_source: DataSource
    alert_condition: ValidationCondition


class CustomSqlMonitor(_Monitor):
    sql: str = Field(min_length=1)
    alert_conditions: list[SqlCondition] = Field(min_length=1, max_length=1)


class MonitorSet(_Mac):
    metric: list[MetricMonitor] | None = None
    custom_sql: list[CustomSqlMonitor] | None = None
    validation: list[ValidationMonitor] | None = None


class MonitorsFile(_Mac):
    """A monitor definitions file: everything under the `montecarlo:` root key."""

    montecarlo: MonitorSet = Field(default_factory=MonitorSet)


# --- the rules read ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """The table a rule watches: a layer's table (named per environment) or a fixed full name."""

    layer: str | None
    table: str
    full_name: str | None = None

    @property
    def key(self) -> str:
        return f"{self.layer}.{self.table}" if self.layer else str(self.full_name)

    def resolve(self, helper: CatalogHelper) -> str:
        return self.full_name or helper.table_name(str(self.layer), self.table)


@dataclass(frozen=True)
class DeclaredRule:
    rule: Any  # one of lakeforge.observability's rule models
    source: str  # for errors: "src/shop/transformations/silver/x.py line 12 (transform)", "tables.yml table 'x' monitors[0]"
    target: Target
    origin: str  # for the description, stable when lines move: "src/shop/.../x.py, function transform"


@dataclass
class MonitorsReport:
    files: dict[str, str]  # repo-relative path -> text, sorted
    environments: dict[str, int]  # env -> number of monitors
    namespaces: dict[str, str]  # env -> namespace
    rules: int
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # monitors/<env>/ files of environments no longer exported
    notes: list[str] = field(default_factory=list)


def _module_target(rel: str, package: str) -> Target | None:
    """`src/<package>/transformations/<layer>/<table>.py` -> that layer's table."""
    parts = Path(rel).parts
    if len(parts) == 5 and parts[:3] == ("src", package, "transformations") and parts[3] in LAYERS:
        stem = Path(parts[4]).stem
        if stem != "__init__":
            return Target(parts[3], stem)
    return None


def _decorator_names(tree: ast.Module) -> set[str]:
    names = {"monte_carlo_rule"}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in ("lakeforge", "lakeforge.observability"):
            names.update(a.asname or a.name for a in node.names if a.name == "monte_carlo_rule")
    return names


def _is_rule_call(node: ast.expr, names: set[str]) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    return (isinstance(func, ast.Name) and func.id in names) or (
        isinstance(func, ast.Attribute) and func.attr == "monte_carlo_rule"
    )


def _literal(node: ast.expr, what: str, where: str) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise ScaffoldError(
            f"{where}: monte_carlo_rule argument {what} is not a literal ({ast.unparse(node)}); "
            "write the value itself (a number, a string, True/False) so scaffold monitors can read it "
            "without importing the module"
        ) from None


@dataclass(frozen=True)
class Decorator:
    """One `@monte_carlo_rule(...)` as written: its literal arguments and where it is."""

    line: int
    rule_type: Any
    arguments: dict[str, Any]
    where: str  # "src/shop/transformations/silver/x.py line 12 (transform)"
    function: str
    default: Target | None  # the module's own table, if it has one


def rules_in_module(path: Path, rel: str, package: str) -> list[Decorator]:
    """Every `@monte_carlo_rule(...)` of one module, read from its syntax tree (nothing is imported)."""
    text = path.read_text(encoding="utf-8")
    if "monte_carlo_rule" not in text:
        return []
    try:
        tree = ast.parse(text, filename=rel)
    except SyntaxError as exc:
        raise ScaffoldError(
            f"{rel} line {exc.lineno}: not valid Python ({exc.msg}); fix it before exporting monitors"
        ) from None
    names = _decorator_names(tree)
    default = _module_target(rel, package)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for decorator in node.decorator_list:
            if not _is_rule_call(decorator, names):
                continue
            assert isinstance(decorator, ast.Call)
            where = f"{rel} line {decorator.lineno}"
            if len(decorator.args) > 1 or any(isinstance(a, ast.Starred) for a in decorator.args):
                raise ScaffoldError(
                    f"{where}: monte_carlo_rule takes rule_type as its only positional argument; "
                    "pass the others by name (threshold_hours=24, ...)"
                )
            arguments: dict[str, Any] = {}
            if decorator.args:
                arguments["rule_type"] = _literal(decorator.args[0], "rule_type", where)
            for keyword in decorator.keywords:
                if keyword.arg is None:
                    raise ScaffoldError(
                        f"{where}: monte_carlo_rule(**{ast.unparse(keyword.value)}) is not literal; "
                        "write each argument by name with its value"
                    )
                arguments[keyword.arg] = _literal(keyword.value, keyword.arg, where)
            if "rule_type" not in arguments:
                raise ScaffoldError(f"{where}: monte_carlo_rule needs rule_type (freshness, volume, ...)")
            rule_type = arguments.pop("rule_type")
            found.append(
                Decorator(decorator.lineno, rule_type, arguments, f"{where} ({node.name})", node.name, default)
            )
    return sorted(found, key=lambda d: (d.line, d.function))


def _target(table: str | None, default: Target | None, specs: dict[str, TableSpec], source: str) -> Target:
    if table is None:
        if default is None:
            raise ScaffoldError(
                f"{source}: the rule has no table: give table='<layer>.<table>' (only modules under "
                "transformations/<layer>/ have a table of their own)"
            )
        return default
    parts = table.split(".")
    if len(parts) == 2 and parts[0] in LAYERS and all(parts):
        return Target(parts[0], parts[1])
    if len(parts) == 3 and all(parts):
        return Target(None, parts[2], full_name=table)
    if len(parts) == 1 and table in specs:
        return Target(specs[table].layer, table)
    raise ScaffoldError(
        f"{source}: table {table!r} is neither <layer>.<table> (layer one of {', '.join(LAYERS)}), "
        f"a table of {TABLES_FILE}, nor catalog.schema.table; fix table="
    )


def _check_columns(declared: DeclaredRule, specs: dict[str, TableSpec]) -> None:
    """A field the rule names must be a column of the table, when tables.yml declares the table."""
    spec = specs.get(declared.target.table) if declared.target.layer else None
    if spec is None or spec.layer != declared.target.layer:
        return
    rule = declared.rule
    for argument in ("field", "timestamp_field"):
        column = getattr(rule, argument, None)
        if column is not None and column not in spec.column_names():
            raise ScaffoldError(
                f"{declared.source}: {argument} {column!r} is not a column of {declared.target.key} "
                f"in {TABLES_FILE} ({', '.join(spec.column_names())}); fix {argument}="
            )


def collect_rules(project: Project) -> tuple[list[DeclaredRule], list[str]]:
    """Rules from the code (decorators) and, for tables whose code declares none, from tables.yml."""
    tables = project.tables()
    specs = {t.name: t for t in tables.tables}
    notes: list[str] = []
    code: list[DeclaredRule] = []
    package_dir = project.root / "src" / project.package
    for path in sorted(package_dir.rglob("*.py")):
        rel = path.relative_to(project.root).as_posix()
        module = rel.removeprefix("src/").removesuffix(".py").replace("/", ".")
        for found in rules_in_module(path, rel, project.package):
            rule = validate_rule(found.rule_type, found.arguments, found.where, module=module, function=found.function)
            target = _target(rule.table, found.default, specs, found.where)
            code.append(DeclaredRule(rule, found.where, target, f"{rel}, function {found.function}"))
    in_code = {d.target.key: d.source.split(" line ")[0] for d in code}
    declared = list(code)
    for spec in tables.tables:
        for index, entry in enumerate(spec.monitors):
            source = f"{TABLES_FILE} table {spec.name!r} monitors[{index}]"
            arguments = {k: v for k, v in entry.items() if k != "rule_type"}
            rule = validate_rule(entry.get("rule_type"), arguments, source, module=TABLES_FILE, function=spec.name)
            target = _target(rule.table, Target(spec.layer, spec.name), specs, source)
            if target.key in in_code:
                notes.append(
                    f"{TABLES_FILE}: monitors of {target.key} are not used: {in_code[target.key]} declares "
                    "@monte_carlo_rule for it (the code wins)"
                )
                continue
            declared.append(DeclaredRule(rule, source, target, f"{TABLES_FILE}, table {spec.name}"))
    for rule in declared:
        _check_columns(rule, specs)
    return declared, sorted(set(notes))


# --- rules -> monitors ------------------------------------------------------------------------


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def _mc_table(full_name: str) -> str:
    catalog, schema, table = full_name.split(".")
    return f"{catalog}:{schema}.{table}"


def _describe(text: str, source: str) -> str:
    description = f"{text} (declared in {source})"
    return description if len(description) <= MAX_DESCRIPTION else description[: MAX_DESCRIPTION - 3] + "..."


@dataclass(frozen=True)
class _Context:
    warehouse: str
    priority: str | None
    audiences: list[str] | None


def monitors_for(
    declared: DeclaredRule, full_name: str, context: _Context, spec: TableSpec | None = None
) -> tuple[list[_Monitor], list[str]]:
    """The Monte Carlo monitors one rule becomes in one environment, and notes for the person.

    `spec`: the table's entry in tables.yml, when the rule watches one (its time column)."""
    rule = declared.rule
    time_column = spec.time_column() if spec is not None else None
    prefix = f"{declared.target.layer or full_name.split('.')[1]}_{declared.target.table}"
    shared: dict[str, Any] = {"warehouse": context.warehouse, "priority": context.priority}
    if context.audiences:
        shared["audiences"] = context.audiences
    explained = rule.description

    def sql_monitor(suffix: str, text: str, sql: str, condition: SqlCondition, minutes: int) -> CustomSqlMonitor:
        return CustomSqlMonitor(
            name=f"{prefix}_{suffix}",
            description=_describe(explained or text, declared.origin),
            sql=sql,
            alert_conditions=[condition],
            schedule=Schedule(interval_minutes=minutes),
            **shared,
        )

    def metric_monitor(
        suffix: str, text: str, conditions: list[MetricCondition], by_time: bool = True
    ) -> MetricMonitor:
        timed: dict[str, Any] = (
            {"aggregate_time_field": time_column, "aggregate_by": "day"} if by_time and time_column else {}
        )
        return MetricMonitor(
            name=f"{prefix}_{suffix}",
            description=_describe(explained or text, declared.origin),
            data_source=DataSource(table=_mc_table(full_name)),
            alert_conditions=conditions,
            schedule=Schedule(interval_minutes=DAILY_MINUTES),
            **timed,
            **shared,
        )

    notes: list[str] = []
    if rule.rule_type == "freshness":
        hours = _number(rule.threshold_hours)
        # Bronze: when the data happened by its own clock, else when the pipeline loaded it.
        bronze = declared.target.layer == "bronze"
        column = rule.timestamp_field or ((time_column or INGESTED_AT) if bronze else None)
        if column is None:
            notes.append(
                f"{declared.source}: freshness of {declared.target.key} has no timestamp_field, so Monte Carlo "
                f"learns its update cadence (TIME_SINCE_LAST_ROW_COUNT_CHANGE, AUTO) instead of alerting after "
                f"{hours}h; give timestamp_field='<column>' to keep the threshold"
            )
            cadence = MetricCondition(metric="TIME_SINCE_LAST_ROW_COUNT_CHANGE", operator="AUTO")
            text = f"{full_name} keeps its usual update cadence"
            return [metric_monitor("freshness", text, [cadence], by_time=False)], notes
        sql = (
            f"SELECT COALESCE((unix_timestamp(current_timestamp()) - unix_timestamp(MAX({column}))) / 3600.0, "
            f"{NEVER_UPDATED_HOURS}) FROM {full_name}"
        )
        condition = SqlCondition(operator="GT", threshold_value=hours)
        text = f"{full_name} has rows newer than {hours} hours ({column})"
        return [sql_monitor("freshness", text, sql, condition, FRESHNESS_INTERVAL_MINUTES)], notes
    if rule.rule_type == "volume":
        count = f"SELECT COUNT(*) FROM {full_name}"
        monitors: list[_Monitor] = []
        if rule.min_rows is not None:
            condition = SqlCondition(operator="LT", threshold_value=rule.min_rows)
            text = f"{full_name} has at least {rule.min_rows} rows"
            monitors.append(sql_monitor("volume_min_rows", text, count, condition, DAILY_MINUTES))
        if rule.threshold_change_percent is not None:
            percent = _number(rule.threshold_change_percent)
            change: dict[str, Any] = {
                "type": "change",
                "baseline_agg_function": "AVG",
                "baseline_interval_minutes": BASELINE_MINUTES,
                "is_threshold_relative": True,
            }
            drop = SqlCondition(operator="LT", threshold_value=-percent, **change)
            growth = SqlCondition(operator="GT", threshold_value=percent, **change)
            monitors.append(
                sql_monitor(
                    "volume_drop",
                    f"{full_name} row count stays within {percent}% below its 7-day average",
                    count,
                    drop,
                    DAILY_MINUTES,
                )
            )
            monitors.append(
                sql_monitor(
                    "volume_growth",
                    f"{full_name} row count stays within {percent}% above its 7-day average",
                    count,
                    growth,
                    DAILY_MINUTES,
                )
            )
        return monitors, notes
    if rule.rule_type == "field_metric":
        metric = METRICS[rule.metric]
        conditions = []
        if rule.min_value is not None:
            conditions.append(
                MetricCondition(
                    metric=metric, operator="LT", threshold_value=_number(rule.min_value), fields=[rule.field]
                )
            )
        if rule.max_value is not None:
            conditions.append(
                MetricCondition(
                    metric=metric, operator="GT", threshold_value=_number(rule.max_value), fields=[rule.field]
                )
            )
        bounds = " and ".join(
            part
            for part in (
                f">= {_number(rule.min_value)}" if rule.min_value is not None else "",
                f"<= {_number(rule.max_value)}" if rule.max_value is not None else "",
            )
            if part
        )
        text = f"{rule.metric} of {full_name}.{rule.field} stays {bounds}"
        return [metric_monitor(f"{rule.field}_{rule.metric}", text, conditions)], notes
    # custom_sql
    sql = rule.sql.strip().replace("{table}", full_name)
    digest = hashlib.sha256(rule.sql.strip().encode("utf-8")).hexdigest()[:8]
    condition = SqlCondition(operator=OPERATORS[rule.comparison], threshold_value=_number(rule.threshold))
    text = f"custom SQL on {full_name} alerts when the result is {rule.comparison} {_number(rule.threshold)}"
    return [sql_monitor(f"custom_sql_{digest}", text, sql, condition, DAILY_MINUTES)], notes


def contract_monitors(spec: TableSpec, full_name: str, context: _Context) -> list[_Monitor]:
    """The monitors a table's contract becomes: NOT NULL and each named check as validation monitors
    (their conditions match the invalid rows), its keys as a custom SQL count of repeated key values."""
    prefix = f"{spec.layer}_{spec.name}"
    origin = f"{TABLES_FILE}, table {spec.name}"
    shared: dict[str, Any] = {
        "warehouse": context.warehouse,
        "priority": context.priority,
        "schedule": Schedule(interval_minutes=DAILY_MINUTES),
    }
    if context.audiences:
        shared["audiences"] = context.audiences
    source = DataSource(table=_mc_table(full_name))

    def invalid_rows(
        name: str, promise: str, operator: Literal["AND", "OR"], conditions: list[ValidationCondition]
    ) -> ValidationMonitor:
        """A validation monitor of `promise`: it alerts on the rows its conditions match (OR: any, AND: all)."""
        return ValidationMonitor(
            name=f"{prefix}_{name}",
            description=_describe(promise, origin),
            data_source=source,
            alert_condition=ValidationCondition(type="GROUP", operator=operator, conditions=conditions),
            **shared,
        )

    found: list[_Monitor] = []
    not_null = [c for c in spec.not_null_columns() if c not in METADATA_COLUMNS]
    if not_null:
        nulls = [
            ValidationCondition(
                type="UNARY", predicate=ValidationPredicate(name="null"), value=[ValidationField(field=c)]
            )
            for c in not_null
        ]
        found.append(
            invalid_rows("not_null", f"{', '.join(not_null)} of {full_name} hold no nulls (NOT NULL)", "OR", nulls)
        )
    for name, sql in spec.checks.items():
        broken = [ValidationCondition(type="SQL", sql=f"NOT COALESCE(({sql}), FALSE)")]
        found.append(
            invalid_rows(f"check_{name}", f"every row of {full_name} meets check {name}: {sql}", "AND", broken)
        )
    if spec.keys:
        keys = ", ".join(quoted(k) for k in spec.keys)
        found.append(
            CustomSqlMonitor(
                name=f"{prefix}_unique_keys",
                description=_describe(f"{full_name} has one row per {', '.join(spec.keys)}", origin),
                sql=f"SELECT COUNT(*) FROM (SELECT {keys} FROM {full_name} GROUP BY {keys} HAVING COUNT(*) > 1)",
                alert_conditions=[SqlCondition(operator="GT", threshold_value=0)],
                **shared,
            )
        )
    return found


# --- files --------------------------------------------------------------------------------------


def deployed_environments(config_dir: Path, wanted: Sequence[str]) -> list[str]:
    known = ConfigLoader.known_environments(config_dir)
    deployed = [env for env in known if env != LOCAL_ENVIRONMENT]
    for env in wanted:
        if env == LOCAL_ENVIRONMENT:
            raise ScaffoldError(
                f"--env {env}: local runs on your laptop and Monte Carlo watches deployed tables; "
                f"use one of {', '.join(deployed) or 'none (add config/dev.yaml)'}"
            )
        if env not in deployed:
            raise ScaffoldError(
                f"--env {env}: no config/{env}.yaml; use one of {', '.join(deployed) or 'none (add config/dev.yaml)'}"
            )
    return sorted(set(wanted)) if wanted else deployed


def _kept_settings(path: Path) -> dict[str, Any]:
    """What a person set in the montecarlo.yml on disk among the fields scaffold keeps."""
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError:
        return {}
    if not isinstance(data, dict):
        return {}
    kept: dict[str, Any] = {}
    for key in KEPT_PROJECT_FIELDS:
        value = data.get(key)
        if key.endswith("_patterns"):
            if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
                kept[key] = value
        elif isinstance(value, str) and value:
            kept[key] = value
    return kept


# The order a person reads a monitor in: what it is, what it watches, when it alerts, then the rest.
_KEY_ORDER = (
    "name",
    "description",
    "data_source",
    "sql",
    "alert_condition",
    "alert_conditions",
    "aggregate_time_field",
    "aggregate_by",
    "schedule",
    "warehouse",
    "priority",
)


def _ordered(monitor: dict[str, Any]) -> dict[str, Any]:
    first = {key: monitor[key] for key in _KEY_ORDER if key in monitor}
    return {**first, **{key: value for key, value in monitor.items() if key not in first}}


def _dump(data: Any) -> str:
    # One line per value (no folding): a changed threshold is a one-line diff.
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True, width=10_000)


def _project_text(env: str, project_config: ProjectConfig) -> str:
    return (
        f"# Monte Carlo project of the {env} environment, written by `scaffold monitors`.\n"
        f"# Apply: montecarlo monitors apply --project-dir {MONITORS_DIR}/{env} --namespace {project_config.namespace}\n"
        "# default_resource: your Databricks integration's name (or UUID) in Monte Carlo, Settings >\n"
        "# Integrations; default_domain: the domain new monitors belong to (new accounts need one).\n"
        "# Set them (or include/exclude_file_patterns) here and scaffold monitors keeps them.\n"
    ) + _dump(project_config.model_dump(mode="json", exclude_none=True))


def _monitors_text(env: str, monitors: MonitorsFile) -> str:
    data = monitors.model_dump(mode="json", exclude_none=True)
    for kind, entries in data["montecarlo"].items():
        data["montecarlo"][kind] = [_ordered(entry) for entry in entries]
    return (
        f"# yaml-language-server: $schema={SCHEMA_URL}\n"
        f"# Monte Carlo monitors of the {env} environment, written by `scaffold monitors` from\n"
        f"# @monte_carlo_rule in src/ and monitors: in {TABLES_FILE}. Do not edit: change the rules and\n"
        "# run `scaffold monitors` again (CI runs `scaffold monitors --check`).\n"
    ) + _dump(data)


def _audiences(config: EnvironmentConfig, notes: list[str]) -> list[str] | None:
    assert config.monte_carlo is not None
    audiences = []
    for entry in config.monte_carlo.notify:
        if "@" in entry:
            notes.append(
                f"config monte_carlo.notify: {entry!r} is an email address; Monte Carlo notifies audiences by "
                "name (Settings > Notifications), so it is not written: list audience names there"
            )
            continue
        audiences.append(entry)
    return sorted(set(audiences)) or None


def build(project: Project, environments: Sequence[str] = ()) -> MonitorsReport:
    """Every file `scaffold monitors` writes, as text, and what the person should know."""
    config_dir = ConfigLoader.find_config_dir(project.root / "config")
    envs = deployed_environments(config_dir, environments)
    declared, notes = collect_rules(project)
    specs = {t.name: t for t in project.tables().tables}
    files: dict[str, str] = {GITIGNORE: "# the montecarlo CLI's compile output\ntarget/\n"}
    counts: dict[str, int] = {}
    namespaces: dict[str, str] = {}
    configured = False
    for env in envs:
        config = ConfigLoader.load(env, path=config_dir, environ={})
        settings = config.monte_carlo
        if settings is None:
            notes.append(f"{env}: no monte_carlo section in config/defaults.yaml or config/{env}.yaml; skipped")
            continue
        configured = True
        if not settings.enabled:
            notes.append(f"{env}: monte_carlo.enabled is false; skipped")
            continue
        helper = CatalogHelper(config)
        namespace = f"{settings.namespace or project.package}_{env}"
        if not _NAMESPACE.fullmatch(namespace):
            raise ScaffoldError(
                f"config monte_carlo.namespace: {settings.namespace!r} is not a Monte Carlo namespace; "
                "use letters, digits, '_', '-' and '.' (e.g. the project's package name)"
            )
        project_path = f"{MONITORS_DIR}/{env}/{PROJECT_FILE}"
        # The integration's name is Monte Carlo's, not the pipeline's: the one a person wrote into
        # montecarlo.yml is kept; else the integration's usual name.
        kept = _kept_settings(project.root / project_path)
        resource = kept.get("default_resource") or DEFAULT_RESOURCE
        audiences = _audiences(config, notes)
        by_name: dict[str, tuple[_Monitor, str]] = {}
        for rule in declared:
            severity = rule.rule.severity if "severity" in rule.rule.model_fields_set else settings.default_severity
            rule_context = _Context(resource, PRIORITY[severity], audiences)
            try:
                full_name = rule.target.resolve(helper)
            except IdentifierError as exc:
                raise ScaffoldError(f"{rule.source}: {exc}; fix table=") from None
            spec = specs.get(rule.target.table) if rule.target.layer else None
            spec = spec if spec is not None and spec.layer == rule.target.layer else None
            made, rule_notes = monitors_for(rule, full_name, rule_context, spec)
            notes.extend(rule_notes)
            for monitor in made:
                if monitor.name in by_name:
                    raise ScaffoldError(
                        f"{rule.source}: makes monitor {monitor.name!r} like {by_name[monitor.name][1]}; "
                        "keep one of the two rules (or give one of them another table=)"
                    )
                by_name[monitor.name] = (monitor, rule.source)
        contract_context = _Context(resource, PRIORITY[settings.default_severity], audiences)
        for spec in specs.values():
            source = f"{TABLES_FILE} table {spec.name!r} (its contract)"
            for monitor in contract_monitors(spec, helper.table_name(spec.layer, spec.name), contract_context):
                if monitor.name in by_name:
                    raise ScaffoldError(
                        f"{by_name[monitor.name][1]}: makes monitor {monitor.name!r}, the name of a monitor of "
                        f"{source}; give the rule another name or table="
                    )
                by_name[monitor.name] = (monitor, source)
        ordered = [by_name[name][0] for name in sorted(by_name)]
        metric = [m for m in ordered if isinstance(m, MetricMonitor)]
        custom_sql = [m for m in ordered if isinstance(m, CustomSqlMonitor)]
        validation = [m for m in ordered if isinstance(m, ValidationMonitor)]
        monitors = MonitorsFile(
            montecarlo=MonitorSet(metric=metric or None, custom_sql=custom_sql or None, validation=validation or None)
        )
        project_config = ProjectConfig(namespace=namespace, **{**kept, "default_resource": resource})
        files[project_path] = _project_text(env, project_config)
        files[f"{MONITORS_DIR}/{env}/{MONITORS_FILE}"] = _monitors_text(env, monitors)
        counts[env] = len(ordered)
        namespaces[env] = namespace
    domainless = [env for env in counts if "default_domain:" not in files[f"{MONITORS_DIR}/{env}/{PROJECT_FILE}"]]
    if domainless:
        notes.append(
            f"{MONITORS_DIR}/<env>/{PROJECT_FILE} sets no default_domain for {', '.join(domainless)}: Monte Carlo "
            "accounts created lately need one domain per monitor; add `default_domain: <domain>` there "
            "(scaffold monitors keeps it)"
        )
    if not configured:
        raise ScaffoldError(
            "Monte Carlo is not set up in config/: add `monte_carlo: {namespace: "
            f"{project.package}}}` to config/defaults.yaml (copier: answer monte_carlo=true)"
        )
    return MonitorsReport(
        files=dict(sorted(files.items())),
        environments=counts,
        namespaces=namespaces,
        rules=len(declared),
        notes=list(dict.fromkeys(notes)),
    )


def _differs(root: Path, rel: str, text: str) -> bool:
    """Whether the file on disk is not what scaffold would write. A project file (montecarlo.yml) is
    compared as data: a person's comments and layout there are theirs, only the values matter."""
    path = root / rel
    if not path.is_file():
        return True
    current = path.read_text(encoding="utf-8")
    if current == text:
        return False
    if Path(rel).name == PROJECT_FILE:
        try:
            return bool(yaml.safe_load(current) != yaml.safe_load(text))
        except yaml.YAMLError:
            return True
    return True


def _leftovers(root: Path, report: MonitorsReport) -> list[str]:
    """The files scaffold wrote for environments it no longer exports (disabled, or gone from config/).

    A stale `monitors/<env>/` would be applied by hand or by an old CI job and resurrect monitors the
    rules no longer declare; only the two files scaffold writes are touched, never a person's own.
    """
    folder = root / MONITORS_DIR
    if not folder.is_dir():
        return []
    found = []
    for env_dir in sorted(p for p in folder.iterdir() if p.is_dir() and p.name not in report.environments):
        for name in (PROJECT_FILE, MONITORS_FILE):
            if (env_dir / name).is_file():
                found.append(f"{MONITORS_DIR}/{env_dir.name}/{name}")
    return found


def export_monitors(project: Project, environments: Iterable[str] = (), check: bool = False) -> MonitorsReport:
    """Write the monitors-as-code files (atomically, only those that changed), or with `check` compare them.

    A full export (no `environments`) also removes the files of environments that are no longer
    exported; `check` reports them as stale instead.
    """
    selected = list(environments)
    report = build(project, selected)
    for rel, text in report.files.items():
        if not _differs(project.root, rel, text):
            report.unchanged.append(rel)
        elif check:
            report.stale.append(rel)
        else:
            atomic_write(project.root / rel, text)
            report.written.append(rel)
    if not selected:
        for rel in _leftovers(project.root, report):
            if check:
                report.stale.append(rel)
                continue
            path = project.root / rel
            path.unlink()
            report.removed.append(rel)
            if not any(path.parent.iterdir()):
                path.parent.rmdir()
    return report
