"""raw_orders (bronze): web shop orders, one JSON object per line."""

from __future__ import annotations

import logging

from lakeforge.io import add_ingestion_metadata
from pyspark.sql import DataFrame
from pyspark.sql import types as T

log = logging.getLogger(__name__)

SCHEMA = T.StructType(
    [
        T.StructField("order_id", T.StringType(), False),
        T.StructField("customer_id", T.IntegerType(), True),
        T.StructField("amount", T.DecimalType(10, 2), True),
        T.StructField("status", T.StringType(), True),
        T.StructField("ordered_at", T.TimestampType(), True),
        T.StructField("_ingested_at", T.TimestampType(), False),
        T.StructField("_source_file", T.StringType(), True),
    ]
)


def transform(raw: DataFrame) -> DataFrame:
    """Keep the orders as landed, with ingestion metadata."""
    log.info("bronze raw_orders: adding ingestion metadata")
    return add_ingestion_metadata(raw).select(*SCHEMA.fieldNames())
