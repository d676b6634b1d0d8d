"""The round's Spark: one Spark Connect server (one JVM) that every worker connects to.

Spark Connect is what Databricks serverless and shared clusters run, so code that passes here
does not lean on `sparkContext`, RDDs or the JVM. The server starts once per `scaffold` command,
inside the sandbox, with the same tuned settings as the repo's local test sessions
(`lakeforge.session.LOCAL_DEFAULTS`); every run opens its own session on it, so no run sees
another's temporary views or settings.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import time
from collections.abc import Callable
from pathlib import Path

from lakeforge.jvm import FAST_START_OPTIONS
from lakeforge.session import LOCAL_DEFAULTS

SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
# What Spark's launcher (`JavaModuleOptions`) passes a JVM 17+ so Arrow and Netty can work; the
# launcher itself would cost one more JVM start.
MODULE_OPTIONS = (
    "-XX:+IgnoreUnrecognizedVMOptions",
    "--add-modules=jdk.incubator.vector",
    *(
        f"--add-opens=java.base/{package}=ALL-UNNAMED"
        for package in (
            "java.lang",
            "java.lang.invoke",
            "java.lang.reflect",
            "java.io",
            "java.net",
            "java.nio",
            "java.util",
            "java.util.concurrent",
            "java.util.concurrent.atomic",
            "jdk.internal.ref",
            "sun.nio.ch",
            "sun.nio.cs",
            "sun.security.action",
            "sun.util.calendar",
        )
    ),
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Dio.netty.allocator.type=pooled",
    "--enable-native-access=ALL-UNNAMED",
    "-Dderby.connection.requireAuthentication=false",
)
SERVER_DEFAULTS = {
    **LOCAL_DEFAULTS,
    "spark.connect.grpc.binding.address": "127.0.0.1",
    "spark.sql.catalogImplementation": "in-memory",
    "spark.driver.maxResultSize": "64m",
    "spark.log.level": "WARN",
}


def spark_home() -> Path:
    import pyspark

    return Path(os.environ.get("SPARK_HOME") or Path(pyspark.__file__).parent)


def java_binary() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if not found:
        raise FileNotFoundError("no java on PATH and no JAVA_HOME: install Java 17 or 21")
    return found


def server_classpath() -> str:
    home = spark_home()
    return os.pathsep.join([str(home / "conf"), *sorted(glob.glob(str(home / "jars" / "*.jar")))])


def server_command(
    port: int, cores: int, scratch: str, heap: str = "1g", archive: str | None = None, dump_to: str | None = None
) -> list[str]:
    """The JVM command line of the Connect server (the launcher's work, done here).

    `archive` maps a class-data archive written for this very classpath (the local sessions'
    archive does not fit: a different classpath makes the JVM refuse it); `dump_to` writes one at exit.
    """
    classpath = server_classpath()
    conf = {
        **SERVER_DEFAULTS,
        "spark.master": f"local[{max(1, cores)}]",
        "spark.connect.grpc.binding.port": str(port),
        "spark.sql.warehouse.dir": f"{scratch}/warehouse",
        "spark.local.dir": f"{scratch}/spark",
        "spark.app.name": "scaffold-round",
    }
    options = [f"-Xmx{heap}", *FAST_START_OPTIONS, *MODULE_OPTIONS, f"-Djava.io.tmpdir={scratch}", "-XX:-UsePerfData"]
    if archive:
        options.append(f"-XX:SharedArchiveFile={archive}")
    elif dump_to:
        options.append(f"-XX:ArchiveClassesAtExit={dump_to}")
    command = [
        java_binary(),
        *options,
        "-cp",
        classpath,
        "org.apache.spark.deploy.SparkSubmit",
        "--class",
        SERVER_CLASS,
    ]
    for key, value in conf.items():
        command += ["--conf", f"{key}={value}"]
    return [*command, "spark-internal"]


def wait_for_port(port: int, timeout: float, alive: Callable[[], bool]) -> bool:
    """True once something accepts on 127.0.0.1:port (a plain TCP probe: no gRPC before fork)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            return False
        with socket.socket() as probe:
            probe.settimeout(0.5)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def warm_up(url: str) -> None:
    """Run the shapes of typical pipeline tests once: what the round server's class-data archive
    records (`server_archive`), written by a server that runs only this.

    A round's own server does not run it: the archive already maps these classes, and a warm-up
    before the first run made every fill wait ~3 s; without it the first runs load what they use,
    for about the same CPU in all.
    """
    from pyspark.sql import SparkSession, Window
    from pyspark.sql import functions as F

    spark = SparkSession.builder.remote(url).create()
    left = spark.createDataFrame(
        [(1, "a ", 1.5, "10.25"), (2, "B", None, None), (2, "b", 3.0, "1")],
        "id INT, name STRING, amount DOUBLE, price STRING",
    )
    right = spark.createDataFrame([(1, "x")], "id INT, tag STRING")
    ranked = left.select("*", F.row_number().over(Window.partitionBy("id").orderBy(F.desc("amount"))).alias("r"))
    joined = ranked.where("r = 1").join(right, "id", "left")
    typed = joined.select(
        F.trim("name").alias("name"),
        F.lower("name").alias("lower"),
        F.col("price").cast("decimal(10,2)").alias("price"),
        F.to_timestamp(F.lit("2026-01-01 00:00:00")).alias("at"),
        F.col("tag").isNotNull().alias("tagged"),
    )
    typed.collect()
    joined.groupBy("name").agg(F.count("tag"), F.sum("amount"), F.avg("amount"), F.max("id")).collect()
    left.exceptAll(left.orderBy(*[left[c].asc_nulls_first() for c in left.columns]).limit(1)).collect()
    left.unionAll(left.limit(1)).dropDuplicates(["id"]).limit(5).count()
    spark.stop()
