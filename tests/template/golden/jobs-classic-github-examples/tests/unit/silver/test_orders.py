"""orders: invalid orders are dropped and each order id appears once."""

from datetime import datetime
from decimal import Decimal

import pytest
from lakeforge.testing import assert_df_equal, make_df

from shop_d.transformations.silver.orders import SCHEMA, transform

pytestmark = pytest.mark.unit

RAW = (
    "order_id STRING, customer_id INT, amount DECIMAL(10,2), "
    "status STRING, ordered_at TIMESTAMP, _ingested_at TIMESTAMP, _source_file STRING"
)
T0 = datetime(2026, 2, 1)


def test_drops_invalid_orders_and_keeps_latest_version(spark):
    raw = make_df(
        spark,
        [
            ("o-1", 1, Decimal("10.00"), "PAID", T0, T0, "f"),
            ("o-3", 2, Decimal("99.99"), "paid", datetime(2026, 2, 4), T0, "f"),
            ("o-3", 2, Decimal("89.99"), "refunded", datetime(2026, 2, 5), T0, "f"),
            ("o-4", None, Decimal("10.00"), "paid", T0, T0, "f"),
            ("o-5", 3, Decimal("-5.00"), "paid", T0, T0, "f"),
        ],
        RAW,
    )
    expected = make_df(
        spark,
        [
            ("o-1", 1, Decimal("10.00"), "paid", T0),
            ("o-3", 2, Decimal("89.99"), "refunded", datetime(2026, 2, 5)),
        ],
        SCHEMA,
    )
    assert_df_equal(transform(raw), expected)
