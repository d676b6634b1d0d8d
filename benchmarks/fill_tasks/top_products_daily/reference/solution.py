"""top_products_daily (gold), reference solution: row_number over a fully ordered window."""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

log = logging.getLogger(__name__)

SCHEMA = T.StructType(
    [
        T.StructField("sale_date", T.DateType(), False),
        T.StructField("rank", T.IntegerType(), False),
        T.StructField("product_id", T.StringType(), False),
        T.StructField("units", T.LongType(), False),
        T.StructField("revenue", T.DecimalType(18, 2), False),
    ]
)


def transform(raw_sales: DataFrame) -> DataFrame:
    """Totals per day and product, ranked by units, revenue, product_id; the first three per day."""
    log.info("gold top_products_daily: totals per product")
    totals = (
        raw_sales.where(F.col("product_id").isNotNull() & F.col("sale_date").isNotNull())
        .groupBy("sale_date", "product_id")
        .agg(
            F.sum(F.coalesce(F.col("units"), F.lit(0))).cast("bigint").alias("units"),
            F.sum(F.coalesce(F.col("revenue"), F.lit(0))).cast("decimal(18,2)").alias("revenue"),
        )
    )
    best_first = Window.partitionBy("sale_date").orderBy(
        F.col("units").desc(), F.col("revenue").desc(), F.col("product_id").asc()
    )
    log.info("gold top_products_daily: ranking")
    ranked = totals.select("*", F.row_number().over(best_first).cast("int").alias("rank"))
    return ranked.where(F.col("rank") <= 3).select(*SCHEMA.fieldNames())
