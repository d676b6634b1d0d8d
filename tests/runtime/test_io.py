"""lakeforge.io on real local Spark: read with a schema, add metadata, write, merge."""

from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakeforge import LakeforgeError
from lakeforge.io import INGESTED_AT, SOURCE_FILE, add_ingestion_metadata, read_source, resolve_format, write_table
from lakeforge.testing import assert_df_equal, make_df

SCHEMA = "customer_id INT, name STRING, city STRING"


@pytest.fixture
def customers_csv(tmp_path: Path) -> Path:
    path = tmp_path / "landing" / "customers.csv"
    path.parent.mkdir()
    path.write_text("customer_id,name,city\n1,Ada,London\n2,Linus,Helsinki\n")
    return path


def test_csv_round_trip_with_metadata(spark: SparkSession, customers_csv: Path) -> None:
    raw = read_source(spark, str(customers_csv.parent), "csv", SCHEMA, {"header": "true"})
    assert raw.schema.simpleString() == "struct<customer_id:int,name:string,city:string>"
    bronze = add_ingestion_metadata(raw)
    assert bronze.columns == ["customer_id", "name", "city", INGESTED_AT, SOURCE_FILE]
    files = {row[SOURCE_FILE] for row in bronze.collect()}
    assert len(files) == 1 and files.pop().endswith("customers.csv")

    table = "spark_catalog.shop_bronze.customers"
    assert write_table(bronze, table) == "parquet"
    back = spark.table(table).drop(INGESTED_AT, SOURCE_FILE)
    assert_df_equal(back, make_df(spark, [(1, "Ada", "London"), (2, "Linus", "Helsinki")], SCHEMA))


def test_metadata_on_a_non_file_frame_has_null_source(spark: SparkSession) -> None:
    df = add_ingestion_metadata(make_df(spark, [(1, "a", "b")], SCHEMA))
    row = df.first()
    assert row[SOURCE_FILE] is None and row[INGESTED_AT] is not None


def test_merge_on_keys_updates_and_inserts(spark: SparkSession) -> None:
    table = "spark_catalog.shop_silver.customers"
    first = make_df(spark, [(1, "Ada", "London"), (2, "Linus", "Helsinki")], SCHEMA)
    write_table(first, table, mode="merge", keys=["customer_id"])
    update = make_df(spark, [(2, "Linus", "Portland"), (3, "Grace", "Arlington")], SCHEMA)
    write_table(update, table, mode="merge", keys=["customer_id"])
    expected = make_df(spark, [(1, "Ada", "London"), (2, "Linus", "Portland"), (3, "Grace", "Arlington")], SCHEMA)
    assert_df_equal(spark.table(table), expected)
    assert not spark.catalog.tableExists("spark_catalog.shop_silver.customers__lakeforge_merge")


def test_append_adds_rows(spark: SparkSession) -> None:
    table = "spark_catalog.shop_bronze.events"
    df = make_df(spark, [(1, "a", "x")], SCHEMA)
    write_table(df, table)
    write_table(df.withColumn("customer_id", F.lit(2)), table, mode="append")
    assert sorted(r.customer_id for r in spark.table(table).collect()) == [1, 2]


def test_merge_without_keys_is_refused(spark: SparkSession) -> None:
    with pytest.raises(LakeforgeError, match="needs keys"):
        write_table(make_df(spark, [(1, "a", "b")], SCHEMA), "spark_catalog.shop_gold.t", mode="merge")


def test_merge_with_unknown_key_is_refused(spark: SparkSession) -> None:
    with pytest.raises(LakeforgeError, match=r"\['id'\] are not columns"):
        write_table(make_df(spark, [(1, "a", "b")], SCHEMA), "spark_catalog.shop_gold.t2", mode="merge", keys=["id"])


def test_unqualified_table_is_refused(spark: SparkSession) -> None:
    with pytest.raises(LakeforgeError, match="not fully qualified"):
        write_table(make_df(spark, [(1, "a", "b")], SCHEMA), "customers")


def test_read_without_schema_is_refused(spark: SparkSession, customers_csv: Path) -> None:
    with pytest.raises(LakeforgeError, match="no schema"):
        read_source(spark, str(customers_csv), "csv", "")
    with pytest.raises(LakeforgeError, match="not supported"):
        read_source(spark, str(customers_csv), "xlsx", SCHEMA)


def test_format_resolution(spark: SparkSession) -> None:
    assert resolve_format(spark, "auto") == "parquet"
    assert resolve_format(spark, "delta") == "delta"
    with pytest.raises(LakeforgeError):
        resolve_format(spark, "iceberg")
