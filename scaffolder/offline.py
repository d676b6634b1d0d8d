"""The offline provider: a deterministic generator driven by tables.yml, no model needed.

It answers exactly like a model would (a reply of fenced files) and goes through the same parser
and checks, so the README's demo works with no API key and its output is held to the same bar.
Bronze: cast to the declared types + ingestion metadata; every landed row is kept (the pipeline
applies the table's expectations by `on_violation`). Silver: casts, trims, drops rows with a null
in a NOT NULL column (`not_null` or `col!`) and rows that break a named check, then keeps one row
per key (the latest by `dedupe.order_by`, or any one). Gold: left joins on `join_on`, then
`group_by` + `measures`, then drops the groups that break a named check. Each `transform`'s
docstring lists exactly the steps its code takes. The tests it writes compute their expected
rows from the same hints (named checks through `scaffolder.sql_eval`; a check it cannot read is
left to a model), with a row that breaks each check where one can be made.
"""

from __future__ import annotations

import datetime as dt
import functools
import textwrap
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from lakeforge.tables import METADATA_COLUMNS, Column, TablesFile, TableSpec
from scaffolder.resources import prompts_dir
from scaffolder.sql_eval import Condition, Unsupported, parse
from scaffolder.stubs import _literal_text, docstring, parameters, schema_code

INT_TYPES = {"int", "bigint", "smallint", "tinyint"}


class OfflineUnsupported(ValueError):
    """tables.yml asks for something the offline generator cannot express; a model can."""


def offline_reply(spec: TableSpec, tables: TablesFile, package: str) -> str:
    """A reply with the module and its tests, as fenced blocks preceded by their paths.

    Raises OfflineUnsupported (naming what is missing) when the hints cannot describe the table.
    """
    module, tests = _BUILDERS[spec.layer](spec, tables, package)
    return (
        f"Offline generator output for {spec.name}.\n\n"
        f"{spec.module_path(package)}\n```python\n{module}```\n\n"
        f"{spec.test_path()}\n```python\n{tests}```\n"
    )


# --- sample values -------------------------------------------------------------------------


def sample(type_string: str, index: int) -> Any:
    if type_string in INT_TYPES:
        return index + 1
    if type_string == "string":
        return f"v{index + 1}"
    if type_string in ("double", "float"):
        return float(index + 1) + 0.5
    if type_string.startswith("decimal"):
        scale = int(type_string.split(",")[1].rstrip(")"))
        return (
            (Decimal(index + 1) + Decimal("0.25")).quantize(Decimal(1).scaleb(-scale)) if scale else Decimal(index + 1)
        )
    if type_string == "boolean":
        return index % 2 == 0
    if type_string == "date":
        return dt.date(2026, 1, 1 + index)
    if type_string in ("timestamp", "timestamp_ntz"):
        return dt.datetime(2026, 1, 1, 8 + index, 0)
    if type_string == "binary":
        return bytes([65 + index])
    if type_string.startswith("array<"):
        return [sample(type_string[6:-1], index)]
    raise OfflineUnsupported(f"no sample value for type {type_string}")


def convert(value: Any, source: str, target: str) -> Any:
    """The value Spark's cast would give, for the casts the generator uses."""
    if value is None or source == target:
        return value
    if target in INT_TYPES and source in INT_TYPES:
        return value
    if target.startswith("decimal") and isinstance(value, (int, Decimal)):
        scale = int(target.split(",")[1].rstrip(")"))
        return Decimal(value).quantize(Decimal(1).scaleb(-scale))
    if target in ("double", "float") and isinstance(value, (int, float, Decimal)):
        return float(value)
    raise OfflineUnsupported(f"cannot cast {source} to {target}")


def ddl(columns: Sequence[Column]) -> str:
    return ", ".join(f"{c.name} {c.type}" for c in columns)


def _render(template: str, **context: Any) -> str:
    """Code from the templates in `prompts/offline/`: what the generator writes, readable as code."""
    return _templates().get_template(f"offline/{template}").render(**context).strip() + "\n"


