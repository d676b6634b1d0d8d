"""The offline provider: a deterministic generator driven by tables.yml, no model needed.

It answers exactly like a model would (a reply of fenced files) and goes through the same parser
and checks, so the README's demo works with no API key and its output is held to the same bar.
Bronze: cast to the declared types + ingestion metadata. Silver: casts, trims, `not_null`,
dedupe on `keys` keeping the latest by `dedupe.order_by`. Gold: left joins on `join_on`, then
`group_by` + `measures`. The tests it writes compute their expected rows from the same hints.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from lakeforge.tables import METADATA_COLUMNS, Column, TablesFile, TableSpec
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


def rows_code(rows: list[tuple[Any, ...]], indent: str = "        ") -> str:
    return "\n".join(f"{indent}{row!r}," for row in rows)


def _header(spec: TableSpec, extra_imports: Sequence[str] = ()) -> str:
    imports = ["from pyspark.sql import DataFrame", "from pyspark.sql import functions as F"]
    if any(i.startswith("from pyspark.sql import Window") for i in extra_imports):
        imports[0] = "from pyspark.sql import DataFrame, Window"
        extra_imports = [i for i in extra_imports if not i.startswith("from pyspark.sql import Window")]
    lines = [
        f'"""{docstring(spec)}\n\nWritten by scaffold\'s offline generator from the hints in tables.yml."""',
        "",
        "from __future__ import annotations",
        "",
        "import logging",
        "",
        *extra_imports,
        *imports,
        "from pyspark.sql import types as T",
        "",
        "log = logging.getLogger(__name__)",
        "",
        schema_code(spec).rstrip("\n"),
    ]
    return "\n".join(lines) + "\n"


def _test_header(spec: TableSpec, package: str, extra: Sequence[str] = ()) -> str:
    return "\n".join(
        [
            f'"""{spec.name}: tests written by scaffold\'s offline generator from tables.yml."""',
            "",
            "import datetime",
            "from decimal import Decimal",
            "",
            "import pytest",
            "from lakeforge.testing import assert_df_equal, make_df",
            *extra,
            "",
            f"from {spec.module_name(package)} import SCHEMA, transform",
            "",
            "pytestmark = pytest.mark.unit",
            "",
        ]
    )


# --- bronze ---------------------------------------------------------------------------------


