"""`scaffold profile`: the profiling agent. Infer a table's schema from data and keep its statistics.

Two sources:

- a local sample (CSV, JSON lines, parquet; a file or a folder), read with local Spark: the
  schema Spark infers (CSV with a header and `inferSchema`), mapped to tables.yml types, and per
  column the null fraction, an approximate distinct count, min/max, a few frequent values and
  whether it could be a key (unique and never null). One aggregation computes all of it: a CSV
  costs the inference pass plus that job, JSON and parquet the same or less.
- a Unity Catalog table (`catalog.schema.table`): its columns, types, nullability and comments,
  fetched with databricks-sdk (`tables.get`). Unity Catalog keeps no column statistics there, so
  the profile holds the schema only.

The schema goes into the table's entry in tables.yml, edited as text (only the entry's `schema:`
lines change: the file's comments and the other entries stay byte for byte), after the whole
file is validated; the caller decides whether to write it (`--yes`) or only show the diff. The
statistics go to `.scaffold/profiles/<table>.json` (`TableProfile`), which the prompt builder
quotes to the model. The file holds no timestamp, so profiling the same data twice gives the
same prompt and `scaffold fill` reuses its cached reply.

Sample values are real data: token-shaped strings are redacted, but names or emails are not;
they go into the prompt like the rest of the profile.
"""

from __future__ import annotations

import contextlib
import difflib
import getpass
import logging
import math
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, Field

from lakeforge.errors import ConfigError, IdentifierError, LakeforgeError
from lakeforge.identifiers import check_identifier
from lakeforge.tables import INGESTED_AT, METADATA_COLUMNS, SOURCE_FILE, TableSpec, check_type, parse_tables
from scaffolder.errors import ScaffoldError
from scaffolder.project import Project
from scaffolder.redact import Redactor
from scaffolder.writer import atomic_write, edited_by_person, load_manifest, save_manifest, write_tracked

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import DataType

PROFILES_DIR = ".scaffold/profiles"
CORRUPT = "_corrupt_record"
SAMPLES = 3  # frequent values kept per column
SAMPLE_CHARS = 60  # a longer value is cut: the profile goes into a token-budgeted prompt
TOP_K_TRACKED = 1000  # approx_top_k's memory bound per column
UC_RETRY_SECONDS = 10  # databricks-sdk retries an unreachable host this long (its default is 300)
SUFFIX_FORMATS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json", ".ndjson": "json"}
SUFFIX_FORMATS[".parquet"] = "parquet"
PROFILED_FORMATS = ("csv", "json", "parquet")
_UC_NAME = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")

Value = bool | int | float | str


class ColumnProfile(BaseModel):
    """One column: its tables.yml type and what the data says about it."""

    name: str
    type: str = Field(description="the tables.yml type")
    source_type: str = Field(description="the type as the source declares or Spark inferred it")
    nullable: bool | None = Field(default=None, description="declared by Unity Catalog; None for files")
    comment: str = ""
    null_fraction: float | None = None
    approx_distinct: int | None = None
    min: Value | None = None
    max: Value | None = None
    samples: list[Value] = Field(default_factory=list, description="frequent values, most frequent first")
    note: str = ""


class TableProfile(BaseModel):
    """`.scaffold/profiles/<table>.json`."""

    version: Literal[1] = 1
    table: str
    source: str = Field(description="the sample's path (relative to the repo when inside it) or catalog.schema.table")
    kind: Literal["files", "unity-catalog"]
    format: str | None = None
    rows: int | None = None
    bad_rows: int | None = Field(default=None, description="records Spark could not parse (stats leave them out)")
    bad_row_examples: list[str] = Field(default_factory=list)
    candidate_keys: list[str] = Field(default_factory=list, description="unique and never null in the sample")
    columns: list[ColumnProfile]


@dataclass
class ProfileResult:
    table: str
    profile: TableProfile
    profile_path: str
    diff: str  # unified diff of tables.yml; empty when it already says this
    applied: bool
    notes: list[str] = field(default_factory=list)
    spark_jobs: int | None = None


# Reading ---------------------------------------------------------------------------------------


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
                    f"local Spark could not start ({_first_line(exc)}); it needs Java 17 or 21 "
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


