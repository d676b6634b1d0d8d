"""DataFrames as data and back: how rows cross from a worker to the judge, and from the judge in.

Every value becomes JSON that says exactly what it was, so two rows are equal as data when their
values are equal in Spark: a decimal keeps its scale (`"10.00"`), a float its repr (`"0.1"`,
`"nan"`), a timestamp its ISO text in the session's time zone. The judge compares, counts nulls
and checks keys on these encodings without ever holding a pyspark object.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from scaffolder.inside.protocol import MAX_ROWS, Frame

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import DataType

_DECIMAL = re.compile(r"decimal\((\d+),\s*(\d+)\)")


def encode(value: Any, data_type: DataType) -> Any:
    """One value as exact JSON, guided by its Spark type."""
    from pyspark.sql import types as T

    if value is None:
        return None
    if isinstance(data_type, T.StringType):
        return str(value)
    if isinstance(data_type, T.BooleanType):
        return bool(value)
    if isinstance(data_type, (T.ByteType, T.ShortType, T.IntegerType, T.LongType)):
        return int(value)
    if isinstance(data_type, (T.FloatType, T.DoubleType)):
        return repr(float(value))
    if isinstance(data_type, T.DecimalType):
        return str(value)
    if isinstance(data_type, (T.DateType, T.TimestampType, T.TimestampNTZType)):
        return value.isoformat()
    if isinstance(data_type, T.BinaryType):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(data_type, T.ArrayType):
        return [encode(v, data_type.elementType) for v in value]
    if isinstance(data_type, T.StructType):
        return [encode(value[i], f.dataType) for i, f in enumerate(data_type.fields)]
    if isinstance(data_type, T.MapType):
        pairs = [[encode(k, data_type.keyType), encode(v, data_type.valueType)] for k, v in value.items()]
        return sorted(pairs, key=repr)
    return repr(value)


def frame_of(df: DataFrame, limit: int = MAX_ROWS) -> Frame:
    """The DataFrame's columns and rows (at most `limit`; `total` says how many there were)."""
    schema = df.schema
    rows = df.limit(limit + 1).collect() if limit else []
    total = len(rows) if len(rows) <= limit else df.count()
    fields = schema.fields
    return Frame(
        columns=[(f.name, f.dataType.simpleString()) for f in fields],
        nullable=[f.nullable for f in fields],
        rows=[[encode(row[i], f.dataType) for i, f in enumerate(fields)] for row in rows[:limit]],
        total=total,
    )


def decode(value: Any, type_string: str) -> Any:
    """A JSON value back to what `createDataFrame` expects for a declared column type."""
    if value is None:
        return None
    kind = type_string.strip().lower()
    if kind.startswith("array<") and kind.endswith(">"):
        return [decode(v, kind[6:-1]) for v in value]
    if kind in ("int", "integer", "bigint", "long", "smallint", "tinyint"):
        return int(value)
    if kind in ("double", "float"):
        return float(value)
    if _DECIMAL.fullmatch(kind):
        return Decimal(str(value))
    if kind == "boolean":
        return bool(value)
    if kind == "date":
        return dt.date.fromisoformat(str(value))
    if kind in ("timestamp", "timestamp_ntz"):
        return dt.datetime.fromisoformat(str(value))
    if kind == "binary":
        return base64.b64decode(str(value))
    return str(value)


def dataframe_of(spark: SparkSession, frame: Frame) -> DataFrame:
    """The DataFrame a frame describes, with its declared types (never inferred)."""
    from pyspark.sql.types import StructField, StructType

    from lakeforge.tables import spark_type

    nullable = frame.nullable or [True] * len(frame.columns)
    schema = StructType(
        [StructField(name, spark_type(kind), flag) for (name, kind), flag in zip(frame.columns, nullable, strict=True)]
    )
    rows = [tuple(decode(v, kind) for v, (_, kind) in zip(row, frame.columns, strict=True)) for row in frame.rows]
    return spark.createDataFrame(rows, schema)
