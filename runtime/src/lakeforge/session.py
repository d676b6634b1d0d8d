"""One way to get a SparkSession in every environment.

On a Databricks cluster the session already exists and must be reused (a second, local session
there would silently write to the driver's disk). With Databricks Connect configured, the code
runs locally against a remote cluster. Otherwise it is a local session tuned for fast start-up,
because local sessions mostly serve tests and the JVM start dominates their wall time.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakeforge.config import ConfigLoader, EnvironmentConfig
from lakeforge.errors import EnvironmentIsolationError, LakeforgeError
from lakeforge.jvm import driver_java_options, ensure_java, writing_archive

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

ALLOW_PROD_VAR = "LAKEFORGE_ALLOW_PROD_OUTSIDE_DATABRICKS"

# Local defaults: each one shaves start-up or per-query time off small test workloads.
LOCAL_DEFAULTS: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "1",
    "spark.default.parallelism": "1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.driver.host": "127.0.0.1",
    "spark.sql.session.timeZone": "UTC",
    "spark.rdd.compress": "false",
    "spark.shuffle.compress": "false",
    "spark.sql.adaptive.enabled": "false",
    "spark.executor.heartbeatInterval": "60s",
    "spark.sql.sources.parallelPartitionDiscovery.parallelism": "1",
    # Tiny test data: interpreting plans beats compiling them (Janino codegen costs seconds).
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
}


def on_databricks(environ: Mapping[str, str] | None = None) -> bool:
    """True inside a Databricks cluster or serverless runtime."""
    return bool((os.environ if environ is None else environ).get("DATABRICKS_RUNTIME_VERSION"))


def databricks_connect_configured(environ: Mapping[str, str] | None = None) -> bool:
    """True when `databricks-connect` is installed and told which compute to use."""
    environ = os.environ if environ is None else environ
    wants_remote = any(
        environ.get(var) for var in ("DATABRICKS_CLUSTER_ID", "DATABRICKS_SERVERLESS_COMPUTE_ID", "SPARK_REMOTE")
    )
    if not wants_remote:
        return False
    try:
        import databricks.connect  # noqa: F401
    except ImportError:
        return False
    return True


class SparkSessionFactory:
    """Creates the right SparkSession for an environment (design research §1)."""

    @staticmethod
    def create(env: str | None = None, config_path: str | os.PathLike[str] | None = None) -> SparkSession:
        """The session for `env`, configured from `config/{env}.yaml` (see the module docstring)."""
        config = ConfigLoader.load(env, config_path)
        return SparkSessionFactory.from_config(config)

    @staticmethod
    def from_config(config: EnvironmentConfig) -> SparkSession:
        if on_databricks():
            from pyspark.sql import SparkSession

            active = SparkSession.getActiveSession()
            return active if active is not None else SparkSession.builder.getOrCreate()
        if config.is_prod and not (config.allow_outside_databricks or os.environ.get(ALLOW_PROD_VAR) == "1"):
            raise EnvironmentIsolationError(
                "the prod environment only runs on Databricks: deploy with `databricks bundle deploy -t prod`, "
                f"or set {ALLOW_PROD_VAR}=1 if you really mean to run prod from here"
            )
        if databricks_connect_configured():
            from databricks.connect import DatabricksSession

            remote: SparkSession = DatabricksSession.builder.getOrCreate()
            return remote
        return SparkSessionFactory.create_local(
            app_name=config.spark.app_name,
            master=config.spark.master,
            conf=config.spark.config,
        )

    @staticmethod
    def create_local(
        app_name: str = "lakeforge",
        master: str | None = None,
        conf: Mapping[str, Any] | None = None,
        warehouse_dir: str | os.PathLike[str] | None = None,
    ) -> SparkSession:
        """A local session with the fast-start defaults; `conf` overrides them key by key."""
        ensure_java()
        try:
            from pyspark.sql import SparkSession
        except ImportError:
            raise LakeforgeError(
                "pyspark is not installed: install the runtime with `pip install 'lakeforge[spark]'`"
            ) from None
        settings = {**LOCAL_DEFAULTS, **{k: str(v) for k, v in (conf or {}).items()}}
        _pin_local_ip(settings)
        if warehouse_dir is not None:
            settings["spark.sql.warehouse.dir"] = str(Path(warehouse_dir).resolve())
        user_java = settings.get("spark.driver.extraJavaOptions", "")
        settings["spark.driver.extraJavaOptions"] = " ".join(filter(None, [driver_java_options(), user_java]))
        builder = SparkSession.builder.master(master or "local[1]").appName(app_name)
        for key, value in settings.items():
            builder = builder.config(key, value)
        session = builder.getOrCreate()
        session.sparkContext.setLogLevel("WARN")
        if writing_archive():
            _warm_up(session)
        return session


def _pin_local_ip(settings: Mapping[str, str]) -> None:
    """Tell the JVM which address is local before it starts (SPARK_LOCAL_IP, read at its start).

    Without it, Spark looks the hostname up before it reads any conf; where the hostname resolves
    to a loopback address (most laptops and CI runners) it logs "Your hostname ... resolves to a
    loopback address ... Set SPARK_LOCAL_IP" on every start, although the session binds to the
    loopback anyway. The variable is only set when the environment has none (an explicit choice
    wins), to the driver's host (127.0.0.1 unless `conf` says otherwise); child JVMs inherit it.
    """
    if not os.environ.get("SPARK_LOCAL_IP"):
        os.environ["SPARK_LOCAL_IP"] = settings.get("spark.driver.host") or "127.0.0.1"


def _warm_up(spark: SparkSession) -> None:
    """Load the classes typical pipeline tests need, so the class-data archive maps them next time.

    Runs once per machine (when the archive is written): joins, windows, aggregates, casts,
    file reads and writes. Every later start then skips seconds of class loading in the first test.
    """
    import tempfile

    from pyspark.sql import Window
    from pyspark.sql import functions as F

    left = spark.createDataFrame([(1, "a", 1.5), (2, "b", None)], "id INT, name STRING, amount DOUBLE")
    right = spark.createDataFrame([(1, "x")], "id INT, tag STRING")
    ranked = left.select("*", F.row_number().over(Window.partitionBy("id").orderBy(F.desc("amount"))).alias("r"))
    joined = ranked.where("r = 1").join(right, "id", "left")
    joined.groupBy("name").agg(F.count("tag"), F.sum("amount").cast("decimal(20,2)"), F.max("id")).collect()
    with tempfile.TemporaryDirectory() as folder:
        joined.write.mode("overwrite").parquet(f"{folder}/p")
        spark.read.parquet(f"{folder}/p").select(F.col("_metadata.file_path"), F.trim("name")).collect()
        left.write.mode("overwrite").option("header", "true").csv(f"{folder}/c")
        spark.read.schema("id INT, name STRING, amount DOUBLE").option("header", "true").csv(f"{folder}/c").collect()
        left.write.mode("overwrite").json(f"{folder}/j")
        spark.read.schema("id INT, name STRING, amount DOUBLE").json(f"{folder}/j").orderBy("id").collect()