def _first_line(exc: BaseException) -> str:
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0].strip()
    java = getattr(exc, "java_exception", None)
    if java is not None:  # py4j's own text is "An error occurred while calling o57.load."
        with contextlib.suppress(Exception):
            cause = java
            while cause is not None:  # the innermost cause says it best ("... is not a Parquet file")
                message = cause.getMessage()
                if message:
                    text = str(message).strip().splitlines()[0].strip()
                cause = cause.getCause()
    return text if len(text) <= 300 else text[:297] + "..."


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
            f"{label}: Spark cannot read it as {fmt} ({_first_line(exc)}); check the file (Spark's log: {spark_log_path()})"
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
            f"{source}: Spark could not read every record as {fmt} ({_first_line(exc)}); check the file "
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
    rename = {}
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


# Unity Catalog ---------------------------------------------------------------------------------

_UC_TYPES = {
    "BOOLEAN": "boolean",
    "BYTE": "tinyint",
    "SHORT": "smallint",
    "INT": "int",
    "LONG": "bigint",
    "FLOAT": "float",
    "DOUBLE": "double",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP_NTZ": "timestamp_ntz",
    "STRING": "string",
    "CHAR": "string",
    "BINARY": "binary",
}


def is_uc_name(target: str) -> bool:
    return bool(_UC_NAME.fullmatch(target)) and Path(target).suffix.lower() not in SUFFIX_FORMATS


@contextlib.contextmanager
def _sdk_quiet() -> Iterator[None]:
    """The SDK logs its retries and host-metadata fallbacks to stderr; the one-line error says what failed."""
    logger = logging.getLogger("databricks.sdk")
    saved = logger.propagate
    quiet = logging.NullHandler()
    logger.addHandler(quiet)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(quiet)
        logger.propagate = saved


def profile_uc_table(full_name: str, table: str, retry_timeout_seconds: int = UC_RETRY_SECONDS) -> TableProfile:
    """The table's columns from Unity Catalog (databricks-sdk unified auth: DATABRICKS_* or ~/.databrickscfg)."""
    try:
        from databricks.sdk import WorkspaceClient
        from databricks.sdk.core import Config
        from databricks.sdk.errors import DatabricksError, NotFound, PermissionDenied
    except ImportError:
        raise ScaffoldError("databricks-sdk is not installed: `pip install databricks-sdk`") from None
    fix = "check DATABRICKS_HOST / DATABRICKS_TOKEN or run `databricks auth login`"
    host = os.environ.get("DATABRICKS_HOST") or "the workspace"
    try:
        with _sdk_quiet():
            config = Config(retry_timeout_seconds=retry_timeout_seconds)
            host = config.host or host
            info = WorkspaceClient(config=config).tables.get(full_name)
    except NotFound as exc:
        raise ScaffoldError(
            f"Unity Catalog table {full_name} not found ({_first_line(exc)}); check the name and that you may USE it"
        ) from None
    except PermissionDenied as exc:
        raise ScaffoldError(
            f"Unity Catalog table {full_name}: permission denied ({_first_line(exc)}); "
            "ask for USE CATALOG, USE SCHEMA and SELECT"
        ) from None
    except DatabricksError as exc:
        raise ScaffoldError(f"Unity Catalog table {full_name}: {_first_line(exc)}; {fix}") from None
    except (TimeoutError, OSError) as exc:
        cause = exc.__cause__ or exc.__context__ or exc
        raise ScaffoldError(
            f"cannot reach the Databricks workspace {host} to read {full_name} ({_first_line(cause)}); {fix}"
        ) from None
    except ValueError as exc:  # no host or credentials configured
        raise ScaffoldError(f"no Databricks workspace configured ({_first_line(exc)}); {fix}") from None
    columns = []
    for column in sorted(info.columns or [], key=lambda c: c.position if c.position is not None else 0):
        name = (column.name or "").lower()
        try:
            check_identifier(name, "column name")
        except IdentifierError as exc:
            raise ScaffoldError(f"Unity Catalog table {full_name}: {exc}; tables.yml cannot name it") from None
        type_name, note = _uc_type(column)
        columns.append(
            ColumnProfile(
                name=name,
                type=type_name,
                source_type=column.type_text or "",
                nullable=column.nullable if column.nullable is not None else True,
                comment=column.comment or "",
                note=note,
            )
        )
    if not columns:
        raise ScaffoldError(
            f"Unity Catalog table {full_name} has no columns to profile (is it a view without a schema?)"
        )
    return TableProfile(table=table, source=full_name, kind="unity-catalog", columns=columns)


