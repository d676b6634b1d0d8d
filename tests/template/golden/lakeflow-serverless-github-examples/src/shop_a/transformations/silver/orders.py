"""orders (silver): valid orders, one row per order id."""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

log = logging.getLogger(__name__)

SCHEMA = T.StructType(
    [
        T.StructField("order_id", T.StringType(), False),
        T.StructField("customer_id", T.IntegerType(), False),
        T.StructField("amount", T.DecimalType(10, 2), True),
        T.StructField("status", T.StringType(), True),
        T.StructField("ordered_at", T.TimestampType(), True),
    ]
)


def transform(raw_orders: DataFrame) -> DataFrame:
    """Drop orders without id or customer and negative amounts; keep the latest row per order."""
    valid = raw_orders.select(
        F.trim("order_id").alias("order_id"),
        F.col("customer_id").cast("int").alias("customer_id"),
        F.col("amount").cast("decimal(10,2)").alias("amount"),
        F.lower(F.trim("status")).alias("status"),
        F.col("ordered_at").cast("timestamp").alias("ordered_at"),
    ).where(
        F.col("order_id").isNotNull()
        & F.col("customer_id").isNotNull()
        & (F.col("amount").isNull() | (F.col("amount") >= 0))
    )
    latest_first = Window.partitionBy("order_id").orderBy(F.col("ordered_at").desc_nulls_last())
    log.info("silver orders: deduplicating on order_id")
    ranked = valid.select("*", F.row_number().over(latest_first).alias("_rank"))
    return ranked.where(F.col("_rank") == 1).select(*SCHEMA.fieldNames())