@functools.lru_cache(maxsize=1)
def _templates() -> Environment:
    return Environment(
        loader=FileSystemLoader(prompts_dir()), undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False
    )


def _module(template: str, spec: TableSpec, **context: Any) -> str:
    return _render(
        template, spec=spec, docstring=docstring(spec), schema_code=schema_code(spec).rstrip("\n"), **context
    )


def _tests(template: str, spec: TableSpec, package: str, **context: Any) -> str:
    return _render(template, spec=spec, module_name=spec.module_name(package), **context)


# --- bronze ---------------------------------------------------------------------------------


def _bronze(spec: TableSpec, tables: TablesFile, package: str) -> tuple[str, str]:
    source = spec.source_columns()
    metadata = [c.name for c in spec.schema_ if c.name in METADATA_COLUMNS]
    module = _module("bronze.py.jinja", spec, columns=source, metadata=bool(metadata), window=False)
    rows = [repr(tuple(sample(c.type, i) for c in source)) for i in range(2)]
    tests = _tests(
        "test_bronze.py.jinja",
        spec,
        package,
        source_ddl=ddl(source),
        rows=rows,
        columns=source,
        metadata=metadata[0] if metadata else "",
    )
    return module, tests


# --- silver ---------------------------------------------------------------------------------


def _checks(spec: TableSpec) -> dict[str, Condition]:
    """The table's named checks, read by the evaluator (the generator must know which rows they keep)."""
    parsed = {}
    for name, sql in spec.checks.items():
        try:
            parsed[name] = parse(sql)
        except Unsupported as exc:
            raise OfflineUnsupported(f"check {name} ({sql}) is beyond the offline generator: {exc}") from None
        unknown = parsed[name].columns() - set(spec.column_names())
        if unknown:
            raise OfflineUnsupported(f"check {name} names {sorted(unknown)}, which are not columns of {spec.name}")
    return parsed


def _passes(checks: dict[str, Condition], row: dict[str, Any]) -> dict[str, bool]:
    """Which checks the row passes (a NULL result is a violation, as in production)."""
    try:
        return {name: check.evaluate(row) is True for name, check in checks.items()}
    except Unsupported as exc:
        raise OfflineUnsupported(f"a named check is beyond the offline generator: {exc}") from None


def _summary(steps: list[str]) -> str:
    """A transform's docstring from its steps, wrapped, escaped for a triple-quoted literal."""
    text = "; ".join(steps) + "."
    return textwrap.fill(_literal_text(text[0].upper() + text[1:]), width=100, subsequent_indent="    ")