def _uc_type(column: Any) -> tuple[str, str]:
    text = (column.type_text or "").strip()
    with contextlib.suppress(ValueError):
        return check_type(text), ""
    kind = column.type_name.value if column.type_name is not None else ""
    if kind == "DECIMAL" and column.type_precision is not None:
        return f"decimal({column.type_precision},{column.type_scale or 0})", ""
    if kind in _UC_TYPES:
        return _UC_TYPES[kind], ""
    return "string", f"{text or kind.lower()} kept as its JSON text: tables.yml has no such type"


# tables.yml --------------------------------------------------------------------------------------


def landing_root(project: Project) -> Path:
    """The local environment's landing root (config/local.yaml), data/landing when there is none."""
    from lakeforge.config import ConfigLoader

    config_dir = project.root / "config"
    if not (config_dir / "local.yaml").is_file():
        return project.root / "data" / "landing"
    root = ConfigLoader.load("local", config_dir).landing_root
    if "://" in root:
        raise ScaffoldError(
            f"config/local.yaml: landing_root {root!r} is not a local folder; profile a sample path instead"
        )
    return Path(root)


def schema_columns(profile: TableProfile, old: TableSpec | None, layer: str) -> list[dict[str, Any]]:
    """The entry's new `schema:`: the profiled columns (a file sample cannot prove NOT NULL, so a
    column keeps what tables.yml said about it), then bronze's ingestion metadata columns."""
    before = {c.name: c for c in old.schema_} if old else {}
    columns = []
    for p in profile.columns:
        o = before.get(p.name)
        nullable = p.nullable if p.nullable is not None else (o.nullable if o else True)
        column: dict[str, Any] = {"name": p.name, "type": p.type}
        if not nullable:
            column["nullable"] = False
        comment = p.comment or (o.comment if o else "")
        if comment:
            column["comment"] = comment
        columns.append(column)
    if layer == "bronze":
        for name in METADATA_COLUMNS:
            if name in {c["name"] for c in columns}:
                continue
            if name in before:
                columns.append(before[name].model_dump(exclude_defaults=True))
            else:
                columns.append(
                    {"name": INGESTED_AT, "type": "timestamp", "nullable": False}
                    if name == INGESTED_AT
                    else {"name": SOURCE_FILE, "type": "string"}
                )
    return columns


_BREAKS = ("\r\n", "\r", "\n", "\x85", "\u2028", "\u2029")  # PyYAML's line breaks: its marks count these
_YAML_LINES = re.compile(r"[^\r\n\x85\u2028\u2029]*(?:\r\n|[\r\n\x85\u2028\u2029]|$)")


def _true_end(node: yaml.Node) -> yaml.Mark:
    """Where a node's own text ends (a block collection's end mark is the next token's start)."""
    if isinstance(node, yaml.ScalarNode) or getattr(node, "flow_style", False) or not node.value:
        return node.end_mark
    last = node.value[-1]
    return _true_end(last[1] if isinstance(node, yaml.MappingNode) else last)


def _entry_node(text: str, table: str) -> yaml.MappingNode:
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        raise ScaffoldError(f"tables.yml is not valid YAML ({_first_line(exc)}); fix it first") from None
    if isinstance(root, yaml.MappingNode):
        for key, value in root.value:
            if key.value == "tables" and isinstance(value, yaml.SequenceNode):
                for item in value.value:
                    if isinstance(item, yaml.MappingNode) and any(
                        k.value == "name" and isinstance(v, yaml.ScalarNode) and v.value == table for k, v in item.value
                    ):
                        return item
    raise ScaffoldError(f"table {table!r} is not in tables.yml")


