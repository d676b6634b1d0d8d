"""raw_customers: every landed row is kept as it came, stamped with when it was loaded."""

from datetime import datetime

import pytest
from lakeforge.testing import assert_df_equal, make_df

from shop_f.transformations.bronze.raw_customers import SCHEMA, transform

pytestmark = pytest.mark.unit

# What the pipeline reads from the landed CSV (the declared schema without the metadata).
LANDED = "customer_id INT, name STRING, email STRING, country STRING, updated_at TIMESTAMP"
ROWS = [
    (1, " Ada Lovelace ", "ADA@example.com", "gb", datetime(2026, 1, 5, 10)),
    (2, "Linus Torvalds", "linus@example.com", "fi", datetime(2026, 1, 3, 9)),
    (2, "Linus Torvalds", "linus@kernel.example.org", "FI", datetime(2026, 2, 1, 9)),
    (None, "Nobody", None, "xx", None),
]


def test_every_landed_row_is_kept_as_it_came(spark):
    result = transform(make_df(spark, ROWS, LANDED))
    assert result.columns == SCHEMA.fieldNames()
    assert_df_equal(result.drop("_ingested_at", "_source_file"), make_df(spark, ROWS, LANDED))


def test_rows_are_stamped_with_the_load_time(spark):
    rows = transform(make_df(spark, ROWS, LANDED)).collect()
    assert len(rows) == len(ROWS)
    assert all(row["_ingested_at"] is not None for row in rows)
    assert all(row["_source_file"] is None for row in rows)  # read from memory, not a file
