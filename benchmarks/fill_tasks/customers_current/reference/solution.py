"""customers_current (silver), reference solution: open versions, latest wins, then deleted ones leave."""

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
        T.StructField("tier", T.StringType(), True),
        T.StructField("valid_from", T.TimestampType(), False),
    ]
)


def transform(raw_customer_history: DataFrame) -> DataFrame:
    """The open version per customer (latest valid_from among open ones), unless it is a deletion."""
    log.info("silver customers_current: open versions")
    open_versions = raw_customer_history.where(
        F.col("valid_to").isNull() & F.col("customer_id").isNotNull() & F.col("valid_from").isNotNull()
    )
    latest_first = Window.partitionBy("customer_id").orderBy(F.col("valid_from").desc())
    ranked = open_versions.select("*", F.row_number().over(latest_first).alias("_rank"))
    current = ranked.where((F.col("_rank") == 1) & ~F.coalesce(F.col("is_deleted"), F.lit(False)))
    log.info("silver customers_current: one row per customer_id")
    return current.select(
        F.col("customer_id").cast("int").alias("customer_id"),
        F.trim("name").alias("name"),
        F.trim("tier").alias("tier"),
        F.col("valid_from").cast("timestamp").alias("valid_from"),
    )