def replace_schema(text: str, table: str, columns: Sequence[Mapping[str, Any]]) -> str:
    """tables.yml with the entry's `schema:` lines replaced by `columns`, every other line kept."""
    from scaffolder.add import _flow

    entry = _entry_node(text, table)
    if entry.flow_style:
        raise ScaffoldError(
            f"tables.yml: table {table!r} is written as one {{...}} mapping; write it as a block "
            "(one key a line, like `scaffold add` does) so its schema can be edited"
        )
    lines = [match.group(0) for match in _YAML_LINES.finditer(text) if match.group(0)]
    eol = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    pair = next(((k, v) for k, v in entry.value if k.value == "schema"), None)
    if pair is not None:
        key, value = pair
        first = key.start_mark.line
        prefix = lines[first][: key.start_mark.column]
        indent = key.start_mark.column
        end = _true_end(value)
        last = end.line - 1 if end.column == 0 and end.line > first else end.line
        rest = lines[last][end.column :] if last == end.line else ""
        if rest.strip() and not rest.strip().startswith("#"):
            raise ScaffoldError(
                f"tables.yml: table {table!r} has more on the line where its schema ends; "
                "put the next key on its own line"
            )
    else:  # no schema yet: insert one after the entry's last line
        indent = entry.value[0][0].start_mark.column
        prefix = " " * indent
        end = _true_end(entry)
        first = (end.line if end.column else end.line - 1) + 1
        last = first - 1  # replace no line
    if first >= len(lines) and lines and not lines[-1].endswith(_BREAKS):
        lines[-1] += eol  # the block goes after a last line that had no line break
    block = [f"{prefix}schema:{eol}"] + [f"{' ' * (indent + 2)}- {_flow(dict(c))}{eol}" for c in columns]
    return "".join(lines[:first] + block + lines[last + 1 :])


def unified_diff(before: str, after: str, name: str = "tables.yml") -> str:
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True), after.splitlines(keepends=True), f"a/{name}", f"b/{name}"
        )
    )


def save_profile(project: Project, profile: TableProfile) -> str:
    rel = f"{PROFILES_DIR}/{profile.table}.json"
    atomic_write(project.root / rel, profile.model_dump_json(indent=2) + "\n")
    return rel


def _source_label(project: Project, path: Path) -> str:
    path = path.resolve()
    with contextlib.suppress(ValueError):
        return path.relative_to(project.root).as_posix()
    return str(path)


def _bronze_source(project: Project, spec: TableSpec, root: Path | None = None) -> Path:
    assert spec.source is not None
    source = Path(spec.source.path)
    return source if source.is_absolute() else (root or landing_root(project)) / source


def _table_reading(project: Project, specs: Sequence[TableSpec], path: Path) -> str | None:
    try:
        root = landing_root(project)
    except (LakeforgeError, ScaffoldError):
        return None  # a broken config/local.yaml: the name comes from the path (doctor reports the config)
    wanted = path.resolve()
    return next((t.name for t in specs if t.source and _bronze_source(project, t, root).resolve() == wanted), None)


