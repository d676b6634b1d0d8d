"""What an output mutant does to the DataFrame `transform` returned: lazy plan changes only.

Imported by a mutant's own source (`scaffolder.mutation`), inside the worker, after the real
code has built its result; every change is a DataFrame operation the server resolves, so the
rows are whatever the real code computes on the test's inputs, and a test sees them only when it
collects. A changed column costs one schema request (to keep its metadata); the others none.
"""

from __future__ import annotations

from typing import Any


def no_rows(df: Any) -> Any:
    return df.limit(0)


def row_missing(df: Any) -> Any:
    """One row fewer (exceptAll removes a single copy of the row `limit(1)` picks)."""
    return df.exceptAll(df.limit(1))


def row_duplicated(df: Any) -> Any:
    return df.unionAll(df.limit(1))


def null_column(df: Any, name: str, kind: str) -> Any:
    """`name` all null, cast to its declared type (a column of another type fails the contract anyway)."""
    from pyspark.sql import functions as F

    return _same_metadata(df, df.withColumn(name, F.lit(None).cast(kind)), name)


def value_changed(df: Any, name: str, kind: str) -> Any:
    """`name` a little off, as its type allows: a test with a tolerance, or one that checks only a
    part of the value (a prefix, a rounded number), lets this one live."""
    from pyspark.sql import functions as F

    column = F.col(name)
    if kind.startswith("decimal"):
        scale = int(kind.rstrip(")").split(",")[1]) if "," in kind else 0
        changed = (column + F.lit(10**-scale if scale else 1).cast(kind)).cast(kind)
    elif kind in ("double", "float", "int", "bigint", "smallint", "tinyint"):
        changed = (column + F.lit(1)).cast(kind)
    elif kind == "string":
        changed = F.concat(column, F.lit("~"))
    elif kind == "boolean":
        changed = ~column
    elif kind == "date":
        changed = F.date_add(column, 1)
    elif kind in ("timestamp", "timestamp_ntz"):
        changed = (column + F.expr("INTERVAL 1 SECOND")).cast(kind)
    else:
        changed = column
    return _same_metadata(df, df.withColumn(name, changed), name)


def _same_metadata(real: Any, mutant: Any, name: str) -> Any:
    """The mutant's column keeps the metadata the real column carries: `withColumn` drops it, and a
    test that asserts the schema's tags (`schema.json()`, a schema compared whole) would tell the
    mutant from the real output without ever checking a value. One schema request to the server."""
    try:
        metadata = real.schema[name].metadata
    except KeyError:  # the real output lacks the column: its own runs fail the contract
        return mutant
    return mutant.withMetadata(name, metadata) if metadata else mutant
