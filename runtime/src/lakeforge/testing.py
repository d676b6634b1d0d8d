"""pytest plugin for pipeline repos: `pytest_plugins = ["lakeforge.testing"]` in `conftest.py`.

One tuned local session serves the whole test run, because the JVM start is the cost that
matters in small DataFrame tests (a test itself takes ~0.5 s after warm-up). Tables written by
tests go to a temporary warehouse so the repo is never littered with `spark-warehouse/`.

Every table's `transform` is also wrapped for the run (`TransformGuard`): whatever a unit test
feeds it, the DataFrame it returns must match `tables.yml` (names, order, types, NOT NULL
columns, unique keys), the same output contract `scaffold fill` holds generated code to. Turn
it off with `lakeforge_contract = false` in the pytest ini options.
"""

from __future__ import annotations

import atexit
import functools
import importlib
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest

from lakeforge.contract import ContractViolation, row_problems, schema_problems
from lakeforge.errors import LakeforgeError
from lakeforge.session import SparkSessionFactory, databricks_connect_configured, on_databricks
from lakeforge.tables import TABLES_FILE, TablesFile, TableSpec, load_tables

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

MARKERS = (
    "unit: fast tests of pure transformations on local Spark",
    "unguarded: run this test without lakeforge's guard (a person's test that needs processes, sockets or "
    "files outside tmp_path; never for generated tests)",
    "contract: config, tables.yml and bundle files agree with the code",
    "integration: tests that need a Databricks workspace (skipped without one)",
    "slow: tests that take more than a few seconds",
)


_starter: _BackgroundSession | None = None


class _BackgroundSession:
    """Starts the local session (and a Python worker) on a thread while pytest collects.

    The JVM start and the first Python worker are the two fixed costs of a Spark test run;
    overlapping them with collection and the storage-free tests takes them off the wall time.
    """

    def __init__(self, warehouse: str) -> None:
        self.session: SparkSession | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(warehouse,), name="lakeforge-spark", daemon=True)
        self._thread.start()

    def _run(self, warehouse: str) -> None:
        try:
            self.session = SparkSessionFactory.create_local(app_name="lakeforge-tests", warehouse_dir=warehouse)
            self.session.createDataFrame([(1,)], "x INT").collect()  # starts the Python worker
        except BaseException as exc:  # re-raised in the test that asks for `spark`
            self.error = exc

    def get(self) -> SparkSession:
        self._thread.join()
        if self.error is not None:
            raise self.error
        assert self.session is not None
        return self.session


@dataclass
class Call:
    """One call of a table's `transform` during a test run, with its contract problems."""

    spec: TableSpec
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    result: Any
    problems: list[str]
    rows: list[Any] | None = None  # the collected output, when the contract was checked


Override = Callable[[Callable[..., Any], tuple[Any, ...], dict[str, Any]], Any]


