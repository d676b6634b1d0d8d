"""Run a repo's declarative pipeline on a laptop: `python -m lakeforge.local_pipeline run`.

`spark-pipelines` needs two things a repo cannot state portably: an absolute storage URI, and
schemas that already exist (it refuses `CREATE SCHEMA` inside a pipeline). This wrapper resolves
the spec's storage next to the spec and runs `spark-pipelines`' launcher with a local Hive
metastore and a driver script of ours (`lakeforge/drivers/`) that creates the layer schemas on the
pipeline's own Spark server before handing over to the CLI, so wiring mistakes show up before
deploying, without a Spark session of their own. The pipeline's server is a local session's JVM
and starts like one (serial GC, C1, the local sessions' class-data archive).

It reads like a tool, not a log: each flow's state, row count and time, each expectation's count
(what the event log shows on Databricks: rows dropped, kept with a warning, or the failure), where
the tables live, and one line naming the flow and the error when something fails. Spark's own
output (warnings, progress bars, the stack traces of its shutdown) goes to
`.spark-pipelines/run.log`, named at the end.

Before any JVM starts it checks that every table has a filled module: a stub is reported in a
second, not after the pipeline has started.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from lakeforge.catalog import CatalogHelper
from lakeforge.config import ConfigLoader
from lakeforge.contract import ExpectationResult, expectations
from lakeforge.drivers.local_pipeline_driver import SCHEMAS_VAR
from lakeforge.errors import LakeforgeError
from lakeforge.identifiers import LAYERS
from lakeforge.jvm import cache_dir, driver_java_options
from lakeforge.pipelines import CONFIG_DIR_CONF, ENV_CONF, EXPECTATIONS_SUFFIX
from lakeforge.runner import local_catalog_conf, unfilled_tables
from lakeforge.tables import TABLES_FILE, TablesFile, load_tables

RESOLVED_SPEC = ".spark-pipeline.resolved.yml"


def resolve_spec(spec_path: Path) -> tuple[Path, dict[str, Any]]:
    """Write the spec with an absolute `file://` storage root beside the original; return it."""
    try:
        spec = yaml.safe_load(spec_path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise LakeforgeError(f"{spec_path}: no pipeline spec here; run from the repo root or pass --spec") from None
    storage = str(spec.get("storage", ".spark-pipelines/storage"))
    if "://" not in storage:
        spec["storage"] = (spec_path.parent / storage).resolve().as_uri()
    resolved = spec_path.parent / RESOLVED_SPEC
    resolved.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return resolved, spec


def hive_conf(root: Path) -> dict[str, str]:
    """The local metastore and warehouse in the repo (the same the jobs runner uses locally)."""
    return local_catalog_conf(root)


def _config_dir(root: Path, spec: dict[str, Any]) -> tuple[str, Path]:
    configuration = spec.get("configuration") or {}
    env = str(configuration.get(ENV_CONF, "local"))
    return env, Path(configuration.get(CONFIG_DIR_CONF, root / "config"))


def check_modules(root: Path, tables: TablesFile) -> None:
    """Fail in a second, before any JVM starts, when a table's module is missing or still a stub."""
    packages = sorted(p.parent for p in (root / "src").glob("*/transformations") if p.is_dir())
    if not packages:
        return  # not a Lakeforge layout: the pipeline itself says what is missing
    problems = unfilled_tables(packages[0], packages[0].name, tables.tables)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise LakeforgeError(problems[0] + more)


def layer_schemas(env: str, config_dir: Path) -> list[str]:
    """The schemas the pipeline writes to, created by the driver before the pipeline runs."""
    return CatalogHelper(ConfigLoader.load(env, config_dir)).schemas()


LOG_FILE = ".spark-pipelines/run.log"
# A failed flow's name is quoted (`Flow 'spark_catalog.s.t' has FAILED.`), the others are not.
_FLOW = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d): Flow '?([^\s']+)'? (?:is|has) ([A-Z_]+)\.")
_UNRESOLVED = re.compile(
    r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d): Failed to resolve flow( due to upstream failure)?: '([^']+)'"
)
_RUN = re.compile(r"Run is ([A-Z_]+)\.")
_FINAL = ("COMPLETED", "FAILED", "SKIPPED", "EXCLUDED", "STOPPED")


@dataclass
class Flow:
    name: str
    state: str = "QUEUED"
    started: datetime | None = None
    ended: datetime | None = None
    error: str = ""

    @property
    def seconds(self) -> float | None:
        return (self.ended - self.started).total_seconds() if self.started and self.ended else None


