"""revenue_by_segment (gold), reference solution: the hints' aggregate, with declared types."""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

log = logging.getLogger(__name__)

SCHEMA = T.StructType(
    [
        T.StructField("segment", T.StringType(), False),
        T.StructField("currency", T.StringType(), True),
        T.StructField("payment_count", T.LongType(), False),
        T.StructField("customer_count", T.LongType(), False),
        T.StructField("revenue", T.DecimalType(18, 2), True),
    ]
)


def transform(payments_enriched: DataFrame) -> DataFrame:
    """Group by segment and currency; count payments, distinct customers; sum amounts."""
    log.info("gold revenue_by_segment: aggregating")
    return (
        payments_enriched.groupBy("segment", "currency")
        .agg(
            F.count("payment_id").cast("bigint").alias("payment_count"),
            F.countDistinct("customer_id").cast("bigint").alias("customer_count"),
            F.sum("amount").cast("decimal(18,2)").alias("revenue"),
        )
        .select(*SCHEMA.fieldNames())
    )
