"""payments_enriched (silver), reference solution: a left join that can neither drop nor multiply payments."""

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
        T.StructField("segment", T.StringType(), False),
        T.StructField("country", T.StringType(), True),
    ]
)


def transform(payments: DataFrame, customers: DataFrame) -> DataFrame:
    """Left join on customer_id (one customer row per id), 'unknown' segment when there is none."""
    log.info("silver payments_enriched: joining customers")
    one_per_id = Window.partitionBy("customer_id").orderBy(F.col("updated_at").desc_nulls_last())
    known = (
        customers.where(F.col("customer_id").isNotNull())
        .select("customer_id", "segment", "country", F.row_number().over(one_per_id).alias("_rank"))
        .where(F.col("_rank") == 1)
        .select(
            F.col("customer_id").alias("_customer_id"),
            F.col("segment").alias("_segment"),
            F.col("country").alias("_country"),
        )
    )
    joined = payments.join(known, payments["customer_id"] == known["_customer_id"], "left")
    return joined.select(
        "payment_id",
        "customer_id",
        "amount",
        "currency",
        "paid_at",
        F.coalesce(F.col("_segment"), F.lit("unknown")).alias("segment"),
        F.col("_country").alias("country"),
    )