@dataclass
class RunReport:
    """What one `spark-pipelines` run did, read from its output as it ran."""

    flows: dict[str, Flow] = field(default_factory=dict)
    state: str = ""
    error: str = ""
    _waiting_error: Flow | None = None

    def read(self, line: str) -> Flow | None:
        """Take one line of output; returns the flow when it just reached a final state."""
        text = line.rstrip("\n").rsplit("\r", 1)[-1]
        if match := _FLOW.search(text):
            when, name, state = datetime.fromisoformat(match.group(1)), match.group(2), match.group(3)
            flow = self.flows.setdefault(name, Flow(name))
            flow.state = state
            if state in ("PLANNING", "STARTING", "RUNNING") and flow.started is None:
                flow.started = when
            if state in _FINAL:
                flow.ended = when
                self._waiting_error = flow if state == "FAILED" else None
                return flow
        elif match := _UNRESOLVED.search(text):
            flow = self.flows.setdefault(match.group(3), Flow(match.group(3)))
            flow.state = "SKIPPED" if match.group(2) else "FAILED"
            self._waiting_error = None if match.group(2) else flow
            if match.group(2):
                flow.error = "an upstream flow failed"
            return flow
        elif match := _RUN.search(text):
            self.state = match.group(1)
        elif self._waiting_error is not None and (text.startswith("Error:") or "Exception: " in text):
            self._waiting_error.error = text.removeprefix("Error:").strip()
            self._waiting_error = None
        return None

    @property
    def failed(self) -> list[Flow]:
        return [f for f in self.flows.values() if f.state == "FAILED"]


