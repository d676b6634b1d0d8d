"""`tables.yml`, the table contract: which tables exist, their schemas and declarative hints.

The pydantic models here are the single source of truth for the file: the pipeline runner, the
declarative pipeline definitions, the generated contract tests and `scaffold fill` all read it
through `load_tables`, so a mistake is reported once, naming the table and the field.

What a table promises about its rows:

- NOT NULL columns: `nullable: false` on the column (`scaffold add -c id:int!`) or listed in
  `not_null` (both mean the same);
- `keys`: the columns that identify one row (one row per key value);
- `checks`: named row checks, each a Spark SQL boolean expression over the table's columns
  (`{amount_positive: "amount >= 0"}`); a row passes a check only when the expression is true
  (false and NULL are violations: write `amount IS NULL OR amount >= 0` to allow nulls).

`transform` returns rows that keep these promises; `on_violation` says what production does with
a row that does not (the same on Databricks, in a wheel task and locally, see
`lakeforge.contract.expectations`): `fail` (the default) stops the update, `drop` removes the row
and counts it, `warn` keeps the row and counts it. It applies to NOT NULL columns and named
checks; a repeated key fails the update under `fail` and `drop` (dropping cannot choose which
row of a key to keep: that is `dedupe`'s job) and is only counted under `warn`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from lakeforge.errors import ConfigError, IdentifierError
from lakeforge.identifiers import LAYERS, check_identifier
from lakeforge.models import Strict, read_yaml

if TYPE_CHECKING:
    from pyspark.sql.types import DataType, StructType

TABLES_FILE = "tables.yml"
INGESTED_AT = "_ingested_at"
SOURCE_FILE = "_source_file"
METADATA_COLUMNS = (INGESTED_AT, SOURCE_FILE)
SOURCE_FORMATS = ("csv", "json", "parquet", "avro", "orc", "text", "xml", "delta")
AGGREGATES = ("sum", "count", "avg", "min", "max", "count_distinct")
ON_VIOLATION = ("fail", "drop", "warn")
OnViolation = Literal["fail", "drop", "warn"]
NOT_NULL_SUFFIX = "_not_null"  # the expectation of a NOT NULL column: `<column>_not_null`
UNIQUE_KEYS = "unique_keys"  # the expectation of `keys`
# A check runs as SQL on Databricks, in wheel tasks and on laptops: no Java, no UDFs, one expression.
CHECK_DENIED = re.compile(r"\b(reflect|java_method|try_reflect|call_function|call_udf|udf)\s*\(", re.I)
TIME_TYPES = ("timestamp", "timestamp_ntz", "date")

SIMPLE_TYPES = {
    "string": "StringType",
    "int": "IntegerType",
    "integer": "IntegerType",
    "bigint": "LongType",
    "long": "LongType",
    "smallint": "ShortType",
    "tinyint": "ByteType",
    "double": "DoubleType",
    "float": "FloatType",
    "boolean": "BooleanType",
    "date": "DateType",
    "timestamp": "TimestampType",
    "timestamp_ntz": "TimestampNTZType",
    "binary": "BinaryType",
}
DECIMAL_TYPE = re.compile(r"decimal\((\d{1,2}),\s*(\d{1,2})\)")
ARRAY_TYPE = re.compile(r"array<(.+)>")


def check_type(type_string: str) -> str:
    """Normalise a column type to Spark's `simpleString` form, or raise ValueError naming the choices."""
    value = type_string.strip().lower()
    if value in SIMPLE_TYPES:
        return {"integer": "int", "long": "bigint"}.get(value, value)
    if match := DECIMAL_TYPE.fullmatch(value):
        precision, scale = int(match.group(1)), int(match.group(2))
        if not 1 <= precision <= 38 or scale > precision:
            raise ValueError(f"decimal({precision},{scale}) needs 1 <= precision <= 38 and scale <= precision")
        return f"decimal({precision},{scale})"
    if match := ARRAY_TYPE.fullmatch(value):
        return f"array<{check_type(match.group(1))}>"
    raise ValueError(
        f"type {type_string!r} is not supported: use one of {', '.join(sorted(SIMPLE_TYPES))}, decimal(p,s), array<type>"
    )


