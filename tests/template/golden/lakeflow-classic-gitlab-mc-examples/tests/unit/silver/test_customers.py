"""customers: cleaned text, no rows without id, one row per customer (the latest)."""

from datetime import datetime

import pytest
from lakeforge.testing import assert_df_equal, make_df

from shop_b.transformations.silver.customers import SCHEMA, transform

pytestmark = pytest.mark.unit

RAW = (
    "customer_id INT, name STRING, email STRING, "
    "country STRING, updated_at TIMESTAMP, _ingested_at TIMESTAMP, _source_file STRING"
)
T0 = datetime(2026, 1, 1)


def test_keeps_the_latest_version_of_each_customer(spark):
    raw = make_df(
        spark,
        [
            (2, "Linus", "old@example.com", "fi", datetime(2026, 1, 3), T0, "a.csv"),
            (2, "Linus", "new@example.com", "fi", datetime(2026, 2, 1), T0, "b.csv"),
        ],
        RAW,
    )
    expected = make_df(spark, [(2, "Linus", "new@example.com", "FI", datetime(2026, 2, 1))], SCHEMA)
    assert_df_equal(transform(raw), expected)


def test_cleans_text_and_drops_rows_without_id(spark):
    raw = make_df(
        spark,
        [
            (1, " Ada ", " ADA@Example.com ", "gb", T0, T0, "a.csv"),
            (None, "Nobody", "n@example.com", "xx", T0, T0, "a.csv"),
        ],
        RAW,
    )
    expected = make_df(spark, [(1, "Ada", "ada@example.com", "GB", T0)], SCHEMA)
    assert_df_equal(transform(raw), expected)
