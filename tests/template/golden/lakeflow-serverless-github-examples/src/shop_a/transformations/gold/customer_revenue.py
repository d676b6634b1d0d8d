"""customer_revenue (gold): orders and revenue per customer, customers without orders included."""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

log = logging.getLogger(__name__)

SCHEMA = T.StructType(
    [
        T.StructField("customer_id", T.IntegerType(), False),
        T.StructField("name", T.StringType(), True),
        T.StructField("country", T.StringType(), True),
        T.StructField("order_count", T.LongType(), False),
        T.StructField("total_revenue", T.DecimalType(20, 2), True),
    ]
)


def transform(customers: DataFrame, orders: DataFrame) -> DataFrame:
    """Left-join orders to customers and aggregate per customer."""
    log.info("gold customer_revenue: joining customers and orders")
    joined = customers.join(orders.select("customer_id", "order_id", "amount"), on="customer_id", how="left")
    return joined.groupBy("customer_id", "name", "country").agg(
        F.count("order_id").alias("order_count"),
        F.sum("amount").cast("decimal(20,2)").alias("total_revenue"),
    )
