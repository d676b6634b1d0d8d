"""The round server's own class-data archive: written once per machine, by a JVM nobody else used.

A Connect server maps ~20k classes from Spark's jars at start and on its first queries; a dynamic
class-data archive of them makes the sandboxed server ready in about half the time (measured
here: port open 1.7 s instead of 4.0 s, warm-up 3.4 s instead of 5.7 s). The archive of the
local test sessions cannot serve: the JVM refuses an archive written for another classpath.

The archive is written outside the sandbox by a server that only runs the fixed warm-up, never a
run's code, and stops on SIGTERM (the JVM writes the archive as it exits). It is written under a
temporary name and renamed, so a half-written archive is never mapped; the sandbox reads it
through the read-only cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from lakeforge.jvm import CDS_VAR, archive_written, cache_dir, claim_writer, mark_used
from scaffolder.inside import server


def archive_path() -> Path:
    """Where the server archive for this Java and these very jars lives (it may not exist).

    The key holds each jar's size and time as well as its path: the JVM refuses an archive whose
    jars changed, so a pyspark reinstalled at the same path gets a new archive, not a refused one.
    """
    java = str(Path(server.java_binary()).resolve())
    parts = [java]
    for entry in server.server_classpath().split(os.pathsep):
        with contextlib.suppress(OSError):
            stat = os.stat(entry)
            parts.append(f"{entry}:{stat.st_size}:{stat.st_mtime_ns}")
    key = hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]
    return cache_dir() / "cds" / f"connect-{key}.jsa"


def ready_archive() -> str | None:
    """The archive to map, when it exists and archives are on."""
    path = _wanted()
    if path is None or not archive_written(path):
        return None
    mark_used(path)
    return str(path)


def prepare_archive(timeout: float = 300) -> bool:
    """Write the archive now if it is missing (once per machine, ~30 s here); True when it exists.

    One writer at a time (`lakeforge.jvm.claim_writer`, the local archives' rule).
    """
    path = _wanted()
    if path is None:
        return False
    if archive_written(path):
        return True
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError:  # a cache that cannot be written: the round runs without an archive
        return False
    lock = claim_writer(path)
    if lock is None:
        return False  # another process is writing it right now
    partial = path.with_name(f"{path.stem}.{os.getpid()}.partial")
    try:
        with tempfile.TemporaryDirectory(prefix="scaffold-archive-") as scratch:
            if _dump(partial, scratch, timeout) and archive_written(partial):
                os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
        lock.unlink(missing_ok=True)
    return archive_written(path)


def _wanted() -> Path | None:
    """The archive's path when archives are on and there is a Java to key it by."""
    if os.environ.get(CDS_VAR, "1") == "0":
        return None
    try:
        return archive_path()
    except OSError:  # no java: the round says so itself
        return None


def _dump(target: Path, scratch: str, timeout: float) -> bool:
    port = server.free_port()
    command = server.server_command(port, 1, scratch, dump_to=str(target))
    with open(os.path.join(scratch, "server.log"), "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        if not server.wait_for_port(port, timeout, lambda: process.poll() is None):
            return False
        # In a child: a Connect client marks its own process as Connect-only (SPARK_CONNECT_MODE_ENABLED),
        # which would break every local session this process (or a child it starts later) opens.
        warm = f"from scaffolder.inside.server import warm_up; warm_up('sc://127.0.0.1:{port}')"
        subprocess.run([sys.executable, "-c", warm], capture_output=True, timeout=timeout, check=True)
        process.send_signal(signal.SIGTERM)  # a clean exit is when the JVM writes the archive
        return process.wait(timeout) == 0 or target.is_file()
    except Exception:
        return False
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


if __name__ == "__main__":
    print("ready" if prepare_archive() else "not written", archive_path())