@dataclass
class TransformGuard:
    """Wraps each table module's `transform` so every call's output is checked against the contract.

    The wrapper is installed on the module before the tests import it, so `from ... import
    transform` in a test gets the checked function. `listeners` see every call (scaffold's
    validation round records them); `overrides` replace a table's function for a while (scaffold
    runs its mutants through them); `checks` switches the contract check off while they run.
    """

    tables: TablesFile
    package: str
    checks: bool = True
    check_rows: bool = True  # False: the schema is checked at once, rows by whoever collects them
    listeners: list[Callable[[Call], None]] = field(default_factory=list)
    overrides: dict[str, Override] = field(default_factory=dict)
    modules: dict[str, ModuleType] = field(default_factory=dict)
    originals: dict[str, Callable[..., Any]] = field(default_factory=dict)
    wrappers: dict[str, Callable[..., Any]] = field(default_factory=dict)

    def install(self) -> list[str]:
        """Wrap every table whose module imports and defines `transform`; returns their names."""
        for spec in self.tables.tables:
            try:
                module = importlib.import_module(spec.module_name(self.package))
            except Exception:  # a missing or broken module is the contract test's to report
                continue
            original = getattr(module, "transform", None)
            if not callable(original) or spec.name in self.wrappers:
                continue
            self.modules[spec.name] = module
            self.originals[spec.name] = original
            self.wrappers[spec.name] = self._wrap(spec, original)
            module.transform = self.wrappers[spec.name]  # type: ignore[attr-defined]
        return list(self.wrappers)

    def uninstall(self) -> None:
        for name, module in self.modules.items():
            module.transform = self.originals[name]  # type: ignore[attr-defined]
        self.modules.clear()
        self.wrappers.clear()

    def _wrap(self, spec: TableSpec, original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def transform(*args: Any, **kwargs: Any) -> Any:
            override = self.overrides.get(spec.name)
            result = override(original, args, kwargs) if override else original(*args, **kwargs)
            problems: list[str] = []
            rows = None
            if self.checks and _is_dataframe(result):
                problems = schema_problems(result.schema, spec)
                if not problems and self.check_rows:
                    rows = result.collect()
                    problems = row_problems(rows, spec)
            for listener in list(self.listeners):
                listener(Call(spec, args, kwargs, result, problems, rows))
            if problems:
                more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
                raise ContractViolation(f"contract: {spec.name}: {problems[0]}{more}")
            return result

        return transform


def _is_dataframe(value: Any) -> bool:
    try:
        from pyspark.sql import DataFrame
    except ImportError:  # pragma: no cover - the plugin's tests need pyspark anyway
        return False
    return isinstance(value, DataFrame)


def find_package(root: Path) -> str | None:
    """The pipeline package under `src/` (the one folder with a `transformations` package)."""
    found = [p.parent.name for p in sorted((root / "src").glob("*/transformations")) if p.is_dir()]
    return found[0] if len(found) == 1 else None


def transform_guard(config: pytest.Config) -> TransformGuard | None:
    """The guard this run installed (None outside a pipeline repo or when switched off)."""
    return config.stash.get(_GUARD, None)


_GUARD = pytest.StashKey[TransformGuard]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "lakeforge_contract",
        "check every transform() output against tables.yml during tests (default true)",
        type="bool",
        default=True,
    )
    parser.addini(
        "lakeforge_guard",
        "run transformations and unit tests under the detector: no processes, sockets, writes outside "
        "tmp_path or reads of credential files (default true; per test: @pytest.mark.unguarded)",
        type="bool",
        default=True,
    )


@dataclass
class RepoGuard:
    """The detector over a repo's own test run: what watched code tried, per test.

    Watched: the pipeline's transformation modules and the tests under `tests/unit`. Code that
    scaffold's sandboxed round proved could still check where it runs and act only on a plain
    `pytest` later; here it meets the same detector, and the test fails naming what it tried.
    """

    detector: Any
    events: list[str] = field(default_factory=list)
    current: str = ""

    def record(self, table: str, message: str) -> None:
        self.events.append(f"{self.current or 'at import'}: {message}")


_REPO_GUARD = pytest.StashKey[RepoGuard]()


