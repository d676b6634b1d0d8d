"""Profiling a local sample (CSV, JSON lines, parquet; a file or a folder) on local Spark.

The schema Spark infers (CSV with a header and `inferSchema`), mapped to tables.yml types, and per
column the null fraction, an approximate distinct count, min/max, a few frequent values and
whether it could be a key (unique and never null). One aggregation computes all of it: a CSV
costs the inference pass plus that job, JSON and parquet the same or less.

Sample values are real data: token-shaped strings are redacted, but names or emails are not;
they go into the prompt like the rest of the profile.
"""

from __future__ import annotations

import contextlib
import getpass
import math
import os
import re
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakeforge.errors import IdentifierError
from lakeforge.identifiers import check_identifier
from scaffolder.errors import ScaffoldError, first_line
from scaffolder.profiling.model import ColumnProfile, TableProfile, Value
from scaffolder.redact import Redactor

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import DataType

CORRUPT = "_corrupt_record"
SAMPLES = 3  # frequent values kept per column
SAMPLE_CHARS = 60  # a longer value is cut: the profile goes into a token-budgeted prompt
TOP_K_TRACKED = 1000  # approx_top_k's memory bound per column
SUFFIX_FORMATS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json", ".ndjson": "json"}
SUFFIX_FORMATS[".parquet"] = "parquet"
PROFILED_FORMATS = ("csv", "json", "parquet")


def spark_log_path() -> Path:
    """Where the profiler's Spark JVM writes its console output (its startup banner and logs)."""
    with contextlib.suppress(Exception):
        return Path(tempfile.gettempdir()) / f"scaffold-spark-{getpass.getuser()}.log"
    return Path(tempfile.gettempdir()) / "scaffold-spark.log"


@contextlib.contextmanager
def local_spark() -> Iterator[SparkSession]:
    """A local session whose JVM writes to `spark_log_path()`, not to this terminal.

    The JVM inherits the process's stdout and stderr when it starts; pointing both at the log for
    those seconds keeps Spark's banner and its error logs (a bad file logs a stack trace) out of
    the CLI's one-line errors and diff. Python's own streams are put back right after.
    """
    from lakeforge.session import SparkSessionFactory

    log = spark_log_path()
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    try:
        with log.open("wb") as handle:
            os.dup2(handle.fileno(), 1)
            os.dup2(handle.fileno(), 2)
            try:
                spark = SparkSessionFactory.create_local(app_name="scaffold-profile")
            except Exception as exc:  # no Java, no pyspark, a JVM that would not start
                raise ScaffoldError(
                    f"local Spark could not start ({first_line(exc)}); it needs Java 17 or 21 "
                    f"(or `pip install 'lakeforge[jdk]'`); Spark's log: {log}"
                ) from None
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
    finally:
        os.close(saved[0])
        os.close(saved[1])
    try:
        spark.sparkContext.setLogLevel("OFF")
        yield spark
    finally:
        spark.stop()


def detect_format(path: Path) -> str | None:
    """csv, json or parquet from the file's suffix (a folder: its data files' suffixes, which must agree)."""
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file() and not _hidden(p, path)]
    found = set()
    for file in files:
        suffixes = [s.lower() for s in file.suffixes]
        if suffixes and suffixes[-1] in (".gz", ".bz2", ".zst", ".snappy", ".lz4", ".deflate"):
            suffixes = suffixes[:-1]
        if suffixes and suffixes[-1] in SUFFIX_FORMATS:
            found.add(SUFFIX_FORMATS[suffixes[-1]])
    if len(found) > 1:
        raise ScaffoldError(
            f"{path} holds {' and '.join(sorted(found))} files: profile one format at a time (a file or its own folder)"
        )
    return found.pop() if found else None


def _hidden(file: Path, root: Path) -> bool:
    """Spark skips files and folders whose names start with `.` or `_` (`_SUCCESS`, `.crc`)."""
    return any(part.startswith((".", "_")) for part in file.relative_to(root).parts)


