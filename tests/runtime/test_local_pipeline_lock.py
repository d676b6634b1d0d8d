"""Two local pipeline runs at once on one machine: the second waits and says why, instead of
failing on Spark Connect's port 15002 (one per machine in pyspark's local mode)."""

from __future__ import annotations

import fcntl
import threading
import time
from pathlib import Path

import pytest

from lakeforge import local_pipeline
from lakeforge.jvm import CACHE_VAR


def test_a_second_run_waits_for_the_first_and_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_VAR, str(tmp_path))
    said: list[str] = []
    entered = threading.Event()

    def second_run() -> None:
        with local_pipeline._one_run_per_machine(said.append):
            entered.set()

    with (tmp_path / "local-pipeline.lock").open("a") as first:  # the first run holds the machine's lock
        fcntl.flock(first, fcntl.LOCK_EX)
        waiter = threading.Thread(target=second_run)
        waiter.start()
        deadline = time.monotonic() + 10
        while not said and time.monotonic() < deadline:
            time.sleep(0.01)
        assert said == ["waiting for another local pipeline run on this machine to end (Spark Connect's port 15002)"]
        assert not entered.wait(0.3), "the second run started while the first held the port"
        fcntl.flock(first, fcntl.LOCK_UN)
    waiter.join(10)
    assert entered.is_set()


def test_a_run_alone_does_not_wait_or_say_anything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_VAR, str(tmp_path))
    said: list[str] = []
    with local_pipeline._one_run_per_machine(said.append):
        pass
    with local_pipeline._one_run_per_machine(said.append):  # released: the next one goes straight in
        pass
    assert said == []