def profile_table(
    project: Project,
    target: str,
    table: str | None = None,
    apply: bool = False,
    spark: SparkSession | None = None,
    retry_timeout_seconds: int = UC_RETRY_SECONDS,
    progress: Callable[[str], None] | None = None,
) -> ProfileResult:
    """Profile a sample path, a Unity Catalog table or a bronze table's landed files into an entry.

    `spark`: a session to use (tests share one); else a local one is started and stopped here.
    Nothing is written when anything fails; tables.yml only with `apply`. `progress`: told each step.
    """
    notify = progress or (lambda event: None)
    tables_text = project.tables_path.read_text(encoding="utf-8")
    try:
        tables = parse_tables(yaml.safe_load(tables_text), "tables.yml")
    except yaml.YAMLError as exc:
        raise ScaffoldError(f"tables.yml is not valid YAML ({_first_line(exc)}); fix it first") from None
    names = {t.name: t for t in tables.tables}
    path = Path(target).expanduser()
    notes: list[str] = []
    if path.exists():
        kind = "files"
        if table is None:  # the bronze table whose source this is, else the file's or folder's name
            table = _table_reading(project, tables.tables, path) or re.sub(r"\.[^/]*$", "", path.resolve().name)
    elif is_uc_name(target):
        kind = "unity-catalog"
        table = table or target.rsplit(".", 1)[1].lower()
    elif target in names:
        table = table or target
        spec = names[target]
        if spec.source is None:
            raise ScaffoldError(
                f"{target} is a {spec.layer} table: it has no landed files; pass a sample path or "
                f"catalog.schema.table (scaffold profile PATH --table {target})"
            )
        path = _bronze_source(project, spec)
        if not path.exists():
            raise ScaffoldError(
                f"table {target}: no files at {_source_label(project, path)} to profile; land a sample there"
            )
        kind = "files"
    else:
        raise ScaffoldError(
            f"{target!r} is not a file or folder, a catalog.schema.table name, or a table in tables.yml; "
            "pass the sample's path or the Unity Catalog table's full name"
        )
    spec = names.get(table)
    if spec is None:
        hint = f"scaffold add bronze {table} --source <path under the landing root> --description '...'"
        raise ScaffoldError(
            f"table {table!r} is not in tables.yml: add it first ({hint}; without -c it profiles the files) "
            "or pass --table NAME"
        )

    if kind == "unity-catalog":
        notify(f"reading the columns of {target} from Unity Catalog")
        profile = profile_uc_table(target, table, retry_timeout_seconds)
        jobs = None
    else:
        fmt = spec.source.format if spec.source else None
        options = spec.source.options if spec.source else {}
        label = _source_label(project, path)
        if spec.source is not None and fmt == "csv" and "header" not in options:
            notes.append(
                f"table {table}'s source has no `header` option: profiled with header=true, but the pipeline "
                "reads the first line as data; add `options: {header: true}` to its source"
            )
        notify(f"profiling {label} on local Spark")
        with _session(spark) as session:
            group = f"scaffold-profile-{table}"
            session.sparkContext.setJobGroup(group, f"scaffold profile {table}")
            try:
                profile = profile_files(session, path, table, fmt, options, label)
            finally:
                jobs = len(session.sparkContext.statusTracker().getJobIdsForGroup(group))
                session.sparkContext.setLocalProperty("spark.jobGroup.id", None)

    notify(f"comparing the profiled schema with table {table} in tables.yml")
    columns = schema_columns(profile, spec, spec.layer)
    new_text = replace_schema(tables_text, table, columns)
    try:
        parse_tables(yaml.safe_load(new_text), "tables.yml")
    except (ConfigError, yaml.YAMLError) as exc:
        raise ScaffoldError(f"{_first_line(exc)} (with the profiled schema; tables.yml was not changed)") from None
    kept = {p.name for p in profile.columns} | set(METADATA_COLUMNS)
    dropped = [c.name for c in spec.schema_ if c.name not in kept]
    if dropped:
        notes.append(f"columns no longer in the schema (not in the {profile.kind} source): {', '.join(dropped)}")
    rel = save_profile(project, profile)
    diff = unified_diff(tables_text, new_text)
    applied = False
    if apply and diff:
        atomic_write(project.tables_path, new_text)
        applied = True
        notes += _refresh_stub(project, table)
    return ProfileResult(table, profile, rel, diff, applied, notes, jobs)


@contextlib.contextmanager
def _session(spark: SparkSession | None) -> Iterator[SparkSession]:
    if spark is None:
        with contextlib.suppress(ImportError):
            from pyspark.sql import SparkSession

            spark = SparkSession.getActiveSession()  # a process that has one keeps it (and it is not stopped)
    if spark is not None:
        yield spark
        return
    with local_spark() as session:
        yield session


def _refresh_stub(project: Project, table: str) -> list[str]:
    """A stub scaffold wrote carries the old SCHEMA: rewrite it from the new entry; say so for finished work."""
    from scaffolder.stubs import ModuleState, module_state, stub_module

    spec = project.tables().get(table)
    rel = spec.module_path(project.package)
    state = module_state(project.root / rel)
    manifest = load_manifest(project.root)
    if state is ModuleState.STUB and not edited_by_person(project.root, manifest, rel):
        write_tracked(project.root, manifest, rel, stub_module(spec))
        save_manifest(project.root, manifest)
        return [f"rewrote the stub {rel} with the new SCHEMA"]
    if state in (ModuleState.FILLED, ModuleState.STUB):
        return [
            f"{rel} still declares the old SCHEMA: update it, or `scaffold fill {spec.layer} --table {table} --force`"
        ]
    return []


def profile_landing(project: Project, table: str, source: str, fmt: str) -> tuple[TableProfile, Path]:
    """`scaffold add bronze <table> --source <source>` without columns: profile what has landed."""
    path = Path(source) if Path(source).is_absolute() else landing_root(project) / source
    label = _source_label(project, path)
    if not path.exists():
        raise ScaffoldError(
            f"--source {source}: no files at {label} to profile; land a sample there, or give the columns "
            "with -c NAME:TYPE"
        )
    detected = detect_format(path)
    if detected is not None and detected != fmt:
        raise ScaffoldError(f"--source {source}: {label} holds {detected} files, not {fmt}: pass --format {detected}")
    with _session(None) as spark:
        return profile_files(spark, path, table, fmt, {}, label), path
