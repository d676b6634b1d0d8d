"""raw_customers (bronze): customer records exported nightly from the CRM as CSV.

The read (explicit schema, header row) happens in the pipeline; this module only shapes rows,
so its tests need no files.
"""

from __future__ import annotations

import logging

from lakeforge.io import add_ingestion_metadata
from pyspark.sql import DataFrame
from pyspark.sql import types as T

log = logging.getLogger(__name__)

SCHEMA = T.StructType(
    [
        T.StructField("customer_id", T.IntegerType(), True),
        T.StructField("name", T.StringType(), True),
        T.StructField("email", T.StringType(), True),
        T.StructField("country", T.StringType(), True),
        T.StructField("updated_at", T.TimestampType(), True),
        T.StructField("_ingested_at", T.TimestampType(), False),
        T.StructField("_source_file", T.StringType(), True),
    ]
)


def transform(raw: DataFrame) -> DataFrame:
    """Keep the raw columns as landed and stamp each row with where and when it was loaded."""
    log.info("bronze raw_customers: adding ingestion metadata")
    return add_ingestion_metadata(raw).select(*SCHEMA.fieldNames())
