"""SparkSessionFactory: the tuned local session, and the guards around prod."""

from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from lakeforge import ConfigError, EnvironmentIsolationError, SparkSessionFactory
from lakeforge.session import LOCAL_DEFAULTS


def test_local_session_is_tuned(spark: SparkSession) -> None:
    conf = spark.sparkContext.getConf()
    assert conf.get("spark.ui.enabled") == "false"
    assert spark.conf.get("spark.sql.shuffle.partitions") == "1"
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
    assert conf.get("spark.driver.bindAddress") == "127.0.0.1"
    java = conf.get("spark.driver.extraJavaOptions")
    assert "-XX:+UseSerialGC" in java and "-XX:TieredStopAtLevel=1" in java
    assert spark.sparkContext.master.startswith("local")
    assert spark.range(5).selectExpr("sum(id) AS s").first()["s"] == 10


def test_create_applies_the_environment_config(spark: SparkSession, tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "defaults.yaml").write_text("catalog: {name: spark_catalog, schema: shop}\n")
    (config / "local.yaml").write_text("spark:\n  config:\n    spark.sql.shuffle.partitions: 3\n")
    try:
        session = SparkSessionFactory.create("local", config)
        assert session.conf.get("spark.sql.shuffle.partitions") == "3"
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", LOCAL_DEFAULTS["spark.sql.shuffle.partitions"])


def test_unknown_env_lists_known(tmp_path: Path) -> None:
    (tmp_path / "defaults.yaml").write_text("catalog: {name: spark_catalog, schema: shop}\n")
    (tmp_path / "local.yaml").write_text("{}\n")
    with pytest.raises(ConfigError, match="known ones in .* are local"):
        SparkSessionFactory.create("qa", tmp_path)


def test_prod_refuses_to_run_outside_databricks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABRICKS_RUNTIME_VERSION", raising=False)
    monkeypatch.delenv("LAKEFORGE_ALLOW_PROD_OUTSIDE_DATABRICKS", raising=False)
    (tmp_path / "defaults.yaml").write_text("catalog: {name: spark_catalog, schema: shop}\n")
    (tmp_path / "prod.yaml").write_text("catalog: {name: prod_analytics}\n")
    with pytest.raises(EnvironmentIsolationError, match="only runs on Databricks"):
        SparkSessionFactory.create("prod", tmp_path)


def test_prod_override_is_explicit(spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEFORGE_ALLOW_PROD_OUTSIDE_DATABRICKS", "1")
    (tmp_path / "defaults.yaml").write_text("catalog: {name: spark_catalog, schema: shop}\n")
    (tmp_path / "prod.yaml").write_text("catalog: {name: prod_analytics}\n")
    assert SparkSessionFactory.create("prod", tmp_path) is spark
