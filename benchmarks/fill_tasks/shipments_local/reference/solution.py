"""shipments_local (silver), reference solution: local calendar via from_utc_timestamp, elapsed time on instants."""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

log = logging.getLogger(__name__)

SCHEMA = T.StructType(
    [
        T.StructField("shipment_id", T.StringType(), False),
        T.StructField("carrier", T.StringType(), True),
        T.StructField("warehouse_tz", T.StringType(), True),
        T.StructField("shipped_at", T.TimestampType(), True),
        T.StructField("ship_date_local", T.DateType(), True),
        T.StructField("ship_hour_local", T.IntegerType(), True),
        T.StructField("delivered_at", T.TimestampType(), True),
        T.StructField("transit_hours", T.DecimalType(8, 2), True),
    ]
)


def transform(raw_shipments: DataFrame) -> DataFrame:
    """Local date and hour in the warehouse's zone; transit time from the instants (DST-proof)."""
    log.info("silver shipments_local: local calendar")
    local = F.from_utc_timestamp("shipped_at", F.col("warehouse_tz"))
    seconds = F.unix_seconds(F.col("delivered_at")) - F.unix_seconds(F.col("shipped_at"))
    shaped = raw_shipments.where(F.col("shipment_id").isNotNull()).select(
        F.trim("shipment_id").alias("shipment_id"),
        F.upper(F.trim("carrier")).alias("carrier"),
        F.trim("warehouse_tz").alias("warehouse_tz"),
        F.col("shipped_at"),
        F.to_date(local).alias("ship_date_local"),
        F.hour(local).cast("int").alias("ship_hour_local"),
        F.col("delivered_at"),
        F.round(seconds.cast("decimal(20,6)") / F.lit(3600), 2).cast("decimal(8,2)").alias("transit_hours"),
    )
    one_per_id = Window.partitionBy("shipment_id").orderBy(F.col("shipped_at").desc_nulls_last())
    ranked = shaped.select("*", F.row_number().over(one_per_id).alias("_rank"))
    return ranked.where(F.col("_rank") == 1).select(*SCHEMA.fieldNames())
