"""daily_revenue_eur (gold), reference solution: per-payment decimal conversion, rounded, then summed."""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

log = logging.getLogger(__name__)

SCHEMA = T.StructType(
    [
        T.StructField("pay_date", T.DateType(), False),
        T.StructField("revenue_eur", T.DecimalType(18, 2), False),
        T.StructField("payment_count", T.LongType(), False),
        T.StructField("unconverted_count", T.LongType(), False),
    ]
)


def transform(payments: DataFrame, raw_fx_rates: DataFrame) -> DataFrame:
    """Convert each payment at its day's rate (EUR at 1), round to cents, sum per day."""
    log.info("gold daily_revenue_eur: converting payments")
    dated = payments.where(F.col("paid_at").isNotNull()).select(
        "payment_id", "amount", F.upper("currency").alias("currency"), F.to_date("paid_at").alias("pay_date")
    )
    rates = raw_fx_rates.select(
        F.upper("currency").alias("_currency"), F.col("rate_date").alias("_rate_date"), "rate_to_eur"
    )
    joined = dated.join(
        rates, (dated["currency"] == rates["_currency"]) & (dated["pay_date"] == rates["_rate_date"]), "left"
    )
    rate = F.when(F.col("currency") == "EUR", F.lit(1).cast("decimal(12,6)")).otherwise(F.col("rate_to_eur"))
    converted = joined.select("pay_date", F.round(F.col("amount") * rate, 2).alias("eur"))
    log.info("gold daily_revenue_eur: summing per day")
    daily = converted.groupBy("pay_date").agg(
        F.coalesce(F.sum("eur"), F.lit(0)).cast("decimal(18,2)").alias("revenue_eur"),
        F.count(F.lit(1)).alias("payment_count"),
        F.count(F.when(F.col("eur").isNull(), F.lit(1))).alias("unconverted_count"),
    )
    return daily.select(*SCHEMA.fieldNames())