def _install_repo_guard(config: pytest.Config, root: Path, package: str) -> None:
    from lakeforge.guard import CREDENTIAL_PATHS, Detector

    watched = [*(root / "src" / package / "transformations").rglob("*.py"), *(root / "tests" / "unit").rglob("*.py")]
    files = {str(path.resolve()): str(path.relative_to(root)) for path in watched}
    try:
        basetemp = str(config._tmp_path_factory.getbasetemp())  # type: ignore[attr-defined]
    except Exception:  # no tmp_path plugin: nothing is writable
        basetemp = os.path.join(tempfile.gettempdir(), "lakeforge-no-tmp-path")
    homes = {Path(os.path.expanduser("~")), Path(os.environ.get("HOME") or "~").expanduser()}
    credentials = [str(home / rel) for home in homes for rel in CREDENTIAL_PATHS]
    repo_guard = RepoGuard(detector=None)
    detector = Detector(
        files, [basetemp], credentials, repo_guard.record, str(root), [tempfile.gettempdir()], scope="tmp_path"
    )
    repo_guard.detector = detector
    detector.install()
    config.stash[_REPO_GUARD] = repo_guard


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    repo_guard = item.config.stash.get(_REPO_GUARD, None)
    if repo_guard is None:
        return (yield)
    unguarded = item.get_closest_marker("unguarded") is not None
    repo_guard.detector.suspended = unguarded
    repo_guard.current = item.nodeid
    try:
        return (yield)
    finally:
        repo_guard.detector.suspended = False
        repo_guard.current = ""


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    repo_guard = item.config.stash.get(_REPO_GUARD, None)
    if repo_guard is not None and repo_guard.events and report.when in ("call", "teardown"):
        mine = [e for e in repo_guard.events if e.startswith(item.nodeid)]
        if mine:
            repo_guard.events = [e for e in repo_guard.events if not e.startswith(item.nodeid)]
            report.outcome = "failed"
            report.longrepr = (
                "lakeforge guard: "
                + "; ".join(m.split(": ", 1)[1] for m in mine)
                + (" (a person's test that needs it: @pytest.mark.unguarded)")
            )
    return report


def pytest_collection_finish(session: pytest.Session) -> None:
    repo_guard = session.config.stash.get(_REPO_GUARD, None)
    if repo_guard is not None and repo_guard.events:
        session.shouldfail = "lakeforge guard: " + "; ".join(repo_guard.events)
    _start_spark(session)


def pytest_configure(config: pytest.Config) -> None:
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    root = Path(config.rootpath)
    package = find_package(root)
    if package is not None and config.getini("lakeforge_guard") and not on_databricks():
        _install_repo_guard(config, root, package)
    if not config.getini("lakeforge_contract") or package is None or not (root / TABLES_FILE).is_file():
        return
    try:
        tables = load_tables(root / TABLES_FILE)
    except LakeforgeError:
        return  # the repo's contract tests name the problem in tables.yml
    guard = TransformGuard(tables, package)
    guard.install()
    config.stash[_GUARD] = guard


def pytest_unconfigure(config: pytest.Config) -> None:
    guard = config.stash.get(_GUARD, None)
    if guard is not None:
        guard.uninstall()


def _start_spark(session: pytest.Session) -> None:
    """Start Spark early when some collected test will need the `spark` fixture."""
    global _starter
    if _starter is not None or on_databricks() or databricks_connect_configured():
        return
    if os.environ.get("LAKEFORGE_EAGER_SPARK", "1") == "0":
        return
    if any("spark" in getattr(item, "fixturenames", ()) for item in session.items):
        warehouse = tempfile.mkdtemp(prefix="lakeforge-warehouse-")
        atexit.register(shutil.rmtree, warehouse, True)
        _starter = _BackgroundSession(warehouse)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("DATABRICKS_HOST") or os.environ.get("DATABRICKS_RUNTIME_VERSION"):
        return
    skip = pytest.mark.skip(reason="integration test: needs a Databricks workspace (set DATABRICKS_HOST)")
    for item in items:
        if "integration" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    """A local SparkSession shared by every test of the run (the cluster's own on Databricks)."""
    if on_databricks() or databricks_connect_configured():
        from lakeforge.config import EnvironmentConfig

        remote = EnvironmentConfig.model_validate(
            {"environment": "test", "catalog": {"name": "spark_catalog", "schema": "tests"}}
        )
        yield SparkSessionFactory.from_config(remote)
        return
    if _starter is not None:
        session = _starter.get()
    else:
        warehouse = tmp_path_factory.mktemp("spark-warehouse")
        session = SparkSessionFactory.create_local(app_name="lakeforge-tests", warehouse_dir=warehouse)
    yield session
    session.stop()