def _bronze(spec: TableSpec, tables: TablesFile, package: str) -> tuple[str, str]:
    source = spec.source_columns()
    metadata = [c.name for c in spec.schema_ if c.name in METADATA_COLUMNS]
    casts = ",\n".join(f'        F.col("{c.name}").cast("{c.type}").alias("{c.name}")' for c in source)
    extra = ["from lakeforge.io import add_ingestion_metadata"] if metadata else []
    body = (
        f"\n\ndef transform(raw: DataFrame) -> DataFrame:\n"
        f'    """Cast the landed columns to the declared types{" and add ingestion metadata" if metadata else ""}."""\n'
        f'    log.info("bronze {spec.name}: typing {len(source)} columns")\n'
        f"    typed = raw.select(\n{casts},\n    )\n"
    )
    body += (
        "    return add_ingestion_metadata(typed).select(*SCHEMA.fieldNames())\n"
        if metadata
        else "    return typed.select(*SCHEMA.fieldNames())\n"
    )
    module = _header(spec, extra) + body
    rows = [tuple(sample(c.type, i) for c in source) for i in range(2)]
    source_ddl = ddl(source)
    metadata_check = "".join(f'    assert all(row["{name}"] is not None for row in rows)\n' for name in metadata[:1])
    source_names = ", ".join(f'"{c.name}"' for c in source)
    tests = _test_header(spec, package) + (
        f'\nRAW = "{source_ddl}"\n'
        f"ROWS = [\n{rows_code(rows, '    ')}\n]\n\n\n"
        f"def test_{spec.name}_keeps_every_row_with_declared_columns(spark):\n"
        f"    result = transform(make_df(spark, ROWS, RAW))\n"
        f"    assert result.columns == SCHEMA.fieldNames()\n"
        f"    rows = result.collect()\n"
        + metadata_check
        + f"    assert sorted(tuple(row[c] for c in ({source_names},)) for row in rows) == sorted(ROWS)\n"
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
    selects = []
    for c in spec.schema_:
        expr = f'F.col("{c.name}")'
        if spec.trim and c.type == "string" and up_types[c.name] == "string":
            expr = f'F.trim("{c.name}")'
        selects.append(f'        {expr}.cast("{c.type}").alias("{c.name}")')
    lines = [
        f"\n\ndef transform({param}: DataFrame) -> DataFrame:",
        '    """Cast, trim, drop rows missing required values, keep one row per key."""',
        f'    log.info("silver {spec.name}: cleaning {param}")',
        f"    cleaned = {param}.select(\n" + ",\n".join(selects) + ",\n    )",
    ]
    if spec.not_null:
        condition = " & ".join(f'F.col("{n}").isNotNull()' for n in spec.not_null)
        lines.append(f"    cleaned = cleaned.where({condition})")
    extra = []
    if spec.dedupe:
        keys = ", ".join(f'"{k}"' for k in spec.keys)
        extra = ["from pyspark.sql import Window"]
        lines += [
            f'    latest_first = Window.partitionBy({keys}).orderBy(F.col("{spec.dedupe.order_by}").desc_nulls_last())',
            '    ranked = cleaned.select("*", F.row_number().over(latest_first).alias("_rank"))',
            '    cleaned = ranked.where(F.col("_rank") == 1)',
        ]
    elif spec.keys:
        lines.append(f"    cleaned = cleaned.dropDuplicates([{', '.join(repr(k) for k in spec.keys)}])")
    lines.append("    return cleaned.select(*SCHEMA.fieldNames())")
    module = _header(spec, extra) + "\n".join(lines) + "\n"
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
    raw_rows = [tuple(r[c.name] for c in upstream.schema_) for r in rows]
    return _test_header(spec, package) + (
        f'\nRAW = "{ddl(upstream.schema_)}"\n\n\n'
        f"def test_{spec.name}_cleans_and_keeps_one_row_per_key(spark):\n"
        f"    {param} = make_df(\n        spark,\n        [\n{rows_code(raw_rows, '            ')}\n        ],\n        RAW,\n    )\n"
        f"    expected = make_df(\n        spark,\n        [\n{rows_code([expected(r) for r in kept], '            ')}\n"
        f"        ],\n        SCHEMA,\n    )\n"
        f"    assert_df_equal(transform({param}), expected)\n"
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
    lines = [
        f"\n\ndef transform({', '.join(f'{p}: DataFrame' for p in params)}) -> DataFrame:",
        '    """Join the inputs and aggregate the measures per group."""',
        f'    log.info("gold {spec.name}: aggregating")',
        f"    joined = {params[0]}",
    ]
    keys = ", ".join(f'"{k}"' for k in spec.join_on)
    for param, cols in zip(params[1:], picks[1:], strict=True):
        selected = ", ".join(f'"{c}"' for c in cols)
        lines.append(f'    joined = joined.join({param}.select({selected}), on=[{keys}], how="left")')
    aggs = []
    for m in spec.measures:
        arg = "F.lit(1)" if m.column == "*" else f'"{m.column}"'
        aggs.append(f'        {_AGG_CODE[m.agg]}({arg}).cast("{declared[m.name]}").alias("{m.name}")')
    group = ", ".join(f'"{g}"' for g in spec.group_by)
    lines.append(f"    aggregated = joined.groupBy({group}).agg(\n" + ",\n".join(aggs) + ",\n    )")
    lines.append("    return aggregated.select(*SCHEMA.fieldNames())")
    module = _header(spec) + "\n".join(lines) + "\n"
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
    frames = []
    for param, upstream, rows in zip(params, inputs, data, strict=True):
        tuples = [tuple(r[c.name] for c in upstream.schema_) for r in rows]
        frames.append(
            f"    {param} = make_df(\n        spark,\n        [\n{rows_code(tuples, '            ')}\n        ],\n"
            f'        "{ddl(upstream.schema_)}",\n    )\n'
        )
    return _test_header(spec, package) + (
        f"\n\ndef test_{spec.name}_aggregates_per_group(spark):\n"
        + "".join(frames)
        + f"    expected = make_df(\n        spark,\n        [\n{rows_code(expected_rows, '            ')}\n"
        f"        ],\n        SCHEMA,\n    )\n"
        f"    assert_df_equal(transform({', '.join(params)}), expected)\n"
    )


_BUILDERS = {"bronze": _bronze, "silver": _silver, "gold": _gold}