def _joined(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def _silver_steps(spec: TableSpec, trims: bool) -> str:
    """The transform's docstring: the steps its code takes, in order, and nothing else."""
    steps = ["Cast the columns to the declared types" + (" and trim text" if trims else "")]
    not_null = spec.not_null_columns()
    if not_null:
        steps.append(f"drop rows with a null {_joined(not_null)}")
    steps += [f"drop rows that break check {name} ({sql})" for name, sql in spec.checks.items()]
    if spec.dedupe:
        steps.append(f"keep the latest row per {', '.join(spec.keys)} by {spec.dedupe.order_by}")
    elif spec.keys:
        steps.append(f"keep one row per {', '.join(spec.keys)}")
    return _summary(steps)


def _silver(spec: TableSpec, tables: TablesFile, package: str) -> tuple[str, str]:
    if len(spec.inputs) != 1:
        raise OfflineUnsupported("silver tables with several inputs need a join the hints do not describe")
    upstream = tables.get(spec.inputs[0])
    up_types = {c.name: c.type for c in upstream.schema_}
    param = parameters(spec)[0]
    missing = [c.name for c in spec.schema_ if c.name not in up_types]
    if missing:
        raise OfflineUnsupported(f"columns {missing} are not in input {upstream.name}")
    checks = _checks(spec)
    for c in spec.schema_:
        if c.name in _modeled(spec, checks):
            convert(sample(up_types[c.name], 0), up_types[c.name], c.type)  # raises when not castable
    columns = [
        {"name": c.name, "type": c.type, "trim": spec.trim and c.type == "string" and up_types[c.name] == "string"}
        for c in spec.schema_
    ]
    module = _module(
        "silver.py.jinja",
        spec,
        param=param,
        columns=columns,
        not_null=spec.not_null_columns(),
        checks=[{"name": name, "literal": repr(sql)} for name, sql in spec.checks.items()],
        summary=_silver_steps(spec, any(c["trim"] for c in columns)),
        metadata=False,
        window=bool(spec.dedupe),
    )
    return module, _silver_tests(spec, upstream, package, param, checks)


def _modeled(spec: TableSpec, checks: dict[str, Condition]) -> set[str]:
    """Columns whose values the tests must model exactly: keys, NOT NULL, dedupe order, checked columns."""
    found = set(spec.keys) | set(spec.not_null_columns()) | ({spec.dedupe.order_by} if spec.dedupe else set())
    for check in checks.values():
        found |= check.columns()
    return found


def _literals(checks: dict[str, Condition]) -> list[Any]:
    return [
        node[1]
        for check in checks.values()
        for node in check.nodes()
        if node[0] == "lit" and node[1] is not None and not isinstance(node[1], bool)
    ]


def _candidates(type_string: str, literals: list[Any]) -> list[Any]:
    """Raw values to try for a checked column: the checks' own literals and values around them."""
    if type_string == "string":
        return [v for v in literals if isinstance(v, str)] + ["", "x", "v1"]
    numbers = [Decimal(v) for v in literals if isinstance(v, (int, Decimal)) and not isinstance(v, bool)]
    around = sorted({n + d for n in [*numbers, Decimal(0)] for d in (Decimal(-1), Decimal(0), Decimal(1))})
    around += [Decimal(100), Decimal(-100)]
    if type_string in INT_TYPES:
        return [int(n) for n in around if n == n.to_integral_value()]
    if type_string.startswith("decimal"):
        scale = int(type_string.split(",")[1].rstrip(")"))
        return [n.quantize(Decimal(1).scaleb(-scale)) for n in around]
    if type_string in ("double", "float"):
        return [float(n) for n in around]
    return []


def _silver_tests(spec: TableSpec, upstream: TableSpec, package: str, param: str, checks: dict[str, Condition]) -> str:
    out_types = {c.name: c.type for c in spec.schema_}
    up_types = {c.name: c.type for c in upstream.schema_}
    keyed = _modeled(spec, checks)
    not_null = spec.not_null_columns()
    fixed = set(spec.keys) | ({spec.dedupe.order_by} if spec.dedupe else set())  # they decide which rows stay

    def raw_row(index: int, key_index: int, null_column: str | None = None) -> dict[str, Any]:
        row = {}
        for c in upstream.schema_:
            use = key_index if c.name in spec.keys else index
            value = sample(c.type, use)
            if c.name in out_types and c.type != out_types[c.name] and c.name not in keyed:
                value = None  # a cast the generator does not model: null stays null
            if spec.trim and c.type == "string" and value is not None:
                value = f"  {value} "
            row[c.name] = None if c.name == null_column else value
        return row

    def output(row: dict[str, Any]) -> dict[str, Any]:
        values = {}
        for c in spec.schema_:
            value = row[c.name]
            if isinstance(value, str) and spec.trim:
                value = value.strip()
            values[c.name] = convert(value, up_types[c.name], c.type)
        return values

    def raw_value(column: str, value: Any) -> Any:
        if spec.trim and up_types[column] == "string" and isinstance(value, str):
            return f"  {value} "
        return value

    def passing(row: dict[str, Any]) -> dict[str, Any]:
        """The row with checked columns changed, one at a time, until it passes every check."""
        literals = _literals(checks)
        for _ in range(2 * len(checks) + 1):
            failed = [name for name, ok in _passes(checks, output(row)).items() if not ok]
            if not failed:
                return row
            tries = [
                {**row, column: raw_value(column, value)}
                for column in sorted(checks[failed[0]].columns() - fixed)
                for value in _candidates(up_types[column], literals)
            ]
            everything = [t for t in tries if all(_passes(checks, output(t)).values())]
            this_one = [t for t in tries if _passes(checks, output(t))[failed[0]]]
            if not (everything or this_one):
                break
            row = (everything or this_one)[0]
        raise OfflineUnsupported(
            f"no sample row of {spec.name} meets every named check ({', '.join(spec.checks)}): a model can write it"
        )

    def breaking(row: dict[str, Any], name: str) -> dict[str, Any] | None:
        """The row with one checked column changed so that it breaks check `name` (false, not null) only."""
        for column in sorted(checks[name].columns() - fixed):
            for value in _candidates(up_types[column], _literals(checks)):
                candidate = {**row, column: raw_value(column, value)}
                values = output(candidate)
                if any(values[c] is None for c in not_null) or checks[name].evaluate(values) is not False:
                    continue
                if all(ok for other, ok in _passes(checks, values).items() if other != name):
                    return candidate
        return None

    rows = [passing(raw_row(0, 0))]
    if spec.dedupe:
        rows.append(passing(raw_row(1, 0)))  # same key, later order_by: this version is kept
    rows.append(passing(raw_row(2, 2)))
    kept = [rows[1], rows[2]] if spec.dedupe else [rows[0], rows[1]]
    if spec.keys and not spec.dedupe:
        rows.append(dict(rows[0]))  # the same row twice: one row per key, whichever copy stays
    if not_null:
        rows.append(passing(raw_row(3, 3, null_column=not_null[0])))  # dropped: a null where NOT NULL
        rows[-1][not_null[0]] = None
    for position, name in enumerate(list(checks)[:4]):
        broken = breaking(passing(raw_row(4 + position, 4 + position)), name)
        if broken is not None:
            rows.append(broken)  # dropped: breaks the check

    def expected(row: dict[str, Any]) -> tuple[Any, ...]:
        values = output(row)
        return tuple(values[c.name] for c in spec.schema_)

    return _tests(
        "test_silver.py.jinja",
        spec,
        package,
        param=param,
        raw_ddl=ddl(upstream.schema_),
        raw_rows=[repr(tuple(r[c.name] for c in upstream.schema_)) for r in rows],
        expected_rows=[repr(expected(r)) for r in kept],
        test_name="cleans_and_keeps_one_row_per_key" if spec.keys else "cleans_its_input",
    )


# --- gold -----------------------------------------------------------------------------------

_AGG_CODE = {
    "sum": "F.sum",
    "count": "F.count",
    "avg": "F.avg",
    "min": "F.min",
    "max": "F.max",
    "count_distinct": "F.countDistinct",
}


def _gold(spec: TableSpec, tables: TablesFile, package: str) -> tuple[str, str]:
    if not spec.group_by or not spec.measures:
        raise OfflineUnsupported("gold tables need group_by and measures hints for the offline generator")
    inputs = [tables.get(name) for name in spec.inputs]
    if len(inputs) > 1 and not spec.join_on:
        raise OfflineUnsupported("several inputs need join_on")
    available: dict[str, str] = {}
    picks: list[list[str]] = []
    for position, upstream in enumerate(inputs):
        cols = [c.name for c in upstream.schema_ if position == 0 or c.name in spec.join_on or c.name not in available]
        picks.append(cols)
        for c in upstream.schema_:
            available.setdefault(c.name, c.type)
    unknown = [c for c in spec.group_by if c not in available] + [
        m.column for m in spec.measures if m.column != "*" and m.column not in available
    ]
    if unknown:
        raise OfflineUnsupported(f"columns {unknown} are in none of the inputs")
    declared = {c.name: c.type for c in spec.schema_}
    extra_cols = [n for n in declared if n not in spec.group_by and n not in {m.name for m in spec.measures}]
    if extra_cols:
        raise OfflineUnsupported(f"columns {extra_cols} are neither group_by nor measures")
    params = parameters(spec)
    joins = [{"param": param, "columns": cols} for param, cols in zip(params[1:], picks[1:], strict=True)]
    measures = [
        {
            "name": m.name,
            "function": _AGG_CODE[m.agg],
            "argument": "F.lit(1)" if m.column == "*" else f'"{m.column}"',
            "type": declared[m.name],
        }
        for m in spec.measures
    ]
    checks = _checks(spec)
    steps = ["Left-join the inputs on " + ", ".join(spec.join_on)] if joins else []
    steps.append(f"aggregate {', '.join(m.name for m in spec.measures)} per {', '.join(spec.group_by)}")
    steps += [f"drop the groups that break check {name} ({sql})" for name, sql in spec.checks.items()]
    module = _module(
        "gold.py.jinja",
        spec,
        params=params,
        joins=joins,
        measures=measures,
        checks=[{"name": name, "literal": repr(sql)} for name, sql in spec.checks.items()],
        summary=_summary(steps),
        metadata=False,
        window=False,
    )
    return module, _gold_tests(spec, inputs, picks, package, params, available, declared, checks)


def _gold_tests(
    spec: TableSpec,
    inputs: list[TableSpec],
    picks: list[list[str]],
    package: str,
    params: list[str],
    available: dict[str, str],
    declared: dict[str, str],
    checks: dict[str, Condition],
) -> str:
    def row(upstream: TableSpec, index: int, key_index: int) -> dict[str, Any]:
        return {c.name: sample(c.type, key_index if c.name in spec.join_on else index) for c in upstream.schema_}

    data: list[list[dict[str, Any]]] = []
    if len(inputs) == 1:
        data.append([row(inputs[0], 0, 0), row(inputs[0], 0, 0), row(inputs[0], 1, 1)])
    else:
        data.append([row(inputs[0], i, i) for i in range(3)])
        for upstream in inputs[1:]:
            data.append([row(upstream, 0, 0), row(upstream, 1, 0), row(upstream, 2, 1)])
    joined = [dict(r) for r in data[0]]
    for upstream_rows, cols in zip(data[1:], picks[1:], strict=True):
        result = []
        for left in joined:
            matches = [r for r in upstream_rows if all(r[k] == left[k] and r[k] is not None for k in spec.join_on)]
            for match in matches or [dict.fromkeys(cols)]:
                result.append({**left, **{c: match[c] for c in cols if c not in spec.join_on}})
        joined = result
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in joined:
        groups.setdefault(tuple(r[g] for g in spec.group_by), []).append(r)
    expected_rows = []
    for key, members in groups.items():
        values = dict(zip(spec.group_by, key, strict=True))
        for m in spec.measures:
            column = [r[m.column] for r in members] if m.column != "*" else [1] * len(members)
            present = [v for v in column if v is not None]
            source_type = available.get(m.column, "bigint")
            if m.agg == "count":
                value: Any = len(present)
            elif m.agg == "count_distinct":
                value = len(set(present))
            elif not present:
                value = None
            elif m.agg == "sum":
                value = sum(present)
            elif m.agg == "min":
                value = min(present)
            elif m.agg == "max":
                value = max(present)
            else:
                value = sum(present) / len(present)
                source_type = "double" if not isinstance(value, Decimal) else source_type
            target = declared[m.name]
            if m.agg in ("count", "count_distinct"):
                source_type = "bigint"
            values[m.name] = convert(value, source_type, target)
        if all(_passes(checks, values).values()):
            expected_rows.append(tuple(values[c.name] for c in spec.schema_))
    if checks and not expected_rows:
        raise OfflineUnsupported(
            f"the named checks of {spec.name} ({', '.join(spec.checks)}) drop every group of the sample data: "
            "a model can write it"
        )
    frames = [
        {
            "param": param,
            "rows": [repr(tuple(r[c.name] for c in upstream.schema_)) for r in rows],
            "ddl": ddl(upstream.schema_),
        }
        for param, upstream, rows in zip(params, inputs, data, strict=True)
    ]
    return _tests("test_gold.py.jinja", spec, package, frames=frames, expected_rows=[repr(r) for r in expected_rows])


_BUILDERS = {"bronze": _bronze, "silver": _silver, "gold": _gold}