def run(command: str, spec_path: Path, extra: Sequence[str] = (), out: Callable[[str], None] = print) -> int:
    resolved, spec = resolve_spec(spec_path)
    root = spec_path.parent.resolve()
    env, config_dir = _config_dir(root, spec)
    tables = load_tables(config_dir.parent / TABLES_FILE)
    check_modules(root, tables)
    schemas = layer_schemas(env, config_dir)
    log = root / LOG_FILE
    log.parent.mkdir(parents=True, exist_ok=True)
    # spark-pipelines' own launcher, with our driver as the script it runs: it creates the layer
    # schemas on the pipeline's own session, then runs the CLI (no session of their own: drivers/).
    args = [str(_spark_class()), "org.apache.spark.deploy.SparkPipelines", str(_driver()), command]
    args += ["--spec", str(resolved)]
    # The Spark server the CLI's session starts is a local session's JVM (spark-submit pyspark-shell):
    # it starts like one, with the local sessions' class-data archive (lakeforge.jvm).
    conf = {**hive_conf(root), "spark.driver.extraJavaOptions": driver_java_options()}
    for key, value in conf.items():
        args += ["--conf", f"{key}={value}"]
    bin_dir = Path(sys.executable).parent
    env_vars = {
        **os.environ,
        "PYSPARK_PYTHON": sys.executable,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        SCHEMAS_VAR: ",".join(schemas),
        # The address is local: without it the JVM looks its host name up and warns on every start.
        "SPARK_LOCAL_IP": os.environ.get("SPARK_LOCAL_IP") or "127.0.0.1",
    }
    out(f"{command} of pipeline {spec.get('name', root.name)} on local Spark (Spark's output: {LOG_FILE})")
    report = RunReport()
    with _one_run_per_machine(out), log.open("w", encoding="utf-8") as handle:
        started = time.perf_counter()
        process = subprocess.Popen(
            [*args, *extra], cwd=root, env=env_vars, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert process.stdout is not None
        shown: set[tuple[str, str]] = set()  # a failed flow is retried: say each outcome once
        for line in process.stdout:
            handle.write(line)
            flow = report.read(line)
            if flow is not None and not _is_counts(flow.name) and (flow.name, flow.state) not in shown:
                shown.add((flow.name, flow.state))
                out(_flow_line(flow, None))
        code = process.wait()
    seconds = time.perf_counter() - started
    if command == "run" and report.flows:
        out("")
        counts = _row_counts(root, report.flows)
        for flow in sorted(report.flows.values(), key=_layer_order):
            if _is_counts(flow.name):
                continue
            out(_flow_line(flow, counts.get(flow.name)))
            for line in expectation_lines(root, tables, flow.name):
                out(f"    {line}")
    state = report.state or ("COMPLETED" if code == 0 else "FAILED")
    if code != 0 or report.failed:
        failed = report.failed[0] if report.failed else None
        cause = f"flow {_short_name(failed.name)}: {failed.error or 'see the log'}" if failed else _last_error(log)
        out(f"Run {state} in {seconds:.0f}s: {cause}")
    else:
        warehouse = hive_conf(root)["spark.sql.warehouse.dir"]
        out(f"Run {state} in {seconds:.0f}s; tables in spark_catalog, stored under {warehouse}")
    out(f"Spark's full output: {log}")
    return code if code != 0 else (1 if report.failed else 0)


@contextmanager
def _one_run_per_machine(out: Callable[[str], None]) -> Iterator[None]:
    """Wait for another local pipeline run on this machine to end before starting.

    The pipeline's Spark Connect server binds port 15002, one per machine (pyspark's local mode
    has no other port its client can find), so a second run at once would fail with a
    BindException; it waits instead, and says so. The lock is the kernel's: a run that dies
    releases it. Where there is no `fcntl` (Windows) runs are not serialised.
    """
    try:
        import fcntl
    except ImportError:
        yield
        return
    path = cache_dir() / "local-pipeline.lock"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("a")
    except OSError:  # a read-only cache: run without the lock
        yield
        return
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            out("waiting for another local pipeline run on this machine to end (Spark Connect's port 15002)")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _layer_order(flow: Flow) -> tuple[int, str]:
    layer = _short_name(flow.name).split(".")[0]
    return (LAYERS.index(layer) if layer in LAYERS else len(LAYERS), flow.name)


def _short_name(name: str) -> str:
    """`spark_catalog.shop_silver.orders` -> `silver.orders` (the layer and the table)."""
    parts = name.split(".")
    return f"{parts[-2].rsplit('_', 1)[-1]}.{parts[-1]}" if len(parts) >= 2 else name


def _flow_line(flow: Flow, rows: int | None) -> str:
    seconds = f"{flow.seconds:.1f}s" if flow.seconds is not None else "-"
    count = f"{rows} rows" if rows is not None else ""
    detail = f"  {flow.error}" if flow.error and flow.state != "COMPLETED" else ""
    return f"  {_short_name(flow.name):<32} {flow.state:<10} {count:>10} {seconds:>7}{detail}"


def _row_counts(root: Path, flows: dict[str, Flow]) -> dict[str, int]:
    """Rows per table from the parquet footers in the local warehouse (no second JVM start)."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        return {}
    warehouse = Path(hive_conf(root)["spark.sql.warehouse.dir"])
    counts = {}
    for name in flows:
        parts = name.split(".")
        folder = warehouse / f"{parts[-2]}.db" / parts[-1]
        files = [f for f in folder.rglob("*.parquet")] if folder.is_dir() else []
        if files:
            counts[name] = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    return counts


def _is_counts(name: str) -> bool:
    return name.endswith(EXPECTATIONS_SUFFIX)


def expectation_lines(root: Path, tables: TablesFile, flow: str) -> list[str]:
    """What the flow's table's expectations did in this run, from its `<table>__expectations` view:
    one line per expectation that rows broke, then one line naming those that passed."""
    table = flow.split(".")[-1]
    spec = next((t for t in tables.tables if t.name == table), None)
    if spec is None or not expectations(spec):
        return []
    counts = _read_counts(root, f"{flow}{EXPECTATIONS_SUFFIX}")
    if counts is None:
        return []
    results = [ExpectationResult(e, int(counts.get(e.name) or 0)) for e in expectations(spec)]
    lines = [f"expectation {r.describe()}" for r in results if r.violations]
    passed = [r.expectation.name for r in results if not r.violations]
    if passed:
        lines.append(f"expectations passed: {', '.join(passed)}")
    return lines


def _read_counts(root: Path, name: str) -> dict[str, int] | None:
    """The one row of a counts view in the local warehouse (parquet, read without a JVM)."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        return None
    parts = name.split(".")
    folder = Path(hive_conf(root)["spark.sql.warehouse.dir"]) / f"{parts[-2]}.db" / parts[-1]
    files = sorted(folder.rglob("*.parquet")) if folder.is_dir() else []
    rows = [row for f in files for row in pq.read_table(f).to_pylist()]
    return rows[0] if rows else None


def _last_error(log: Path) -> str:
    lines = [line.strip() for line in log.read_text(encoding="utf-8", errors="replace").splitlines()]
    errors = [line for line in lines if line.startswith("Error:") or "Error: " in line or "Exception: " in line]
    return (errors[-1] if errors else "see the log")[:400]


def _spark_class() -> Path:
    """The launcher `spark-pipelines` uses, shipped inside pyspark 4.1 and newer."""
    try:
        import pyspark
    except ImportError:
        raise LakeforgeError("pyspark is not installed: `pip install 'pyspark[pipelines]'`") from None
    home = Path(pyspark.__file__).parent
    if not (home / "bin" / "spark-pipelines").exists():
        raise LakeforgeError(
            f"{home / 'bin' / 'spark-pipelines'} is missing: install pyspark 4.1 or newer with `pip install 'pyspark[pipelines]'`"
        )
    return home / "bin" / "spark-class"


def _driver() -> Path:
    from lakeforge.drivers import local_pipeline_driver

    return Path(local_pipeline_driver.__file__)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the repo's declarative pipeline on local Spark.")
    parser.add_argument("command", choices=["run", "dry-run"])
    parser.add_argument("--spec", default="spark-pipeline.yml")
    args, extra = parser.parse_known_args(argv)
    try:
        code = run(args.command, Path(args.spec), extra)
    except LakeforgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = 2
    raise SystemExit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
