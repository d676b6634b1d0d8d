"""customers (silver): one row per customer, the latest CRM version, cleaned."""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

log = logging.getLogger(__name__)

SCHEMA = T.StructType(
    [
        T.StructField("customer_id", T.IntegerType(), False),
        T.StructField("name", T.StringType(), True),
        T.StructField("email", T.StringType(), True),
        T.StructField("country", T.StringType(), True),
        T.StructField("updated_at", T.TimestampType(), True),
    ]
)


def transform(raw_customers: DataFrame) -> DataFrame:
    """Trim text, lower-case emails, upper-case countries, drop rows without id, keep the latest."""
    cleaned = raw_customers.select(
        F.col("customer_id").cast("int").alias("customer_id"),
        F.trim("name").alias("name"),
        F.lower(F.trim("email")).alias("email"),
        F.upper(F.trim("country")).alias("country"),
        F.col("updated_at").cast("timestamp").alias("updated_at"),
    ).where(F.col("customer_id").isNotNull())
    latest_first = Window.partitionBy("customer_id").orderBy(F.col("updated_at").desc_nulls_last())
    log.info("silver customers: deduplicating on customer_id")
    ranked = cleaned.select("*", F.row_number().over(latest_first).alias("_rank"))
    return ranked.where(F.col("_rank") == 1).select(*SCHEMA.fieldNames())
