"""On Spark Connect (the round, serverless, Databricks Connect), a test's own rows never make
`add_ingestion_metadata` ask the server for `_metadata`: that question can only fail there, and
each failure is a round trip and an ERROR in the log. A file source still gets its file's path."""

from __future__ import annotations

import logging
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lakeforge.io import add_ingestion_metadata
from lakeforge.jvm import java_available
from scaffolder import server_archive
from scaffolder.inside import server

pytestmark = pytest.mark.skipif(not java_available(), reason="no Java on this machine")


@pytest.fixture(scope="module")
def connect(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from pyspark.sql import SparkSession

    environ = dict(os.environ)  # a Connect client marks its process Connect-only: undone after
    scratch = tmp_path_factory.mktemp("connect")
    port = server.free_port()
    command = server.server_command(port, 1, str(scratch), archive=server_archive.ready_archive())
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        assert server.wait_for_port(port, 180, lambda: process.poll() is None), "the Connect server did not start"
        session = None
        for _ in range(60):
            try:
                session = SparkSession.builder.remote(f"sc://127.0.0.1:{port}").create()
                session.range(1).collect()
                break
            except Exception:
                time.sleep(1)
        assert session is not None
        yield session
        session.stop()  # before the server goes: a client left open retries it at interpreter exit
    finally:
        process.kill()
        process.wait()
        os.environ.clear()
        os.environ.update(environ)


def test_a_tests_own_rows_get_a_null_source_file_without_a_failed_question(connect: Any, caplog: Any) -> None:
    from pyspark.sql import functions as F

    rows = connect.createDataFrame([(1, "a"), (2, "b")], "id int, name string")
    joined = rows.join(connect.range(3).withColumnRenamed("id", "k"), F.col("id") == F.col("k"), "left")
    with caplog.at_level(logging.ERROR):
        out = add_ingestion_metadata(joined.select("id", "name")).collect()
    assert [r["_source_file"] for r in out] == [None, None]
    assert all(r["_ingested_at"] is not None for r in out)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], [r.getMessage()[:200] for r in caplog.records]


def test_a_file_source_still_gets_its_files_path(connect: Any, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "part-1.csv").write_text("1,a\n")
    files = connect.read.schema("id int, name string").csv(str(landing))
    out = add_ingestion_metadata(files).collect()
    assert [r["_source_file"].rsplit("/", 1)[-1] for r in out] == ["part-1.csv"]