def _reader_options(fmt: str, options: Mapping[str, str]) -> dict[str, str]:
    given = {k: str(v) for k, v in options.items()}
    if fmt == "csv":
        return {"header": "true", **given, "inferSchema": "true", "mode": "PERMISSIVE"}
    if fmt == "json":
        return {"inferTimestamp": "true", **given, "mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT}
    return given


def read_sample(spark: SparkSession, path: Path, fmt: str, options: Mapping[str, str], label: str) -> DataFrame:
    """The sample as the pipeline would read it, with a `_corrupt_record` column for CSV and JSON."""
    from pyspark.sql import types as T

    if fmt not in PROFILED_FORMATS:
        raise ScaffoldError(
            f"{label}: profiling reads {', '.join(PROFILED_FORMATS)}, not {fmt}; profile a sample of one"
        )
    opts = _reader_options(fmt, options)
    try:
        df = spark.read.format(fmt).options(**opts).load(str(path))
        if fmt == "csv":
            # Inference sees every value, so nothing fails to parse afterwards; a second, lazy read
            # with the inferred schema marks the rows Spark cannot split into the header's columns.
            fields = [f for f in df.schema.fields if f.name != CORRUPT]
            schema = T.StructType([*fields, T.StructField(CORRUPT, T.StringType())])
            opts = {k: v for k, v in opts.items() if k != "inferSchema"} | {"columnNameOfCorruptRecord": CORRUPT}
            df = spark.read.format(fmt).options(**opts).schema(schema).load(str(path))
    except Exception as exc:
        raise ScaffoldError(
            f"{label}: Spark cannot read it as {fmt} ({first_line(exc)}); check the file (Spark's log: {spark_log_path()})"
        ) from None
    if not [f for f in df.schema.fields if f.name != CORRUPT]:
        raise ScaffoldError(f"{label}: no columns found; every record is malformed {fmt} or the sample is empty")
    return df


def table_type(data_type: DataType) -> tuple[str, str]:
    """The tables.yml type for a Spark type, and a note when it is a stand-in (a struct read as text)."""
    from pyspark.sql import types as T

    simple = {
        T.StringType: "string",
        T.IntegerType: "int",
        T.LongType: "bigint",
        T.ShortType: "smallint",
        T.ByteType: "tinyint",
        T.DoubleType: "double",
        T.FloatType: "float",
        T.BooleanType: "boolean",
        T.DateType: "date",
        T.TimestampType: "timestamp",
        T.TimestampNTZType: "timestamp_ntz",
        T.BinaryType: "binary",
    }
    for cls, name in simple.items():
        if isinstance(data_type, cls):
            return name, ""
    if isinstance(data_type, T.DecimalType):
        return f"decimal({data_type.precision},{data_type.scale})", ""
    if isinstance(data_type, T.ArrayType):
        inner, note = table_type(data_type.elementType)
        return f"array<{inner}>", note
    if isinstance(data_type, (T.CharType, T.VarcharType, T.NullType)):
        return "string", ""
    what = data_type.typeName()
    return "string", f"{what} kept as its JSON text: tables.yml has no {what} type"


def _text_type(data_type: DataType) -> bool:
    """Types whose stats are taken on their JSON text (no order, or no distinct, in Spark)."""
    from pyspark.sql import types as T

    return isinstance(data_type, (T.StructType, T.MapType, T.ArrayType, T.VariantType, T.BinaryType))


def _ordered(data_type: DataType) -> bool:
    from pyspark.sql import types as T

    return not (_text_type(data_type) or isinstance(data_type, (T.NullType, T.CalendarIntervalType)))


_REDACTOR = Redactor()


def _json_value(value: Any) -> Value | None:
    """A statistic as JSON: numbers and booleans as they are, dates and decimals as text, long text cut."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (datetime, date)):
        text = value.isoformat()
    elif isinstance(value, Decimal):
        text = str(value)
    elif isinstance(value, (bytes, bytearray)):
        text = bytes(value).hex()
    else:
        text = str(value)
    text = _REDACTOR.text(text)
    return text if len(text) <= SAMPLE_CHARS else text[: SAMPLE_CHARS - 1] + "…"


def _column(name: str) -> Any:
    from pyspark.sql import functions as F

    return F.col("`" + name.replace("`", "``") + "`")


def _top_k(value: Any) -> Any:
    """approx_top_k, bounded memory; it counts nulls too, so one more than kept is asked for."""
    from pyspark.sql import functions as F

    return F.call_function("approx_top_k", value, F.lit(SAMPLES + 1), F.lit(TOP_K_TRACKED))


def _frequent(items: Sequence[Any] | None) -> list[Value]:
    values = [_json_value(item["item"]) for item in items or [] if item["item"] is not None]
    return [v for v in values if v is not None][:SAMPLES]


def profile_dataframe(
    df: DataFrame, table: str, source: str, fmt: str, rename: Mapping[str, str] | None = None
) -> TableProfile:
    """Every statistic in one aggregation (one Spark action)."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    fields = [f for f in df.schema.fields if f.name != CORRUPT]
    has_corrupt = len(fields) < len(df.schema.fields)
    good = _column(CORRUPT).isNull() if has_corrupt else F.lit(True)
    aggregates = [F.count(F.lit(1)).alias("rows"), F.count(F.when(good, F.lit(1))).alias("good")]
    if has_corrupt:
        aggregates.append(_top_k(_column(CORRUPT)).alias("bad"))
    for i, f in enumerate(fields):
        value = F.when(good, _column(f.name))
        if isinstance(f.dataType, (T.DateType, T.TimestampType, T.TimestampNTZType)):
            # as Spark prints them (session time zone), not as this Python process's clock would
            value = F.when(good, _column(f.name).cast("string"))
        elif _text_type(f.dataType):
            value = F.when(
                good, F.base64(_column(f.name)) if isinstance(f.dataType, T.BinaryType) else F.to_json(_column(f.name))
            )
        aggregates += [
            F.count(value).alias(f"n{i}"),
            F.approx_count_distinct(value).alias(f"a{i}"),
            F.count_distinct(value).alias(f"d{i}"),
            _top_k(value).alias(f"t{i}"),
        ]
        if _ordered(f.dataType):
            aggregates += [F.min(value).alias(f"lo{i}"), F.max(value).alias(f"hi{i}")]
    try:
        row = df.agg(*aggregates).collect()[0].asDict()
    except Exception as exc:
        raise ScaffoldError(
            f"{source}: Spark could not read every record as {fmt} ({first_line(exc)}); check the file "
            f"(Spark's log: {spark_log_path()})"
        ) from None
    rows, well_formed = int(row["rows"]), int(row["good"])
    columns, keys = [], []
    for i, f in enumerate(fields):
        type_name, note = table_type(f.dataType)
        name = (rename or {}).get(f.name, f.name)
        if name != f.name:
            note = "; ".join(filter(None, [f"the header says {f.name!r}", note]))
        present = int(row[f"n{i}"])
        distinct = int(row[f"d{i}"])
        if well_formed and present == well_formed == distinct and type_name not in ("double", "float", "boolean"):
            keys.append(name)
        columns.append(
            ColumnProfile(
                name=name,
                type=type_name,
                source_type=f.dataType.simpleString(),
                null_fraction=round(1 - present / well_formed, 4) if well_formed else None,
                approx_distinct=int(row[f"a{i}"]),
                min=_json_value(row.get(f"lo{i}")),
                max=_json_value(row.get(f"hi{i}")),
                samples=_frequent(row[f"t{i}"]),
                note=note,
            )
        )
    return TableProfile(
        table=table,
        source=source,
        kind="files",
        format=fmt,
        rows=rows,
        bad_rows=rows - well_formed,
        bad_row_examples=[str(v) for v in _frequent(row.get("bad"))],
        candidate_keys=keys,
        columns=columns,
    )


def profile_files(
    spark: SparkSession,
    path: Path,
    table: str,
    fmt: str | None = None,
    options: Mapping[str, str] | None = None,
    label: str | None = None,
) -> TableProfile:
    """Read a local sample and profile it; CSV headers that are no column names get one (noted)."""
    label = label or str(path)
    if not path.exists():
        raise ScaffoldError(f"{label}: no such file or folder")
    detected = detect_format(path)
    if fmt is None:
        fmt = detected
        if fmt is None:
            raise ScaffoldError(
                f"{label}: no .csv, .json/.jsonl or .parquet files to tell the format from; "
                "add the table with --format first, or rename the files"
            )
    elif detected is not None and detected != fmt:
        raise ScaffoldError(
            f"{label} holds {detected} files but tables.yml reads table {table!r} as {fmt}: "
            f"fix its source.format, or profile a {fmt} sample"
        )
    df = read_sample(spark, path, fmt, options or {}, label)
    rename = _column_names(df, fmt, label)
    return profile_dataframe(df, table, label, fmt, rename)


def _column_names(df: DataFrame, fmt: str, label: str) -> dict[str, str]:
    """tables.yml names for the sample's columns: CSV is read by position, so a header can be renamed;
    JSON and parquet are read by name, so a bad name is an error to fix in the data."""
    rename: dict[str, str] = {}
    for f in df.schema.fields:
        if f.name == CORRUPT:
            continue
        try:
            check_identifier(f.name, "column name")
        except IdentifierError as exc:
            if fmt != "csv":
                raise ScaffoldError(
                    f"{label}: {exc}; tables.yml cannot name it and {fmt} is read by name: rename it in the data"
                ) from None
            suggestion = re.sub(r"[^a-z0-9_]+", "_", f.name.strip().lower()).strip("_") or f"column_{len(rename)}"
            rename[f.name] = f"c_{suggestion}" if suggestion[0].isdigit() else suggestion
    return rename