def check_expression(name: str, expression: object) -> str:
    """A named check's SQL, stripped, or ValueError naming the check and the fix."""
    try:
        check_identifier(name, "check name")
    except IdentifierError as exc:
        raise ValueError(str(exc)) from None
    if not isinstance(expression, str) or not expression.strip():
        raise ValueError(f'check {name!r} is empty: give a Spark SQL boolean expression, e.g. "amount >= 0"')
    text = expression.strip()
    if CHECK_DENIED.search(text):
        raise ValueError(f"check {name!r} calls Java or a UDF ({text!r}): use Spark SQL's built-in functions only")
    if ";" in text or re.search(r"\bselect\b", text, re.I):
        raise ValueError(
            f"check {name!r} must be one boolean expression over the table's columns, not a statement or "
            f"a subquery ({text!r})"
        )
    return text


def spark_type(type_string: str) -> DataType:
    """The pyspark DataType for a checked type string (pyspark imported only when needed)."""
    from pyspark.sql import types as T

    value = check_type(type_string)
    if match := DECIMAL_TYPE.fullmatch(value):
        return T.DecimalType(int(match.group(1)), int(match.group(2)))
    if match := ARRAY_TYPE.fullmatch(value):
        return T.ArrayType(spark_type(match.group(1)))
    simple: type[DataType] = getattr(T, SIMPLE_TYPES[value])
    return simple()


class Column(Strict):
    name: str
    type: str
    nullable: bool = True
    comment: str = ""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_identifier(value, "column name")

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        return check_type(value)


class Source(Strict):
    """Where a bronze table's raw files land: relative paths are under the environment's landing root."""

    path: str = Field(min_length=1)
    format: Literal["csv", "json", "parquet", "avro", "orc", "text", "xml", "delta"]
    options: dict[str, str] = Field(default_factory=dict)

    @field_validator("options", mode="before")
    @classmethod
    def _stringify(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in value.items()}
        return value


class Measure(Strict):
    """One aggregate of a gold table: `name = agg(column)`."""

    name: str
    agg: Literal["sum", "count", "avg", "min", "max", "count_distinct"]
    column: str = "*"


class Dedupe(Strict):
    """Keep one row per key: the latest by `order_by`."""

    order_by: str


class TableSpec(Strict):
    """One table of the pipeline."""

    name: str
    layer: Literal["bronze", "silver", "gold"]
    description: str = Field(min_length=1)
    source: Source | None = None
    inputs: list[str] = Field(default_factory=list)
    schema_: list[Column] = Field(alias="schema", min_length=1)
    keys: list[str] = Field(default_factory=list)
    not_null: list[str] = Field(default_factory=list)
    dedupe: Dedupe | None = None
    trim: bool = True
    join_on: list[str] = Field(default_factory=list)
    group_by: list[str] = Field(default_factory=list)
    measures: list[Measure] = Field(default_factory=list)
    checks: dict[str, str] = Field(default_factory=dict)
    on_violation: OnViolation = "fail"
    write: Literal["overwrite", "append", "merge"] = "overwrite"
    monitors: list[dict[str, Any]] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_identifier(value, "table name")

    @field_validator("checks")
    @classmethod
    def _checks(cls, value: dict[str, str]) -> dict[str, str]:
        return {name: check_expression(name, expression) for name, expression in value.items()}

    @model_validator(mode="after")
    def _consistent(self) -> TableSpec:
        columns = self.column_names()
        if len(set(columns)) != len(columns):
            raise ValueError("schema lists a column twice")
        if self.layer == "bronze":
            if self.source is None:
                raise ValueError("bronze tables need a source (path, format)")
            if self.inputs:
                raise ValueError("bronze tables read a source, not inputs")
        else:
            if not self.inputs:
                raise ValueError(f"{self.layer} tables need inputs (the upstream tables they read)")
            if self.source is not None:
                raise ValueError(f"{self.layer} tables read inputs, not a source")
        for field in ("keys", "not_null", "group_by"):
            unknown = [c for c in getattr(self, field) if c not in columns]
            if unknown:
                raise ValueError(f"{field}: {unknown} not in the table's schema columns {columns}")
            if len(set(getattr(self, field))) != len(getattr(self, field)):
                raise ValueError(f"{field} lists a column twice")
        taken = {f"{c}{NOT_NULL_SUFFIX}" for c in self.not_null_columns()} | {UNIQUE_KEYS}
        clash = [name for name in self.checks if name in taken]
        if clash:
            raise ValueError(
                f"checks: {clash[0]!r} is the name of a NOT NULL or key expectation Lakeforge declares "
                "itself; give the check another name"
            )
        if self.dedupe is not None and not self.keys:
            raise ValueError("dedupe needs keys: the columns that identify one row")
        missing_measures = [m.name for m in self.measures if m.name not in columns]
        if missing_measures:
            raise ValueError(f"measures: {missing_measures} not in the table's schema columns {columns}")
        if self.write == "merge" and not self.keys:
            raise ValueError("write: merge needs keys")
        return self

    def column_names(self) -> list[str]:
        return [c.name for c in self.schema_]

    def not_null_columns(self) -> list[str]:
        """Columns that may hold no nulls: declared `nullable: false` (`col!`) or listed in `not_null`."""
        return [c.name for c in self.schema_ if not c.nullable or c.name in self.not_null]

    def time_column(self) -> str | None:
        """The column that says when a row happened: `dedupe.order_by` when it is a time, else the first
        timestamp or date column that is not ingestion metadata; None when the data has no time of its own."""
        types = {c.name: c.type for c in self.schema_}
        if self.dedupe is not None and types.get(self.dedupe.order_by) in TIME_TYPES:
            return self.dedupe.order_by
        return next((c.name for c in self.schema_ if c.type in TIME_TYPES and c.name not in METADATA_COLUMNS), None)

    def source_columns(self) -> list[Column]:
        """The columns read from the raw files: the schema without the ingestion metadata."""
        return [c for c in self.schema_ if c.name not in METADATA_COLUMNS]

    def struct_type(self, columns: list[Column] | None = None) -> StructType:
        from pyspark.sql.types import StructField, StructType

        return StructType([StructField(c.name, spark_type(c.type), c.nullable) for c in (columns or self.schema_)])

    def read_schema(self) -> StructType:
        return self.struct_type(self.source_columns())

    def module_path(self, package: str) -> str:
        return f"src/{package}/transformations/{self.layer}/{self.name}.py"

    def test_path(self) -> str:
        return f"tests/unit/{self.layer}/test_{self.name}.py"

    def scaffold_test_path(self) -> str:
        """Where `scaffold fill` writes its tests when a person wrote test_path(): beside theirs, run with them."""
        return f"tests/unit/{self.layer}/test_{self.name}_scaffold.py"

    def more_test_path(self) -> str:
        """Where `scaffold test` asks the model to write new tests (the kept ones are merged into test_path())."""
        return f"tests/unit/{self.layer}/test_{self.name}_more.py"

    def module_name(self, package: str) -> str:
        return f"{package}.transformations.{self.layer}.{self.name}"


