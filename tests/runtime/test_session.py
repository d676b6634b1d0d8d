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


def test_a_local_start_does_not_warn_about_a_loopback_hostname(tmp_path: Path) -> None:
    """Spark looks the hostname up before it reads any conf; the factory pins SPARK_LOCAL_IP first,
    so a laptop whose hostname resolves to 127.0.x.x gets no "resolves to a loopback address" WARN."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "SPARK_LOCAL_IP"}
    code = (
        "from lakeforge.session import SparkSessionFactory as F\n"
        "import os\n"
        "s = F.create_local(warehouse_dir='w')\n"
        "print(s.range(3).count(), os.environ['SPARK_LOCAL_IP'])\n"
        "s.stop()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["3", "127.0.0.1"]
    assert "loopback address" not in done.stderr and "SPARK_LOCAL_IP" not in done.stderr, done.stderr
