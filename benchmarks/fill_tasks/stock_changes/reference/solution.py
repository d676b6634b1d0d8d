"""stock_changes (silver), reference solution: full outer join of the two latest snapshots, eqNullSafe."""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

log = logging.getLogger(__name__)

SCHEMA = T.StructType(
    [
        T.StructField("sku", T.StringType(), False),
        T.StructField("change", T.StringType(), False),
        T.StructField("old_location", T.StringType(), True),
        T.StructField("new_location", T.StringType(), True),
        T.StructField("old_qty", T.IntegerType(), True),
        T.StructField("new_qty", T.IntegerType(), True),
    ]
)


def transform(raw_stock_counts: DataFrame) -> DataFrame:
    """Compare the latest snapshot with the one before it, null-safely."""
    log.info("silver stock_changes: the two latest snapshots")
    dates = raw_stock_counts.where(F.col("snapshot_date").isNotNull()).select("snapshot_date").distinct()
    newest_first = Window.orderBy(F.col("snapshot_date").desc())
    ranked = dates.select("snapshot_date", F.row_number().over(newest_first).alias("_rank"))
    counts = raw_stock_counts.where(F.col("sku").isNotNull()).join(ranked.where(F.col("_rank") <= 2), "snapshot_date")
    new = counts.where(F.col("_rank") == 1).select(
        "sku", F.col("location").alias("new_location"), F.col("qty").alias("new_qty"), F.lit(True).alias("_in_new")
    )
    old = counts.where(F.col("_rank") == 2).select(
        "sku", F.col("location").alias("old_location"), F.col("qty").alias("old_qty"), F.lit(True).alias("_in_old")
    )
    both = old.join(new, "sku", "full_outer")
    change = (
        F.when(F.col("_in_old").isNull(), F.lit("added"))
        .when(F.col("_in_new").isNull(), F.lit("removed"))
        .when(
            ~F.col("old_location").eqNullSafe(F.col("new_location")) | ~F.col("old_qty").eqNullSafe(F.col("new_qty")),
            F.lit("changed"),
        )
    )
    log.info("silver stock_changes: null-safe comparison")
    return both.select("*", change.alias("change")).where(F.col("change").isNotNull()).select(*SCHEMA.fieldNames())
