"""Inputs the model did not choose: the contract probe and the metamorphic runs, planned and judged here.

A table's tests and mutants all look at the rows the tests chose, so code that is right only on
those rows (≤ 3 rows, ids with the tests' prefix, no null ever fed) passes all three. The probes
feed `transform` rows from elsewhere and check what needs no oracle:

- *contract*: edge rows built from each input's declared schema (nulls in every column, empty and
  odd strings, decimal precision edges, negative and zero amounts, timestamp edges, unicode,
  duplicate keys) — the output must honour `tables.yml`: names, order and types, no nulls in
  NOT NULL columns, one row per key, every named check true; a bronze table keeps every landed
  row with its values as they came;
- *hidden*: each test's own input rows, hidden among generated rows with other keys and shuffled —
  the output for the test's rows must not change;
- *renamed*: the test's rows with their string keys consistently renamed (letters swapped, case
  and digits kept) — the output must be the same with the same renaming;
- *latest* (`dedupe`): a newer copy of a kept row — the newer one must be what is kept;
- *doubled* (gold `measures`): every fact row twice — sums and counts double, the rest stays.

Everything here is data in, data out (JSON-encoded values as `inside/rows.py` writes them): the
rows go to a worker, the outputs come back, and the judge compares. A finding names the rule and
shows the fewest rows that break it, for the repair prompt and for the regression test that the
kept version carries.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from lakeforge.tables import METADATA_COLUMNS, TablesFile, TableSpec
from scaffolder.inside.protocol import Call, Frame, Probe, ProbeCall
from scaffolder.judge import frame_problems

MAX_ROWS_SHOWN = 3
_DECIMAL = re.compile(r"decimal\((\d+),\s*(\d+)\)")
# Letters swapped for keys: case kept, so trim/lower/upper commute with the renaming.
_FROM = "abcdefghijklmnopqrstuvwxyz"
_TO = "qwertyuiopasdfghjklzxcvbnm"
_RENAME = str.maketrans(_FROM + _FROM.upper(), _TO + _TO.upper())


def edge_values(kind: str) -> list[Any]:
    """Encoded edge values of one Spark type (null first): what real landed data holds.

    Realistic edges, not the type's limits: an amount of 2**31 - 1 summed twice overflows any
    int column, and no pipeline's tables.yml promises to survive that.
    """
    if kind in ("int", "smallint", "tinyint", "bigint"):
        return [None, 0, 1, -1, 42, 100 if kind == "tinyint" else 1000]
    if kind in ("double", "float"):
        return [None, "0.0", "1.5", "-1.5", "1000000.0", "-0.0", "3.141592653589793"]
    if match := _DECIMAL.fullmatch(kind):
        precision, scale = int(match.group(1)), int(match.group(2))
        unit = Decimal(1).scaleb(-scale)
        digits = precision - scale
        large = (Decimal(10) ** max(digits - 2, 0) - unit) if digits > 0 else unit
        middle = Decimal("12.5") if digits >= 2 else unit
        return [None, *(str(v.quantize(unit)) for v in (Decimal(0), unit, -unit, middle, large, -large))]
    if kind == "string":
        return [None, "", " ", "a", "  padded  ", "Ünïcode ✓ 😀", "NULL", "n/a", "1.5", "x" * 200]
    if kind == "boolean":
        return [None, True, False]
    if kind == "date":
        return [None, "1970-01-01", "2000-02-29", "2026-03-29", "2099-12-31", "1900-01-01"]
    if kind in ("timestamp", "timestamp_ntz"):
        return [
            None,
            "1970-01-01T00:00:00",
            "2026-03-29T01:30:00",
            "2026-10-25T00:59:59.999999",
            "2099-12-31T23:59:59",
            "2000-02-29T12:00:00.000001",
        ]
    if kind.startswith("array<"):
        inner = edge_values(kind[6:-1])
        return [None, [], [inner[1]], [None], inner[1:4]]
    return [None]


@dataclass
class Input:
    """One parameter of transform: its name, declared columns, the columns that identify rows, and
    what its own contract already promises (an upstream table's NOT NULL columns and unique keys;
    a bronze table's landed files promise nothing)."""

    parameter: str
    columns: list[tuple[str, str]]
    keys: list[str] = field(default_factory=list)  # identifiers: the table's keys, join columns
    groups: list[str] = field(default_factory=list)  # the table's group_by columns (kept apart, not renamed)
    not_null: list[str] = field(default_factory=list)
    unique: list[str] = field(default_factory=list)  # the upstream table's own keys


def inputs_of(spec: TableSpec, tables: TablesFile, parameters: list[str]) -> list[Input]:
    if spec.layer == "bronze":
        columns = [(c.name, c.type) for c in spec.source_columns()]
        return [Input(parameters[0], columns, [k for k in spec.keys if k in dict(columns)])]
    found = []
    for parameter, name in zip(parameters, spec.inputs, strict=False):
        upstream = tables.get(name)
        columns = [(c.name, c.type) for c in upstream.schema_]
        keys = [k for k in (*upstream.keys, *spec.keys, *spec.join_on) if k in dict(columns)]
        not_null = [c.name for c in upstream.schema_ if not c.nullable or c.name in upstream.not_null]
        groups = [g for g in spec.group_by if g in dict(columns) and g not in keys]
        found.append(Input(parameter, columns, list(dict.fromkeys(keys)), groups, not_null, list(upstream.keys)))
    return found


def generated_rows(source: Input, count: int, seed: int, key_prefix: str = "") -> list[list[Any]]:
    """`count` rows of edge values, every column walked through its edges, some keys repeated.

    What the input's own contract promises holds: no null in its NOT NULL columns, its own keys
    unique; everything else is fair game (a landed file promises nothing at all).
    """
    rng = random.Random(seed)
    edges = {name: edge_values(kind) for name, kind in source.columns}
    rows = []
    for i in range(count):
        row = []
        for position, (name, kind) in enumerate(source.columns):
            values = edges[name] if name not in source.not_null else edges[name][1:] or [None]
            value = values[(i + position) % len(values)]
            if name in source.keys or (name in source.groups and key_prefix):  # other rows: other groups
                unique = name in source.unique
                value = _key_value(kind, i if unique else (i // 2 if i % 3 else i), key_prefix)  # pairs share a key
                if i % 7 == 6 and name not in source.not_null and not unique:
                    value = None
            row.append(value)
        rows.append(row)
    rng.shuffle(rows)
    return rows


def random_rows(source: Input, count: int, seed: int) -> list[list[Any]]:
    """`count` rows of values drawn for this round only: letters, numbers, dates of each column's
    kind (none of them an edge value a module could look for), keys unique, nothing null."""
    rng = random.Random(seed)
    return [
        [_random_value(kind, rng, i if name in source.keys else None) for name, kind in source.columns]
        for i in range(count)
    ]


def _random_value(kind: str, rng: random.Random, unique: int | None) -> Any:
    letters = "abcdefghijklmnopqrstuvwxyz"
    if kind == "string":
        word = "".join(rng.choice(letters) for _ in range(rng.randint(4, 10)))
        return f"{word}{unique}" if unique is not None else word
    if kind in ("int", "bigint", "smallint", "tinyint"):
        bound = 100 if kind == "tinyint" else 30_000
        return (unique + 1) * rng.randint(2, 90) if unique is not None else rng.randint(-bound, bound)
    if match := _DECIMAL.fullmatch(kind):
        precision, scale = int(match.group(1)), int(match.group(2))
        digits = max(precision - scale - 1, 1)
        whole = unique + 1 if unique is not None else rng.randint(0, 10**digits - 1)
        fraction = rng.randint(0, 10**scale - 1) if scale else 0
        return f"{whole}.{fraction:0{scale}d}" if scale else str(whole)
    if kind in ("double", "float"):
        return f"{rng.randint(-99_999, 99_999) / 100}"
    if kind == "boolean":
        return rng.random() < 0.5
    day = f"{rng.randint(1990, 2030)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if kind == "date":
        return day
    if kind in ("timestamp", "timestamp_ntz"):
        return f"{day}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"
    if kind.startswith("array<"):
        return [_random_value(kind[6:-1], rng, None) for _ in range(rng.randint(1, 3))]
    return edge_values(kind)[-1]


def _key_value(kind: str, n: int, prefix: str) -> Any:
    """Key values: small ones for the contract probe; with a prefix, ones no test row can hold
    (the prefix carries a random token, the numbers a random offset below zero)."""
    offset = 100_000 + int.from_bytes(prefix.encode()[-3:] or b"\0", "big") % 100_000 if prefix else 0
    if kind == "string":
        return f"{prefix or 'k'}-{n}"
    if kind in ("int", "bigint", "smallint", "tinyint"):
        if kind in ("smallint", "tinyint") and prefix:
            return -(n + 1) - (100 if kind == "tinyint" else 10_000)
        return -(n + 1) - offset if prefix else n + 1
    if _DECIMAL.fullmatch(kind):
        return str(Decimal(-(n + 1) - offset))
    if kind == "date":
        return f"{1950 + n % 40}-01-{1 + n % 28:02d}"
    if kind in ("timestamp", "timestamp_ntz"):
        return f"{1950 + n % 40}-01-{1 + n % 28:02d}T00:00:00"
    return edge_values(kind)[1 + n % (len(edge_values(kind)) - 1)]


def frame(source: Input, rows: list[list[Any]]) -> Frame:
    return Frame(columns=source.columns, nullable=[True] * len(source.columns), rows=rows, total=len(rows))


# --- planning ------------------------------------------------------------------------------------------


@dataclass
class Planned:
    """What was sent for one probe call, kept by the judge to read its output."""

    label: str
    kind: str  # contract | hidden | renamed | latest | doubled
    inputs: dict[str, Frame]
    test_output: Frame | None = None  # the output the tests' own call got (metamorphic kinds)
    note: str = ""


def plan(
    spec: TableSpec, tables: TablesFile, parameters: list[str], test_calls: Sequence[Call], seed: int
) -> tuple[Probe, list[Planned]]:
    """The probe calls for one table: a contract call, and metamorphic calls per recorded test call."""
    sources = inputs_of(spec, tables, parameters)
    planned = [
        Planned(
            "contract",
            "contract",
            {s.parameter: frame(s, generated_rows(s, 24, seed + n)) for n, s in enumerate(sources)},
        )
    ]
    if spec.layer == "bronze":
        # Rows that hold none of the fixed edge values above: bronze code that recognises a probe
        # by them (a red-team module kept its wrong values unless the batch held "Ünïcode ✓ 😀")
        # meets landed rows it cannot tell from a file's. Judged as the contract call is.
        planned.append(
            Planned(
                "landed",
                "contract",
                {s.parameter: frame(s, random_rows(s, 12, seed + 50 + n)) for n, s in enumerate(sources)},
            )
        )
    recorded = [c for c in test_calls if c.inputs and c.output is not None and c.output.total > 0][:3]
    for number, call in enumerate(recorded):
        given = _by_parameter(call, parameters)
        if given is None:
            continue
        if spec.layer != "bronze":
            hidden = {}
            for n, s in enumerate(sources):
                mine = given.get(s.parameter)
                if mine is None:
                    break
                shaped = _like(s, mine)  # the test's own columns: its rows and the others must line up
                others = generated_rows(shaped, 12, seed + 100 + n, key_prefix=f"zz{seed % 99991:05d}")
                rows = [*mine.rows, *others]
                random.Random(seed + number).shuffle(rows)
                hidden[s.parameter] = Frame(
                    columns=mine.columns, nullable=[True] * len(mine.columns), rows=rows, total=len(rows)
                )
            else:
                planned.append(Planned(f"hidden-{number}", "hidden", hidden, call.output))
        renamed = _renamed(given, sources)
        if renamed is not None:
            planned.append(
                Planned(f"renamed-{number}", "renamed", renamed[0], call.output, ",".join(sorted(renamed[1])))
            )
        if spec.dedupe is not None and spec.layer != "gold":
            latest = _latest(given, sources[0], spec, call.output)
            if latest is not None:
                planned.append(Planned(f"latest-{number}", "latest", latest[0], call.output, latest[1]))
        if spec.measures and spec.group_by and sources:
            first = given[sources[0].parameter]
            doubled = {
                **given,
                sources[0].parameter: Frame(
                    columns=first.columns, nullable=first.nullable, rows=first.rows * 2, total=first.total * 2
                ),
            }
            planned.append(Planned(f"doubled-{number}", "doubled", doubled, call.output))
    probe = Probe(calls=[ProbeCall(label=p.label, inputs=p.inputs) for p in planned])
    return probe, planned


def _like(source: Input, frame: Frame) -> Input:
    """The input as a test built it: its columns, with what the declared input says about them."""
    names = {name for name, _ in frame.columns}
    return Input(
        source.parameter,
        list(frame.columns),
        [k for k in source.keys if k in names],
        [g for g in source.groups if g in names],
        [c for c in source.not_null if c in names],
        [u for u in source.unique if u in names],
    )


def _by_parameter(call: Call, parameters: list[str]) -> dict[str, Frame] | None:
    assert call.inputs is not None
    found = {}
    for name, value in call.inputs.items():
        if name.startswith("#"):
            index = int(name[1:])
            if index >= len(parameters):
                return None
            found[parameters[index]] = value
        else:
            found[name] = value
    return found


def _renamed(given: dict[str, Frame], sources: list[Input]) -> tuple[dict[str, Frame], set[str]] | None:
    """The same inputs with every string key renamed the same way everywhere; and which columns."""
    columns: set[str] = set()
    renamed = {}
    for source in sources:
        mine = given.get(source.parameter)
        if mine is None:
            return None
        positions = [i for i, (name, kind) in enumerate(mine.columns) if name in source.keys and kind == "string"]
        rows = [[rename(v) if i in positions else v for i, v in enumerate(row)] for row in mine.rows]
        columns |= {mine.columns[i][0] for i in positions}
        renamed[source.parameter] = Frame(columns=mine.columns, nullable=mine.nullable, rows=rows, total=len(rows))
    return (renamed, columns) if columns else None


def rename(value: Any) -> Any:
    return value.translate(_RENAME) if isinstance(value, str) else value


def _latest(
    given: dict[str, Frame], source: Input, spec: TableSpec, output: Frame | None
) -> tuple[dict[str, Frame], str] | None:
    """A copy of a row the tests saw kept, newer by a day: the dedupe must keep the copy instead."""
    assert spec.dedupe is not None
    mine = given.get(source.parameter)
    order_by = spec.dedupe.order_by
    names = [name for name, _ in mine.columns] if mine else []
    if mine is None or output is None or order_by not in names or order_by not in _names(output):
        return None
    at = names.index(order_by)
    kind = dict(mine.columns)[order_by]
    out_names = _names(output)
    keys = [k for k in source.keys if k in names and k in out_names]
    if not keys:
        return None

    def normal(value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    kept = {  # the versions the dedupe kept: (key, order_by) as the output shows them
        (tuple(normal(r[out_names.index(k)]) for k in keys), r[out_names.index(order_by)]) for r in output.rows
    }
    keyed = [
        r for r in mine.rows if r[at] is not None and (tuple(normal(r[names.index(k)]) for k in keys), r[at]) in kept
    ]
    if not keyed or kind not in ("timestamp", "timestamp_ntz", "date", "int", "bigint"):
        return None
    newest = max(keyed, key=lambda r: str(r[at]))
    copy = list(newest)
    copy[at] = _later(copy[at], kind)
    rows = [*mine.rows, copy]
    return {
        **given,
        source.parameter: Frame(columns=mine.columns, nullable=mine.nullable, rows=rows, total=len(rows)),
    }, str(copy[at])


def _later(value: Any, kind: str) -> Any:
    import datetime as dt

    if kind in ("int", "bigint"):
        return int(value) + 1
    if kind == "date":
        return (dt.date.fromisoformat(value) + dt.timedelta(days=1)).isoformat()
    return (dt.datetime.fromisoformat(value) + dt.timedelta(days=1)).isoformat()


# --- judging -------------------------------------------------------------------------------------------


@dataclass
class Finding:
    rule: str  # what broke, in plain words
    label: str
    rows: dict[str, list[list[Any]]] = field(default_factory=dict)  # parameter -> the rows that show it
    columns: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def message(self) -> str:
        shown = "; ".join(
            f"{parameter} rows "
            + ", ".join(_row_text(row, self.columns.get(parameter, [])) for row in rows[:MAX_ROWS_SHOWN])
            + (f" (and {len(rows) - MAX_ROWS_SHOWN} more)" if len(rows) > MAX_ROWS_SHOWN else "")
            for parameter, rows in self.rows.items()
            if rows
        )
        return f"probe: {self.rule}" + (f" — with {shown}" if shown else "")


def _row_text(row: list[Any], columns: list[tuple[str, str]]) -> str:
    names = [name for name, _ in columns] or [str(i) for i in range(len(row))]
    shown = [f"{name}={_short_value(v)}" for name, v in zip(names, row, strict=False)]
    return "{" + ", ".join(shown) + "}"


def _short_value(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, str) and len(value) > 24:
        return repr(value[:21] + "...")
    return repr(value)


def judge(
    spec: TableSpec, planned: Sequence[Planned], calls: Iterable[Call], checks: dict[str, dict[str, int]] | None = None
) -> list[Finding]:
    """What the probe calls' outputs say about the table, one finding per broken rule (first one of each kind)."""
    by_label = {c.test: c for c in calls}
    found: list[Finding] = []
    for sent in planned:
        call = by_label.get(sent.label)
        if call is None:
            found.append(
                Finding(f"transform was not called on the {sent.kind} probe (the run ended early)", sent.label)
            )
            continue
        finding = _judge_one(spec, sent, call, (checks or {}).get(sent.label, {}))
        if finding is not None and not any(f.rule[:60] == finding.rule[:60] for f in found):
            found.append(finding)
    return found


def _judge_one(spec: TableSpec, sent: Planned, call: Call, check_counts: dict[str, int]) -> Finding | None:
    inputs = {p: f.rows for p, f in sent.inputs.items()}
    columns = {p: f.columns for p, f in sent.inputs.items()}
    if call.error or call.output is None:
        rule = f"on rows it did not choose, {call.error or 'transform returned nothing'}"
        return Finding(rule, sent.label, inputs, columns)
    output = call.output
    if sent.kind == "contract":
        # Bronze keeps every landed row: its NOT NULL, keys and checks are production expectations
        # (the pipeline drops or stops on them), so here only its shape, its metadata and the rows.
        problems = frame_problems(output, spec) if spec.layer != "bronze" else _bronze_shape(output, spec)
        broken = [name for name, count in check_counts.items() if count]
        problems += [f"the check {name} fails on {check_counts[name]} output row(s)" for name in broken]
        if spec.layer == "bronze":
            problems += _bronze_keeps_rows(sent, output)
        if problems:
            return Finding(f"on edge rows: {problems[0]}", sent.label, inputs, columns)
        return None
    assert sent.test_output is not None
    test_rows = _hashable_rows(sent.test_output)
    if sent.kind == "hidden":
        keys = [k for k in spec.keys if k in _names(output)]
        got = _hashable_rows(output)
        if keys:
            mine = _by_key(test_rows, _names(sent.test_output), keys)
            theirs = _by_key(got, _names(output), keys)
            tied = _tied_keys(spec, sent.inputs, keys)  # any of its rows is right: the order does not say
            differs = [
                k
                for k, rows in mine.items()
                if _normal_key(k) not in tied and Counter(theirs.get(k, [])) != Counter(rows)
            ]
        else:
            missing = Counter(test_rows) - Counter(got)
            differs = list(missing)
        if differs:
            return Finding(
                "the output for your tests' own rows changed when other rows came with them",
                sent.label,
                inputs,
                columns,
            )
        return None
    if sent.kind == "renamed":
        names = _names(sent.test_output)
        renamed_columns = set(sent.note.split(","))
        key_positions = {i for i, n in enumerate(names) if n in renamed_columns}
        expected = Counter(tuple(rename(v) if i in key_positions else v for i, v in enumerate(r)) for r in test_rows)
        if expected != Counter(_hashable_rows(output)):
            return Finding(
                "the output changed when the keys were renamed (the same rows, other ids): "
                "transform must not depend on the ids your tests use",
                sent.label,
                inputs,
                columns,
            )
        return None
    if sent.kind == "latest":
        assert spec.dedupe is not None
        names = _names(output)
        order_by = spec.dedupe.order_by
        if order_by in names and sent.note not in {str(r[names.index(order_by)]) for r in output.rows}:
            return Finding(
                f"the dedupe did not keep the latest row by {order_by}: a copy one step newer was dropped",
                sent.label,
                inputs,
                columns,
            )
        return None
    if sent.kind == "doubled":
        return _doubled(spec, sent, output, inputs, columns)
    return None


def _bronze_shape(output: Frame, spec: TableSpec) -> list[str]:
    from lakeforge.contract import column_problems

    problems = column_problems(output.columns, spec)
    if problems:
        return problems
    names = _names(output)
    for column in METADATA_COLUMNS:
        declared = next((c for c in spec.schema_ if c.name == column), None)
        required = declared is not None and not declared.nullable and column in names
        if required and any(r[names.index(column)] is None for r in output.rows):
            problems.append(f"transform returns nulls in {column}, which tables.yml declares NOT NULL")
    return problems


def _bronze_keeps_rows(sent: Planned, output: Frame) -> list[str]:
    """Bronze keeps every landed row as it came: same count, and the landed columns unchanged."""
    [landed] = sent.inputs.values()
    if output.total != landed.total:
        return [f"bronze keeps every landed row: {landed.total} landed, transform returned {output.total}"]
    shared = [
        (name, kind) for name, kind in landed.columns if (name, kind) in output.columns and name not in METADATA_COLUMNS
    ]
    if not shared:
        return []
    landed_names, output_names = _names(landed), _names(output)
    before = Counter(tuple(_hashable(r[landed_names.index(n)]) for n, _ in shared) for r in landed.rows)
    after = Counter(tuple(_hashable(r[output_names.index(n)]) for n, _ in shared) for r in output.rows)
    if before != after:
        changed = [
            n
            for n, _ in shared
            if Counter(_hashable(r[landed_names.index(n)]) for r in landed.rows)
            != Counter(_hashable(r[output_names.index(n)]) for r in output.rows)
        ]
        return [f"bronze keeps the landed values as they came: transform changed {', '.join(changed) or 'the rows'}"]
    return []


def _doubled(
    spec: TableSpec, sent: Planned, output: Frame, inputs: dict[str, Any], columns: dict[str, Any]
) -> Finding | None:
    """Every fact row twice: per group, sum and count double; avg, min, max and count_distinct stay."""
    assert sent.test_output is not None
    names = _names(output)
    groups = [g for g in spec.group_by if g in names]
    before = _by_key(_hashable_rows(sent.test_output), _names(sent.test_output), groups)
    after = _by_key(_hashable_rows(output), names, groups)
    for measure in spec.measures:
        if measure.name not in names:
            continue
        at = names.index(measure.name)
        for key, rows in before.items():
            if len(rows) != 1 or len(after.get(key, [])) != 1:
                continue
            old, new = rows[0][at], after[key][0][at]
            if old is None:
                continue
            want = _times_two(old) if measure.agg in ("sum", "count") else old
            if _number(new) != _number(want):
                how = "double" if measure.agg in ("sum", "count") else "stay the same"
                return Finding(
                    f"{measure.name} is {measure.agg}({measure.column}) in tables.yml: with every row of "
                    f"{next(iter(sent.inputs))} twice it must {how}, but went from {old} to {new}",
                    sent.label,
                    inputs,
                    columns,
                )
    return None


def _times_two(value: Any) -> Any:
    number = _number(value)
    return None if number is None else number * 2


def _number(value: Any) -> Any:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return value


def _normal_key(key: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(v.strip() if isinstance(v, str) else v for v in key)


def _tied_keys(spec: TableSpec, inputs: dict[str, Frame], keys: list[str]) -> set[tuple[Any, ...]]:
    """Keys whose latest rows tie on `dedupe.order_by` in the input: which one is kept is not specified."""
    if spec.dedupe is None:
        return set()
    order_by = spec.dedupe.order_by
    tied: set[tuple[Any, ...]] = set()
    for given in inputs.values():
        names = _names(given)
        if order_by not in names or not all(k in names for k in keys):
            continue
        at = names.index(order_by)
        latest: dict[tuple[Any, ...], list[Any]] = {}
        for row in given.rows:
            key = _normal_key(tuple(row[names.index(k)] for k in keys))
            latest.setdefault(key, []).append(row[at])
        for key, stamps in latest.items():
            known = [s for s in stamps if s is not None]
            top = max(known) if known else None
            if len(stamps) > 1 and (top is None or known.count(top) > 1):
                tied.add(key)
    return tied


def _names(frame: Frame) -> list[str]:
    return [name for name, _ in frame.columns]


def _hashable(value: Any) -> Any:
    return tuple(_hashable(v) for v in value) if isinstance(value, list) else value


def _hashable_rows(frame: Frame) -> list[tuple[Any, ...]]:
    return [tuple(_hashable(v) for v in row) for row in frame.rows]


def _by_key(
    rows: list[tuple[Any, ...]], names: list[str], keys: list[str]
) -> dict[tuple[Any, ...], list[tuple[Any, ...]]]:
    positions = [names.index(k) for k in keys if k in names]
    grouped: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}
    for row in rows:
        grouped.setdefault(tuple(row[p] for p in positions), []).append(row)
    return grouped


# --- shrinking a finding to the fewest rows, and the regression test that keeps it fixed ------------------


def shrink_plan(
    finding: Finding, planned: Sequence[Planned], sources: Sequence[Input], spec: TableSpec, limit: int = 40
) -> list[Planned]:
    """Smaller inputs for a contract finding: each row of the first input alone, then the rows that
    share a key, with the other inputs whole. The judge keeps the smallest that breaks the contract.

    Rows a regression test can carry come first (see `_pinnable`): among equally small subsets the
    first one found is kept, so a finding shows a null in a NOT NULL landed column only when no
    other row shows it."""
    sent = next((p for p in planned if p.label == finding.label), None)
    if sent is None or sent.kind != "contract" or not sources:
        return []
    first = sources[0]
    whole = sent.inputs[first.parameter]
    names = [name for name, _ in whole.columns]
    subsets: list[list[list[Any]]] = [[row] for row in whole.rows]
    keys = [names.index(k) for k in first.keys if k in names]
    if keys:
        groups: dict[tuple[Any, ...], list[list[Any]]] = {}
        for row in whole.rows:
            groups.setdefault(tuple(_hashable(row[i]) for i in keys), []).append(row)
        subsets += [rows for rows in groups.values() if len(rows) > 1]
    subsets.sort(key=lambda rows: not _pinnable(spec, {first.parameter: rows}, {first.parameter: whole.columns}))
    found = []
    for number, rows in enumerate(subsets[:limit]):
        inputs = {
            **sent.inputs,
            first.parameter: Frame(columns=whole.columns, nullable=whole.nullable, rows=rows, total=len(rows)),
        }
        found.append(Planned(f"shrink-{number}", "contract", inputs))
    return found


def shrunk(
    spec: TableSpec,
    finding: Finding,
    tries: Sequence[Planned],
    calls: Iterable[Call],
    checks: dict[str, dict[str, int]],
) -> Finding:
    """The finding with the fewest rows of the first input that still break the contract."""
    by_label = {c.test: c for c in calls}
    best: Finding | None = None
    for attempt in tries:
        call = by_label.get(attempt.label)
        if call is None:
            continue
        again = _judge_one(spec, attempt, call, checks.get(attempt.label, {}))
        if again is None:
            continue
        size = sum(len(rows) for rows in again.rows.values())
        if best is None or size < sum(len(rows) for rows in best.rows.values()):
            best = again
    if best is None:
        return finding
    return Finding(finding.rule, finding.label, best.rows, best.columns)


def regression_test(spec: TableSpec, finding: Finding, parameters: Sequence[str], number: int) -> str | None:
    """A test that feeds the finding's rows and asserts the contract (bronze: every landed row kept).

    It goes into the table's test file from the next attempt on, so a fix stays fixed; it is
    scaffold's code, written from data, inside the safe subset like any generated test.
    """
    if not finding.rows or not all(p in finding.rows for p in parameters):
        return None
    if any(len(row) != len(finding.columns[p]) for p in parameters for row in finding.rows[p]):
        return None
    if not _pinnable(spec, finding.rows, finding.columns):
        return None
    lines = [
        "",
        "",
        f"def test_{spec.name}_probe_regression_{number}(spark):",
        f'    """Added by scaffold: rows its contract probe found breaking tables.yml ({_one_line(finding.rule)[:90]})."""',
        "    import datetime",
        "    from decimal import Decimal",
        "",
        "    from lakeforge.testing import assert_contract, assert_landed_rows_kept, make_df",
        "",
    ]
    for parameter in parameters:
        rows = finding.rows[parameter]
        columns = finding.columns[parameter]
        literal = ", ".join(_row_literal(row, columns) for row in rows)
        ddl = ", ".join(f"{name} {kind.upper()}" for name, kind in columns)
        lines.append(f'    {parameter} = make_df(spark, [{literal}], "{ddl}")')
    call = ", ".join(f"{p}={p}" for p in parameters)
    lines.append(f"    result = transform({call})")
    if spec.layer == "bronze":
        lines.append(f"    assert_landed_rows_kept(result, {parameters[0]})")
    else:
        lines.append(f'    assert_contract(result, "{spec.name}")')
    return "\n".join(lines) + "\n"


def _pinnable(spec: TableSpec, rows: dict[str, list[list[Any]]], columns: dict[str, list[tuple[str, str]]]) -> bool:
    """Whether a test that feeds these rows can pass at all.

    Bronze keeps every landed row and value as it came, and every test call's output is checked
    against tables.yml's NOT NULL columns and keys; a landed null in such a column, or two landed
    rows with one key, breaks one or the other whatever `transform` does. The probe lets them pass
    (for bronze they are production expectations), so a regression test must not pin them: the
    right code would never be kept again.
    """
    if spec.layer != "bronze":
        return True
    required = set(spec.not_null_columns())
    for parameter, frame_rows in rows.items():
        names = [name for name, _ in columns.get(parameter, [])]
        at = [i for i, name in enumerate(names) if name in required]
        if any(row[i] is None for row in frame_rows for i in at if i < len(row)):
            return False
        if spec.keys and all(k in names for k in spec.keys):
            keys = [tuple(_hashable(row[names.index(k)]) for k in spec.keys) for row in frame_rows]
            if len(set(keys)) < len(keys):
                return False
    return True


def _one_line(text: str) -> str:
    return " ".join(text.replace('"', "'").split())


def _row_literal(row: list[Any], columns: list[tuple[str, str]]) -> str:
    if len(row) != len(columns):
        raise ValueError("a row that does not match its columns")
    values = [_literal(value, kind) for value, (_, kind) in zip(row, columns, strict=True)]
    return "(" + ", ".join(values) + ("," if len(values) == 1 else "") + ")"


def _literal(value: Any, kind: str) -> str:
    """Python source for one encoded value of a declared type (what `inside/rows.decode` would build)."""
    if value is None:
        return "None"
    if kind.startswith("array<"):
        return "[" + ", ".join(_literal(v, kind[6:-1]) for v in value) + "]"
    if kind in ("int", "bigint", "smallint", "tinyint"):
        return str(int(value))
    if kind in ("double", "float"):
        return repr(float(value))
    if _DECIMAL.fullmatch(kind):
        return f'Decimal("{value}")'
    if kind == "boolean":
        return "True" if value else "False"
    if kind == "date":
        year, month, day = str(value).split("-")
        return f"datetime.date({int(year)}, {int(month)}, {int(day)})"
    if kind in ("timestamp", "timestamp_ntz"):
        import datetime as dt

        stamp = dt.datetime.fromisoformat(str(value))
        parts = [stamp.year, stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second, stamp.microsecond]
        return f"datetime.datetime({', '.join(map(str, parts))})"
    return repr(str(value))
