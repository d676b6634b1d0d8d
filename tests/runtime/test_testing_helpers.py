"""lakeforge.testing's assertions report the first difference, so a failing test says why."""

import pytest
from pyspark.sql import types as T

from lakeforge.testing import assert_df_equal, assert_schema_equal, make_df

SCHEMA = T.StructType([T.StructField("id", T.IntegerType(), False), T.StructField("name", T.StringType(), True)])


def test_schema_equal_names_the_first_differing_column() -> None:
    assert_schema_equal(SCHEMA, SCHEMA)
    other = T.StructType([T.StructField("id", T.LongType(), False), T.StructField("name", T.StringType(), True)])
    with pytest.raises(
        AssertionError, match=r"column 0: got \('id', 'int', False\), expected \('id', 'bigint', False\)"
    ):
        assert_schema_equal(SCHEMA, other)
    nullable = T.StructType([T.StructField("id", T.IntegerType(), True), T.StructField("name", T.StringType(), True)])
    with pytest.raises(AssertionError):
        assert_schema_equal(SCHEMA, nullable)
    assert_schema_equal(SCHEMA, nullable, ignore_nullable=True)
    with pytest.raises(AssertionError, match="has 1 columns, expected 2"):
        assert_schema_equal(T.StructType(SCHEMA.fields[:1]), SCHEMA)


def test_df_equal_ignores_row_order_not_values(spark) -> None:
    left = make_df(spark, [(1, "a"), (2, None)], SCHEMA)
    assert_df_equal(left, make_df(spark, [(2, None), (1, "a")], SCHEMA))
    with pytest.raises(AssertionError):
        assert_df_equal(left, make_df(spark, [(1, "a"), (2, "b")], SCHEMA))
