"""raw_sales (bronze), reference solution: every landed row as read, with the ingestion metadata."""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame
from pyspark.sql import types as T

from lakeforge.io import add_ingestion_metadata

log = logging.getLogger(__name__)

SCHEMA = T.StructType(
    [
        T.StructField("sale_date", T.DateType(), True),
        T.StructField("store_id", T.IntegerType(), True),
        T.StructField("product_id", T.StringType(), True),
        T.StructField("units", T.IntegerType(), True),
        T.StructField("revenue", T.DecimalType(12, 2), True),
        T.StructField("_ingested_at", T.TimestampType(), False),
        T.StructField("_source_file", T.StringType(), True),
    ]
)


def transform(raw: DataFrame) -> DataFrame:
    """Keep every landed row and value; add _ingested_at and _source_file."""
    log.info("bronze raw_sales: adding ingestion metadata")
    return add_ingestion_metadata(raw).select(*SCHEMA.fieldNames())
