"""The offline provider: a deterministic generator driven by tables.yml, no model needed.

It answers exactly like a model would (a reply of fenced files) and goes through the same parser
and checks, so the README's demo works with no API key and its output is held to the same bar.
Bronze: cast to the declared types + ingestion metadata. Silver: casts, trims, `not_null`,
dedupe on `keys` keeping the latest by `dedupe.order_by`. Gold: left joins on `join_on`, then
`group_by` + `measures`. The tests it writes compute their expected rows from the same hints.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from lakeforge.tables import METADATA_COLUMNS, Column, TablesFile, TableSpec
from scaffolder.resources import prompts_dir
from scaffolder.stubs import docstring, parameters, schema_code

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


def _silver(spec: TableSpec, tables: TablesFile, package: str) -> tuple[str, str]:
    if len(spec.inputs) != 1:
        raise OfflineUnsupported("silver tables with several inputs need a join the hints do not describe")
    upstream = tables.get(spec.inputs[0])
    up_types = {c.name: c.type for c in upstream.schema_}
    param = parameters(spec)[0]
    missing = [c.name for c in spec.schema_ if c.name not in up_types]
    if missing:
        raise OfflineUnsupported(f"columns {missing} are not in input {upstream.name}")
    for c in spec.schema_:
        if c.name in spec.keys or c.name in spec.not_null or (spec.dedupe and c.name == spec.dedupe.order_by):
            convert(sample(up_types[c.name], 0), up_types[c.name], c.type)  # raises when not castable
    columns = [
        {"name": c.name, "type": c.type, "trim": spec.trim and c.type == "string" and up_types[c.name] == "string"}
        for c in spec.schema_
    ]
    module = _module("silver.py.jinja", spec, param=param, columns=columns, metadata=False, window=bool(spec.dedupe))
    return module, _silver_tests(spec, upstream, package, param)


def _silver_tests(spec: TableSpec, upstream: TableSpec, package: str, param: str) -> str:
    out_types = {c.name: c.type for c in spec.schema_}
    keyed = set(spec.keys) | set(spec.not_null) | ({spec.dedupe.order_by} if spec.dedupe else set())

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

    rows = [raw_row(0, 0)]
    if spec.dedupe:
        rows.append(raw_row(1, 0))  # same key, later order_by: this version is kept
    rows.append(raw_row(2, 2))
    if spec.not_null:
        rows.append(raw_row(3, 3, null_column=spec.not_null[0]))  # dropped

    def expected(row: dict[str, Any]) -> tuple[Any, ...]:
        values = []
        for c in spec.schema_:
            value = row[c.name]
            if isinstance(value, str) and spec.trim:
                value = value.strip()
            values.append(convert(value, next(u.type for u in upstream.schema_ if u.name == c.name), c.type))
        return tuple(values)

    kept = [rows[1], rows[2]] if spec.dedupe else [rows[0], rows[1]]
    return _tests(
        "test_silver.py.jinja",
        spec,
        package,
        param=param,
        raw_ddl=ddl(upstream.schema_),
        raw_rows=[repr(tuple(r[c.name] for c in upstream.schema_)) for r in rows],
        expected_rows=[repr(expected(r)) for r in kept],
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
    module = _module("gold.py.jinja", spec, params=params, joins=joins, measures=measures, metadata=False, window=False)
    return module, _gold_tests(spec, inputs, picks, package, params, available, declared)


def _gold_tests(
    spec: TableSpec,
    inputs: list[TableSpec],
    picks: list[list[str]],
    package: str,
    params: list[str],
    available: dict[str, str],
    declared: dict[str, str],
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
        expected_rows.append(tuple(values[c.name] for c in spec.schema_))
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
