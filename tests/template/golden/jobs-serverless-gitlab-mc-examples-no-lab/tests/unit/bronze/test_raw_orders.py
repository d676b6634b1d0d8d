"""raw_orders: JSON lines are kept with their declared types and stamped with the load time."""

from datetime import datetime
from decimal import Decimal

import pytest
from lakeforge.testing import assert_df_equal, make_df

from shop_f.transformations.bronze.raw_orders import SCHEMA, transform

pytestmark = pytest.mark.unit

LANDED = "order_id STRING, customer_id INT, amount DECIMAL(10,2), status STRING, ordered_at TIMESTAMP"
ROWS = [
    ("o-1", 1, Decimal("120.50"), "PAID", datetime(2026, 2, 1, 10)),
    ("o-3", 2, Decimal("99.99"), "paid", datetime(2026, 2, 4, 12)),
    ("o-3", 2, Decimal("89.99"), "refunded", datetime(2026, 2, 5, 12)),
    ("o-4", None, Decimal("-5.00"), None, None),
]


def test_orders_are_kept_with_their_types(spark):
    result = transform(make_df(spark, ROWS, LANDED))
    assert result.columns == SCHEMA.fieldNames()
    assert_df_equal(result.drop("_ingested_at", "_source_file"), make_df(spark, ROWS, LANDED))


def test_orders_are_stamped_with_the_load_time(spark):
    rows = transform(make_df(spark, ROWS, LANDED)).collect()
    assert len(rows) == len(ROWS)
    assert all(row["_ingested_at"] is not None for row in rows)
