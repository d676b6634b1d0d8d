"""payments (silver), reference solution: typed with try_cast (Spark 4 runs with ANSI mode on)."""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

log = logging.getLogger(__name__)

SCHEMA = T.StructType(
    [
        T.StructField("payment_id", T.StringType(), False),
        T.StructField("customer_id", T.IntegerType(), True),
        T.StructField("amount", T.DecimalType(12, 2), True),
        T.StructField("currency", T.StringType(), True),
        T.StructField("paid_at", T.TimestampType(), True),
    ]
)


def transform(raw_payments: DataFrame) -> DataFrame:
    """Type every column without failing on junk, drop rows without id, keep the latest export per id."""
    log.info("silver payments: typing the exported text")
    typed = raw_payments.select(
        F.trim("payment_id").alias("payment_id"),
        F.trim("customer_id").try_cast("int").alias("customer_id"),
        F.regexp_replace(F.trim("amount"), ",", "").try_cast("decimal(12,2)").alias("amount"),
        F.upper(F.trim("currency")).alias("currency"),
        F.trim("paid_at").try_cast("timestamp").alias("paid_at"),
    ).where(F.col("payment_id").isNotNull())
    latest_first = Window.partitionBy("payment_id").orderBy(F.col("paid_at").desc_nulls_last())
    log.info("silver payments: one row per payment_id")
    ranked = typed.select("*", F.row_number().over(latest_first).alias("_rank"))
    return ranked.where(F.col("_rank") == 1).select(*SCHEMA.fieldNames())