def make_df(spark: SparkSession, rows: Sequence[Any], schema: StructType | str) -> DataFrame:
    """A DataFrame with an explicit schema: tests never rely on inference."""
    return spark.createDataFrame(list(rows), schema=schema)


def assert_df_equal(
    actual: DataFrame,
    expected: DataFrame,
    ignore_row_order: bool = True,
    ignore_nullable: bool = True,
    ignore_column_order: bool = False,
) -> None:
    """chispa's comparison with the defaults pipelines want: row order and nullability ignored.

    Rows are collected once and sorted in Python: half the Spark jobs of sorting both frames in
    Spark, which is most of an assertion's cost on test-sized data.
    """
    from chispa.dataframe_comparer import DataFramesNotEqualError
    from chispa.rows_comparer import assert_basic_rows_equality
    from chispa.schema_comparer import SchemasNotEqualError, assert_schema_equality

    if ignore_column_order:
        actual = actual.select(*sorted(actual.columns))
        expected = expected.select(*sorted(expected.columns))
    try:
        assert_schema_equality(actual.schema, expected.schema, ignore_nullable=ignore_nullable)
        actual_rows, expected_rows = actual.collect(), expected.collect()
        if ignore_row_order:
            actual_rows = sorted(actual_rows, key=_row_key)
            expected_rows = sorted(expected_rows, key=_row_key)
        assert_basic_rows_equality(actual_rows, expected_rows)
    except (DataFramesNotEqualError, SchemasNotEqualError) as exc:
        # An AssertionError, so pytest reports a failed assertion and the mutant check counts it.
        raise AssertionError(str(exc)) from None


def _row_key(row: Any) -> tuple[Any, ...]:
    # None sorts first; values of mixed types compare by type name, then by value.
    return tuple((value is not None, type(value).__name__, value if value is not None else 0) for value in row)


def assert_contract(df: DataFrame, table: str) -> None:
    """`df` honours `table`'s contract in tables.yml: names, order and types, no nulls in NOT NULL
    columns, one row per key, every named check true (NULL counts as false).

    `scaffold fill` writes regression tests with it when its probe found rows that broke the
    contract: they keep the fix fixed.
    """
    from lakeforge.contract import check_output, check_violations

    spec = _tables_nearby().get(table)
    problems = check_output(df, spec)
    if not problems and spec.checks:
        counts = check_violations(df, spec)
        problems = [
            f"{counts[name]} row(s) break the check {name} ({sql})"
            for name, sql in spec.checks.items()
            if counts.get(name)
        ]
    if problems:
        raise AssertionError(f"{table} breaks its contract: {problems[0]}")


def assert_landed_rows_kept(result: DataFrame, landed: DataFrame) -> None:
    """A bronze table keeps every landed row as it came: the same rows, the landed columns unchanged."""
    shared = [c for c in landed.columns if c in result.columns]
    assert_df_equal(result.select(*shared), landed.select(*shared))


def _tables_nearby() -> TablesFile:
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / TABLES_FILE).is_file():
            return load_tables(folder / TABLES_FILE)
    raise LakeforgeError(f"no {TABLES_FILE} in {here} or above: run the tests from the pipeline repo")


def assert_schema_equal(actual: StructType, expected: StructType, ignore_nullable: bool = False) -> None:
    """Compare schemas field by field, with a message naming the first difference."""
    keep = 2 if ignore_nullable else 3  # (name, type) or (name, type, nullable)
    got = [(f.name, f.dataType.simpleString(), f.nullable)[:keep] for f in actual.fields]
    want = [(f.name, f.dataType.simpleString(), f.nullable)[:keep] for f in expected.fields]
    if got != want:
        for index, (g, w) in enumerate(zip(got, want, strict=False)):
            if g != w:
                raise AssertionError(f"schema differs at column {index}: got {g}, expected {w}")
        raise AssertionError(f"schema has {len(got)} columns, expected {len(want)}: got {got}, expected {want}")
