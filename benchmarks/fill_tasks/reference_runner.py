"""The hidden reference of the fill benchmark: acceptance cases run on the code `scaffold fill` kept.

`scaffold bench` copies this file, after the fill has finished, into the bench repo as
`bench_reference/test_reference.py`, with the cases of the tasks to judge in
`bench_reference/cases/<task>.yml`; the model never sees either. It runs as the repo's own pytest
does (the `lakeforge.testing` plugin, its `spark` fixture and its contract guard), in a process
of its own: kept code is never imported into scaffold's process.

A case gives each `transform` parameter its rows (a mapping per row, typed by the input's
schema in tables.yml; missing keys are null) or, for a bronze table, `landed`: the files under
`data/landing/<source.path>` read the way the pipeline reads them (`lakeforge.io.read_source`
with the declared schema). Expected rows are compared as a multiset, typed by the table's schema;
`_ingested_at` must be set on every row and is otherwise not compared, `_source_file` is compared
by file name.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from lakeforge.io import read_source
from lakeforge.tables import DECIMAL_TYPE, INGESTED_AT, SOURCE_FILE, TableSpec, load_tables
from lakeforge.testing import find_package

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LANDED = "landed"
INTEGERS = {"int", "bigint", "smallint", "tinyint"}
LOADED_AT = dt.datetime(2026, 3, 10)


def _cases() -> list[tuple[str, int, dict[str, Any]]]:
    found = []
    for path in sorted((HERE / "cases").glob("*.yml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        for index, case in enumerate(document["cases"]):
            found.append((path.stem, index, case))
    return found


CASES = _cases()


def value_of(value: Any, type_string: str, where: str) -> Any:
    """A YAML value as the Python value Spark gives for the column type."""
    if value is None:
        return None
    if type_string == "string":
        if not isinstance(value, str):
            raise TypeError(f"{where}: {value!r} is not a string; quote it in the case")
        return value
    if type_string in INTEGERS:
        return int(value)
    if type_string in ("double", "float"):
        return float(value)
    if DECIMAL_TYPE.fullmatch(type_string):
        return Decimal(str(value))
    if type_string == "boolean":
        if not isinstance(value, bool):
            raise TypeError(f"{where}: {value!r} is not true/false")
        return value
    if type_string == "date":
        return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
    if type_string in ("timestamp", "timestamp_ntz"):
        stamp = (
            value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        )
        if stamp.tzinfo is not None:  # an instant: as the UTC wall time the session (UTC) shows
            stamp = stamp.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return stamp
    if type_string.startswith("array<"):
        return [value_of(v, type_string[6:-1], where) for v in value]
    raise TypeError(f"{where}: no conversion for type {type_string}")


def typed_rows(
    rows: list[dict[str, Any]], columns: list[tuple[str, str]], where: str, defaults: dict[str, Any] | None = None
) -> list[tuple[Any, ...]]:
    names = {name for name, _ in columns}
    typed = []
    for number, row in enumerate(rows, 1):
        unknown = set(row) - names
        if unknown:
            raise KeyError(f"{where} row {number}: columns {sorted(unknown)} are not in the schema")
        row = {**(defaults or {}), **row}
        typed.append(tuple(value_of(row.get(name), type_, f"{where} row {number} {name}") for name, type_ in columns))
    return typed


def frame(spark: Any, rows: list[dict[str, Any]], spec: TableSpec, columns: list[Any], where: str) -> Any:
    pairs = [(c.name, c.type) for c in columns]
    defaults = {INGESTED_AT: LOADED_AT}  # an upstream bronze table's load time, when a case leaves it out
    return spark.createDataFrame(typed_rows(rows, pairs, where, defaults), schema=spec.struct_type(columns))


def inputs_for(spark: Any, spec: TableSpec, case: dict[str, Any], tables: Any) -> list[Any]:
    given = case.get("inputs", {})
    if spec.layer == "bronze":
        raw = given.get("raw", LANDED)
        if raw == LANDED:
            assert spec.source is not None
            path = ROOT / "data" / "landing" / spec.source.path
            return [read_source(spark, str(path), spec.source.format, spec.read_schema(), spec.source.options)]
        return [frame(spark, raw, spec, spec.source_columns(), f"{spec.name} input raw")]
    frames = []
    for name in spec.inputs:
        upstream = tables.get(name)
        frames.append(frame(spark, given.get(name, []), upstream, upstream.schema_, f"{spec.name} input {name}"))
    return frames


def _key(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple((v is not None, type(v).__name__, repr(v) if isinstance(v, list) else v) for v in row)


def _normal(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, list):
        return tuple(_normal(v) for v in value)
    return value


def _show(rows: list[tuple[Any, ...]], names: list[str]) -> str:
    return "; ".join(
        "{" + ", ".join(f"{n}={v!r}" for n, v in zip(names, row, strict=True)) + "}" for row in rows[:5]
    ) + (f" (and {len(rows) - 5} more)" if len(rows) > 5 else "")


@pytest.mark.parametrize(("task", "index", "case"), CASES, ids=[f"{t}-{i}" for t, i, _ in CASES])
def test_reference(spark: Any, task: str, index: int, case: dict[str, Any]) -> None:
    tables = load_tables(ROOT / "tables.yml")
    spec = tables.get(task)
    package = find_package(ROOT)
    module = importlib.import_module(spec.module_name(package or ""))
    result = module.transform(*inputs_for(spark, spec, case, tables))

    got = [(f.name, f.dataType.simpleString()) for f in result.schema.fields]
    want = [(c.name, c.type) for c in spec.schema_]
    if got != want:
        pytest.fail(f"{case['name']}: transform returns columns {got}; tables.yml declares {want}", pytrace=False)

    names = [c.name for c in spec.schema_]
    compared = [c for c in spec.schema_ if c.name != INGESTED_AT]
    rows = result.collect()
    if INGESTED_AT in names and any(row[INGESTED_AT] is None for row in rows):
        pytest.fail(f"{case['name']}: a row has no {INGESTED_AT}", pytrace=False)
    actual = []
    for row in rows:
        values = []
        for column in compared:
            value = row[column.name]
            if column.name == SOURCE_FILE and value is not None:
                value = value.rsplit("/", 1)[-1]
            values.append(_normal(value))
        actual.append(tuple(values))
    expected = [
        tuple(_normal(v) for v in row)
        for row in typed_rows(case["expected"], [(c.name, c.type) for c in compared], f"{task} expected")
    ]
    missing = list((Counter(expected) - Counter(actual)).elements())
    extra = list((Counter(actual) - Counter(expected)).elements())
    shown = [c.name for c in compared]
    if missing or extra:
        pytest.fail(
            f"{case['name']}: {len(actual)} rows, {len(expected)} expected; "
            f"missing {_show(sorted(missing, key=_key), shown) or 'none'}; "
            f"unexpected {_show(sorted(extra, key=_key), shown) or 'none'}",
            pytrace=False,
        )
