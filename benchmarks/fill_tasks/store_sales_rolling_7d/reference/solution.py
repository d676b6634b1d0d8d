"""store_sales_rolling_7d (gold), reference solution: a range window over day numbers, not over rows."""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

log = logging.getLogger(__name__)

SCHEMA = T.StructType(
    [
        T.StructField("store_id", T.IntegerType(), False),
        T.StructField("sale_date", T.DateType(), False),
        T.StructField("revenue", T.DecimalType(18, 2), False),
        T.StructField("units", T.LongType(), False),
        T.StructField("revenue_7d", T.DecimalType(18, 2), False),
    ]
)


def transform(raw_sales: DataFrame) -> DataFrame:
    """Daily totals per store, then the 7-calendar-day sum ending on each day."""
    log.info("gold store_sales_rolling_7d: daily totals")
    daily = (
        raw_sales.where(F.col("store_id").isNotNull() & F.col("sale_date").isNotNull())
        .groupBy("store_id", "sale_date")
        .agg(
            F.sum(F.coalesce(F.col("revenue"), F.lit(0))).cast("decimal(18,2)").alias("revenue"),
            F.sum(F.coalesce(F.col("units"), F.lit(0))).cast("bigint").alias("units"),
        )
    )
    last_7_days = Window.partitionBy("store_id").orderBy(F.unix_date("sale_date")).rangeBetween(-6, 0)
    log.info("gold store_sales_rolling_7d: 7-day window")
    return daily.select(
        "store_id",
        "sale_date",
        "revenue",
        "units",
        F.sum("revenue").over(last_7_days).cast("decimal(18,2)").alias("revenue_7d"),
    ).select(*SCHEMA.fieldNames())
