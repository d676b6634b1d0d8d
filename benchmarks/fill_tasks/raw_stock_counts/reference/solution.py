"""raw_stock_counts (bronze), reference solution: every landed row as read, with the ingestion metadata."""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame
from pyspark.sql import types as T

from lakeforge.io import add_ingestion_metadata

log = logging.getLogger(__name__)

SCHEMA = T.StructType(
    [
        T.StructField("snapshot_date", T.DateType(), True),
        T.StructField("sku", T.StringType(), True),
        T.StructField("location", T.StringType(), True),
        T.StructField("qty", T.IntegerType(), True),
        T.StructField("_ingested_at", T.TimestampType(), False),
        T.StructField("_source_file", T.StringType(), True),
    ]
)


def transform(raw: DataFrame) -> DataFrame:
    """Keep every landed row and value; add _ingested_at and _source_file."""
    log.info("bronze raw_stock_counts: adding ingestion metadata")
    return add_ingestion_metadata(raw).select(*SCHEMA.fieldNames())
