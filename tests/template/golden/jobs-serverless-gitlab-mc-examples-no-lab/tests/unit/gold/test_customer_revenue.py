"""customer_revenue: per-customer counts and sums, customers without orders kept with 0."""

from datetime import datetime
from decimal import Decimal

import pytest
from lakeforge.testing import assert_df_equal, make_df

from shop_f.transformations.gold.customer_revenue import SCHEMA, transform
from shop_f.transformations.silver.customers import SCHEMA as CUSTOMERS
from shop_f.transformations.silver.orders import SCHEMA as ORDERS

pytestmark = pytest.mark.unit

T0 = datetime(2026, 2, 1)


def test_aggregates_orders_per_customer(spark):
    customers = make_df(
        spark,
        [(1, "Ada", "a@x.org", "GB", T0), (2, "Linus", "l@x.org", "FI", T0), (3, "Grace", "g@x.org", "US", T0)],
        CUSTOMERS,
    )
    orders = make_df(
        spark,
        [
            ("o-1", 1, Decimal("120.50"), "paid", T0),
            ("o-2", 1, Decimal("30.00"), "paid", T0),
            ("o-3", 2, Decimal("89.99"), "refunded", T0),
        ],
        ORDERS,
    )
    expected = make_df(
        spark,
        [
            (1, "Ada", "GB", 2, Decimal("150.50")),
            (2, "Linus", "FI", 1, Decimal("89.99")),
            (3, "Grace", "US", 0, None),
        ],
        SCHEMA,
    )
    assert_df_equal(transform(customers, orders), expected)
