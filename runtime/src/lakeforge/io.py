"""Reading sources and writing tables, the same call on Databricks and on a laptop.

Reading and writing live here, outside the pure `transform` functions, so that unit tests need
no storage. Tables are Delta on Databricks; local OSS Spark has no Delta jars here, so tables
fall back to parquet with one log line, and `merge` gives the same result by rewriting the
table through a staging copy (Spark refuses to overwrite a table it is reading).

Locally a write can be run again: a table folder left in the warehouse by a run whose catalog is
gone (an in-memory catalog, a deleted `metastore_db/`) would make Spark refuse the write
(LOCATION_ALREADY_EXISTS); `overwrite` replaces that folder, `append` and `merge` take it back
as the table first, so they add to and merge into what the earlier run wrote.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote, urlparse

from lakeforge.errors import LakeforgeError
from lakeforge.session import on_databricks
from lakeforge.tables import INGESTED_AT, METADATA_COLUMNS, SOURCE_FILE, SOURCE_FORMATS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, DataFrameReader, SparkSession
    from pyspark.sql.streaming.readwriter import DataStreamReader
    from pyspark.sql.types import StructType

log = logging.getLogger(__name__)

__all__ = ["INGESTED_AT", "METADATA_COLUMNS", "SOURCE_FILE", "add_ingestion_metadata", "read_source", "write_table"]
WriteMode = Literal["overwrite", "append", "merge"]
_MERGE_STAGING_SUFFIX = "__lakeforge_merge"
_parquet_fallback_logged = False


def read_source(
    spark: SparkSession,
    path: str,
    format: str,
    schema: StructType | str,
    options: Mapping[str, str] | None = None,
    streaming: bool = False,
) -> DataFrame:
    """Read files with an explicit schema; streaming on Databricks uses Auto Loader (`cloudFiles`)."""
    if format not in SOURCE_FORMATS:
        raise LakeforgeError(
            f"source format {format!r} for {path} is not supported: use one of {', '.join(SOURCE_FORMATS)}"
        )
    if schema is None or schema == "":
        raise LakeforgeError(f"no schema given for {path}: bronze reads always pass the table's SCHEMA, never infer")
    opts = {k: str(v) for k, v in (options or {}).items()}
    reader: DataFrameReader | DataStreamReader
    if streaming and on_databricks():
        reader = spark.readStream.format("cloudFiles").option("cloudFiles.format", format)
    elif streaming:
        reader = spark.readStream.format(format)
    else:
        reader = spark.read.format(format)
    return reader.schema(schema).options(**opts).load(path)


def add_ingestion_metadata(df: DataFrame) -> DataFrame:
    """Append `_ingested_at` (load time) and `_source_file` (the file a row came from, if any)."""
    from pyspark.errors import AnalysisException
    from pyspark.sql import functions as F

    source = F.col("_metadata.file_path")
    if _client_rows_only(df):
        source = F.lit(None).cast("string")
    else:
        try:
            # `.schema` analyses now: Spark Connect (serverless, shared clusters) builds plans lazily
            # and would only fail when the rows are read.
            df.select(source).schema  # noqa: B018
        except AnalysisException:  # not a file source: there is no `_metadata` column to read
            source = F.lit(None).cast("string")
    # select, not withColumn: local Spark Declarative Pipelines cannot analyse withColumn over a
    # dataset that does not exist yet, and select is the same plan everywhere else.
    return df.select("*", F.current_timestamp().alias(INGESTED_AT), source.alias(SOURCE_FILE))


def _client_rows_only(df: DataFrame) -> bool:
    """True for a Spark Connect plan whose every leaf is rows the client sent (a test's DataFrame).

    Such a plan has no file behind it, so asking the server for `_metadata` would only fail: a
    round trip (to a remote cluster, with Databricks Connect) and an ERROR in the log per call.
    Only the leaves listed here count; any other leaf, or a classic DataFrame, is asked as before.
    """
    if not type(df).__module__.startswith("pyspark.sql.connect."):
        return False  # classic: nothing to import (the Connect client is already loaded when it is one)
    from pyspark.sql.connect.plan import LocalRelation, LogicalPlan, Range

    stack: list[Any] = [getattr(df, "_plan", None)]
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        children = []
        for value in getattr(node, "__dict__", {}).values():
            values = value if isinstance(value, (list, tuple)) else [value]
            children += [item for item in values if isinstance(item, LogicalPlan)]
        if not children and not isinstance(node, (LocalRelation, Range)):
            return False
        stack.extend(children)
    return True


def delta_available(spark: SparkSession) -> bool:
    """Delta is there on Databricks, or locally when the session was built with its extension."""
    if on_databricks():
        return True
    return "DeltaSparkSessionExtension" in (spark.conf.get("spark.sql.extensions", "") or "")


def resolve_format(spark: SparkSession, table_format: str = "auto") -> str:
    """`delta` or `parquet`; `auto` says once in the log when it falls back to parquet."""
    global _parquet_fallback_logged
    if table_format in ("delta", "parquet"):
        return table_format
    if table_format != "auto":
        raise LakeforgeError(f"table_format {table_format!r} is unknown: use auto, delta or parquet")
    if delta_available(spark):
        return "delta"
    if not _parquet_fallback_logged:
        log.warning("Delta Lake is not available in this Spark session: writing parquet tables instead")
        _parquet_fallback_logged = True
    return "parquet"


def _split_table(table: str) -> tuple[str, str]:
    parts = table.split(".")
    if len(parts) != 3 or not all(parts):
        raise LakeforgeError(f"table {table!r} is not fully qualified: use CatalogHelper.table_name(layer, table)")
    return f"{parts[0]}.{parts[1]}", parts[2]


def table_exists(spark: SparkSession, table: str) -> bool:
    return spark.catalog.tableExists(table)


def write_table(
    df: DataFrame,
    table: str,
    mode: WriteMode = "overwrite",
    keys: Sequence[str] | None = None,
    table_format: str = "auto",
) -> str:
    """Write `df` to `table` (overwrite, append, or merge on `keys`); returns the format used."""
    spark = df.sparkSession
    schema, _ = _split_table(table)
    if mode not in ("overwrite", "append", "merge"):
        raise LakeforgeError(f"write mode {mode!r} for {table} is unknown: use overwrite, append or merge")
    fmt = resolve_format(spark, table_format)
    if not on_databricks():
        spark.sql(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        _take_back_orphan(spark, table, fmt, replace=mode == "overwrite")
    if mode != "merge" or not table_exists(spark, table):
        if mode == "merge":
            _check_keys(df, table, keys)
        df.write.format(fmt).mode("append" if mode == "append" else "overwrite").saveAsTable(table)
        return fmt
    keys = _check_keys(df, table, keys)
    if fmt == "delta":
        _merge_sql(df, table, keys)
    else:
        _merge_by_rewrite(df, table, keys, fmt)
    return fmt


def _local_folder(spark: SparkSession, table: str) -> Path | None:
    """Where a managed table of a local catalog keeps its files (None when not on the local disk)."""
    schema, name = _split_table(table)
    location = spark.catalog.getDatabase(schema.split(".")[-1]).locationUri
    parsed = urlparse(location)
    if parsed.scheme not in ("", "file"):
        return None
    return Path(unquote(parsed.path)) / name


def _take_back_orphan(spark: SparkSession, table: str, fmt: str, replace: bool) -> None:
    """A local table folder the catalog does not know: replace it (overwrite) or register it as the table."""
    if table_exists(spark, table):
        return
    folder = _local_folder(spark, table)
    if folder is None or not folder.is_dir() or not any(folder.iterdir()):
        return
    if replace:
        log.warning("%s: replacing the files an earlier run left in %s (no catalog knew them)", table, folder)
        shutil.rmtree(folder)
        return
    log.warning("%s: taking back the files an earlier run left in %s as the table", table, folder)
    spark.sql(f"CREATE TABLE {table} USING {fmt} LOCATION '{folder.as_posix()}'")


def _check_keys(df: DataFrame, table: str, keys: Sequence[str] | None) -> list[str]:
    if not keys:
        raise LakeforgeError(f"merge into {table} needs keys: pass keys=[...] naming the columns that identify a row")
    missing = [k for k in keys if k not in df.columns]
    if missing:
        raise LakeforgeError(
            f"merge keys {missing} are not columns of the data written to {table}: columns are {df.columns}"
        )
    return list(keys)


def _merge_sql(df: DataFrame, table: str, keys: Sequence[str]) -> None:
    view = f"lakeforge_merge_source_{abs(hash(table))}"
    df.createOrReplaceTempView(view)
    condition = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)
    df.sparkSession.sql(
        f"MERGE INTO {table} AS t USING {view} AS s ON {condition} "
        "WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *"
    )
    df.sparkSession.catalog.dropTempView(view)


def _merge_by_rewrite(df: DataFrame, table: str, keys: Sequence[str], fmt: str) -> None:
    spark = df.sparkSession
    existing = spark.table(table)
    incoming = df.select(*existing.columns)
    kept = existing.join(incoming.select(*keys).distinct(), on=list(keys), how="left_anti")
    staging = f"{table}{_MERGE_STAGING_SUFFIX}"
    _take_back_orphan(spark, staging, fmt, replace=True)
    kept.unionByName(incoming).write.format(fmt).mode("overwrite").saveAsTable(staging)
    try:
        # INSERT OVERWRITE keeps the table (and its location, if it was taken back) in place.
        spark.table(staging).select(*existing.columns).write.insertInto(table, overwrite=True)
    finally:
        spark.sql(f"DROP TABLE IF EXISTS {staging}")
