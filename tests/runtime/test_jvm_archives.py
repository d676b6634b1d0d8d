"""The class-data archives' folder keeps what was used lately, within a size, and nothing half-written.

Every venv (every pyspark install) gets its own ~200 MB archive; without a rule the folder grew
to 17 GB on this machine in two days of test runs.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from lakeforge import jvm

MB = 1024**2
DAY = 24 * 3600


def archive(folder: Path, name: str, size: int, used_days_ago: float) -> Path:
    path = folder / name
    with path.open("wb") as handle:
        handle.truncate(size)  # sparse: the size counts, the disk does not
    when = time.time() - used_days_ago * DAY
    os.utime(path, (when, when))
    return path


def test_pruning_keeps_the_recently_used_within_the_size_and_the_one_being_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jvm, "ARCHIVES_MAX_BYTES", 500 * MB)
    fresh = archive(tmp_path, "spark-a.jsa", 200 * MB, 0.1)
    second = archive(tmp_path, "connect-b.jsa", 200 * MB, 1)
    over_size = archive(tmp_path, "spark-c.jsa", 200 * MB, 2)  # 600 MB with the two above
    too_old = archive(tmp_path, "spark-d.jsa", 1 * MB, 20)
    writing = archive(tmp_path, "spark-new.jsa", 0, 30)  # the one about to be written stays
    stale_lock = archive(tmp_path, "spark-c.lock", 0, 1)
    live_lock = archive(tmp_path, "spark-new.lock", 0, 0)
    stale_partial = archive(tmp_path, "connect-b.123.partial", 50 * MB, 1)

    removed = jvm.prune_archives(tmp_path, keep=writing)

    assert sorted(removed) == sorted([over_size, too_old])
    left = {p.name for p in tmp_path.iterdir()}
    assert left == {fresh.name, second.name, writing.name, live_lock.name}
    assert not stale_lock.exists() and not stale_partial.exists()


def test_mapping_an_archive_marks_it_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(jvm.CACHE_VAR, str(tmp_path))
    monkeypatch.setenv(jvm.CDS_VAR, "1")
    path = jvm.archive_path()
    path.parent.mkdir(parents=True)
    archive(path.parent, path.name, 1 * MB, 10)
    assert jvm.cds_options() == [f"-XX:SharedArchiveFile={path}"]
    assert time.time() - path.stat().st_mtime < 60
