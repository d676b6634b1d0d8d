"""Output mutants change values, never the tags a column carries: a test must check values."""

from __future__ import annotations

from typing import Any

from pyspark.sql import types as T

from scaffolder.inside import mutation_ops

TAGGED = T.StructType(
    [
        T.StructField("order_id", T.StringType(), False, {"checked": True}),
        T.StructField("amount", T.DecimalType(10, 2), True, {"checked": True, "unit": "EUR"}),
    ]
)


def test_a_changed_or_nulled_column_keeps_its_metadata(spark: Any) -> None:
    from decimal import Decimal

    real = spark.createDataFrame([("o-1", Decimal("1.50")), ("o-2", Decimal("2.00"))], TAGGED)
    for mutant in (
        mutation_ops.null_column(real, "amount", "decimal(10,2)"),
        mutation_ops.value_changed(real, "amount", "decimal(10,2)"),
        mutation_ops.value_changed(real, "order_id", "string"),
    ):
        assert [f.metadata for f in mutant.schema.fields] == [f.metadata for f in real.schema.fields]
        assert sorted(mutant.collect()) != sorted(real.collect())  # the values did change
