"""customers (silver), reference solution: cleaned text, the latest version per customer."""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

log = logging.getLogger(__name__)

SCHEMA = T.StructType(
    [
        T.StructField("customer_id", T.IntegerType(), False),
        T.StructField("email", T.StringType(), True),
        T.StructField("segment", T.StringType(), True),
        T.StructField("country", T.StringType(), True),
        T.StructField("updated_at", T.TimestampType(), True),
    ]
)


def transform(raw_customers: DataFrame) -> DataFrame:
    """Clean the text columns, drop rows without id, keep the latest version of each customer."""
    log.info("silver customers: cleaning")
    clean = raw_customers.select(
        F.col("customer_id").cast("int").alias("customer_id"),
        F.lower(F.trim("email")).alias("email"),
        F.nullif(F.lower(F.trim("segment")), F.lit("")).alias("segment"),
        F.upper(F.trim("country")).alias("country"),
        F.col("updated_at").cast("timestamp").alias("updated_at"),
    ).where(F.col("customer_id").isNotNull())
    latest_first = Window.partitionBy("customer_id").orderBy(F.col("updated_at").desc_nulls_last())
    log.info("silver customers: one row per customer_id")
    ranked = clean.select("*", F.row_number().over(latest_first).alias("_rank"))
    return ranked.where(F.col("_rank") == 1).select(*SCHEMA.fieldNames())
