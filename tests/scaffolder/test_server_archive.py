"""The round server starts from a class-data archive written for its own classpath.

The local sessions' archive cannot serve it: the JVM refuses an archive written for another
classpath (it did, silently, until the server got its own). `-Xshare:on` turns that silent
refusal into a failed start, so these tests see which archive the JVM really maps.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from lakeforge.jvm import CACHE_VAR, archive_path, java_available
from scaffolder import server_archive
from scaffolder.inside import server

from .conftest import bronze_table, good_reply, scaffold_loopback, write_tables
from .llm_server import Action, ScriptedLLM, table_of

pytestmark = pytest.mark.skipif(not java_available(), reason="no Java on this machine")


def _starts_with(archive: str) -> subprocess.CompletedProcess[str]:
    command = server.server_command(1, 1, "/tmp", archive=archive)
    head = command[: command.index("--class")]
    strict = ["-Xshare:on" if option == "-Xshare:auto" else option for option in head]
    return subprocess.run([*strict, "--version"], capture_output=True, text=True, timeout=120, check=False)


def test_the_round_server_maps_its_own_archive_and_not_the_local_sessions() -> None:
    assert server_archive.prepare_archive(), "the server's archive was not written"
    own = server_archive.ready_archive()
    assert own is not None and "connect-" in own
    mapped = _starts_with(own)
    assert mapped.returncode == 0, mapped.stderr[-2000:]
    if archive_path().is_file():  # the local sessions' archive (tests/conftest.py writes it)
        refused = _starts_with(str(archive_path()))
        assert refused.returncode != 0 and "mismatch" in refused.stdout + refused.stderr


@pytest.mark.slow
def test_the_first_fill_on_a_machine_asks_the_model_while_java_is_prepared(bare_project: Path, tmp_path: Path) -> None:
    """A machine with no archive yet: the archive is written in the background, the model is asked
    meanwhile, the table is kept; a later prepare reuses the archive and leaves no partial file."""
    cache = tmp_path / "fresh-machine-cache"
    write_tables(bare_project, [bronze_table("payments")])
    archive_when_asked: list[bool] = []

    def respond(request: dict[str, Any]) -> Action:
        archive_when_asked.append(any((cache / "cds").glob("connect-*.jsa")))
        return Action(content=good_reply(bare_project, table_of(request)))

    with ScriptedLLM(respond) as llm:
        done = scaffold_loopback(bare_project, llm.base_url, "fill", "bronze", LAKEFORGE_CACHE_DIR=str(cache))
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "preparing Java once for this machine" in output
    assert ", 1 JVM start(s)" in output, output  # the sandbox started after it survives (no restart)
    [written] = list((cache / "cds").glob("connect-*.jsa"))
    assert archive_when_asked[:1] == [False], "the model was asked only after Java was prepared"
    assert not list(written.parent.glob("connect-*.partial")) and not list(written.parent.glob("connect-*.lock"))

    with pytest.MonkeyPatch.context() as env:
        env.setenv(CACHE_VAR, str(cache))
        assert server_archive.archive_path() == written
        before = written.stat().st_mtime_ns
        assert server_archive.prepare_archive()  # nothing to do: it exists
        assert written.stat().st_mtime_ns == before