class TablesFile(Strict):
    version: Literal[1] = 1
    tables: list[TableSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _graph(self) -> TablesFile:
        seen: dict[str, TableSpec] = {}
        for table in self.tables:
            if table.name in seen:
                raise ValueError(f"table {table.name!r} is defined twice: table names are unique across layers")
            for upstream in table.inputs:
                if upstream not in seen:
                    raise ValueError(
                        f"table {table.name!r}: input {upstream!r} is not defined above it in {TABLES_FILE}"
                    )
                if LAYERS.index(seen[upstream].layer) > LAYERS.index(table.layer):
                    raise ValueError(
                        f"table {table.name!r} ({table.layer}) cannot read {upstream!r} from a later layer"
                    )
            seen[table.name] = table
        return self

    def get(self, name: str) -> TableSpec:
        for table in self.tables:
            if table.name == name:
                return table
        raise KeyError(f"no table {name!r} in {TABLES_FILE}: known tables are {[t.name for t in self.tables]}")

    def layer(self, layer: str) -> list[TableSpec]:
        return [t for t in self.tables if t.layer == layer]


def load_tables(path: str | Path = TABLES_FILE) -> TablesFile:
    """Read and validate `tables.yml`; errors name the file, the table and the field."""
    path = Path(path)
    label = path.name
    try:
        data = read_yaml(path, label) or {}
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: not found; run inside a Lakeforge project or pass the path to {TABLES_FILE}"
        ) from None
    return parse_tables(data, label)


def parse_tables(data: Any, label: str = TABLES_FILE) -> TablesFile:
    try:
        return TablesFile.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = list(error["loc"])
        where = ""
        if len(loc) >= 2 and loc[0] == "tables" and isinstance(loc[1], int):
            tables = data.get("tables", []) if isinstance(data, dict) else []
            entry = tables[loc[1]] if loc[1] < len(tables) and isinstance(tables[loc[1]], dict) else {}
            where = f"table {entry.get('name', '#' + str(loc[1] + 1))!r}"
            loc = loc[2:]
        field = ".".join("schema" if p == "schema_" else str(p) for p in loc)
        message = str(error["msg"]).removeprefix("Value error, ")
        subject = ": ".join(part for part in (where, field) if part)
        raise ConfigError(f"{label}: {subject + ': ' if subject else ''}{message}") from None
    except IdentifierError as exc:  # pragma: no cover - identifiers surface as ValidationError above
        raise ConfigError(f"{label}: {exc}") from None
