"""The round server starts from a class-data archive written for its own classpath.

The local sessions' archive cannot serve it: the JVM refuses an archive written for another
classpath (it did, silently, until the server got its own). `-Xshare:on` turns that silent
refusal into a failed start, so these tests see which archive the JVM really maps.
"""

from __future__ import annotations

import subprocess

import pytest

from lakeforge.jvm import archive_path, java_available
from scaffolder import server_archive
from scaffolder.inside import server

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


def test_a_second_prepare_reuses_the_archive_and_never_leaves_a_partial_one() -> None:
    assert server_archive.prepare_archive()
    before = server_archive.archive_path().stat().st_mtime_ns
    assert server_archive.prepare_archive()  # nothing to do: it exists
    assert server_archive.archive_path().stat().st_mtime_ns == before
    folder = server_archive.archive_path().parent
    assert not list(folder.glob("connect-*.partial")) and not list(folder.glob("connect-*.lock"))
