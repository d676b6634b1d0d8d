"""events_flat (silver), reference solution: from_json with an explicit schema, then flatten."""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

log = logging.getLogger(__name__)

SCHEMA = T.StructType(
    [
        T.StructField("event_id", T.StringType(), False),
        T.StructField("user_id", T.LongType(), True),
        T.StructField("country", T.StringType(), True),
        T.StructField("event_type", T.StringType(), True),
        T.StructField("order_total", T.DecimalType(10, 2), True),
        T.StructField("item_count", T.IntegerType(), False),
        T.StructField("event_ts", T.TimestampType(), True),
    ]
)

PAYLOAD = T.StructType(
    [
        T.StructField("event_id", T.StringType()),
        T.StructField("type", T.StringType()),
        T.StructField(
            "user", T.StructType([T.StructField("id", T.LongType()), T.StructField("country", T.StringType())])
        ),
        T.StructField("order", T.StructType([T.StructField("total", T.DecimalType(10, 2))])),
        T.StructField("items", T.ArrayType(T.StringType())),
    ]
)


def transform(raw_events: DataFrame) -> DataFrame:
    """Parse the payload, keep events with an id, one row per event (the latest event_ts)."""
    log.info("silver events_flat: parsing payload")
    parsed = raw_events.select(F.from_json("payload", PAYLOAD).alias("p"), "event_ts")
    flat = parsed.select(
        F.trim("p.event_id").alias("event_id"),
        F.col("p.user.id").alias("user_id"),
        F.col("p.user.country").alias("country"),
        F.lower("p.type").alias("event_type"),
        F.col("p.order.total").alias("order_total"),
        F.coalesce(F.size("p.items"), F.lit(0)).cast("int").alias("item_count"),
        F.col("event_ts"),
    ).where(F.col("event_id").isNotNull())
    latest_first = Window.partitionBy("event_id").orderBy(F.col("event_ts").desc_nulls_last())
    log.info("silver events_flat: one row per event_id")
    ranked = flat.select("*", F.row_number().over(latest_first).alias("_rank"))
    return ranked.where(F.col("_rank") == 1).select(*SCHEMA.fieldNames())
