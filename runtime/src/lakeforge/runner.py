"""Build tables from `tables.yml` by calling each table's pure `transform`.

The same steps serve a Databricks wheel task (`run_layer`), a declarative pipeline
(`lakeforge.pipelines`) and local smoke runs: resolve the inputs, call `transform`, check the
result against the contract, write. Only the read and the write differ per environment.

Before a wheel task writes, it applies the table's expectations the way Lakeflow does
(`lakeforge.contract.enforce`: fail, drop with a count, or warn, by `on_violation`); on
Databricks it then shows the contract in Unity Catalog (table and column comments, NOT NULL).
Locally the tables live in a Hive metastore in the working folder (`metastore_db/`,
`spark-warehouse/`), so a second run, or one layer at a time, finds the tables of the first and
overwrites, appends or merges into them as declared, as it would on Databricks.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import logging
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, cast

from lakeforge.catalog import CatalogHelper
from lakeforge.config import ConfigLoader, EnvironmentConfig, is_absolute_location
from lakeforge.contract import contract_ddl, enforce, schema_problems
from lakeforge.errors import LakeforgeError
from lakeforge.io import read_source, write_table
from lakeforge.observability import timed
from lakeforge.session import on_databricks
from lakeforge.tables import TABLES_FILE, TablesFile, TableSpec, load_tables

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)


def load_transform(package: str, spec: TableSpec) -> Callable[..., DataFrame]:
    """The table's `transform`; a clear error when the module is missing or still a stub."""
    try:
        module: ModuleType = importlib.import_module(spec.module_name(package))
    except ModuleNotFoundError as exc:
        if exc.name and spec.module_name(package).startswith(exc.name):
            raise LakeforgeError(
                f"table {spec.name!r}: no module {spec.module_path(package)}; create it with `scaffold fill {spec.layer}`"
            ) from None
        raise
    transform = getattr(module, "transform", None)
    if not callable(transform):
        raise LakeforgeError(f"table {spec.name!r}: {spec.module_path(package)} defines no transform() function")
    return cast("Callable[..., DataFrame]", transform)


def source_path(config: EnvironmentConfig, spec: TableSpec) -> str:
    """The bronze source: under the landing root, unless it names its own location (`dbfs:/`, `s3://`, `/Volumes`)."""
    assert spec.source is not None
    path = spec.source.path
    if is_absolute_location(path):
        return path
    return f"{config.landing_root.rstrip('/')}/{path}"


def input_frames(
    spark: SparkSession, config: EnvironmentConfig, tables: TablesFile, spec: TableSpec
) -> list[DataFrame]:
    """What `transform` receives: the raw source for bronze, upstream tables otherwise (in `inputs` order)."""
    if spec.layer == "bronze":
        assert spec.source is not None
        return [
            read_source(spark, source_path(config, spec), spec.source.format, spec.read_schema(), spec.source.options)
        ]
    helper = CatalogHelper(config)
    return [spark.read.table(helper.table_name(tables.get(name).layer, name)) for name in spec.inputs]


def build_table(
    spark: SparkSession,
    config: EnvironmentConfig,
    tables: TablesFile,
    spec: TableSpec,
    package: str,
    check_columns: bool = True,
) -> DataFrame:
    """Read the inputs and apply the table's transform (no write).

    The output must match the table's contract (`lakeforge.contract`: names, order, types), the
    same check `scaffold fill` and the unit tests apply. `check_columns=False` inside declarative
    pipelines, which forbid analysing a DataFrame in a query function; the final `select` still
    fails there, at graph analysis, on a missing column.
    """
    transform = load_transform(package, spec)
    result = transform(*input_frames(spark, config, tables, spec))
    if not check_columns:
        return result.select(*spec.column_names())
    problems = schema_problems(result.schema, spec)
    if problems:
        raise LakeforgeError(f"table {spec.name!r}: {problems[0]}")
    return result


def run_layer(
    spark: SparkSession, config: EnvironmentConfig, tables: TablesFile, package: str, layer: str
) -> list[str]:
    """Build, check and write every table of `layer` in file order; returns the tables written.

    Each table's expectations run before its write (`lakeforge.contract.enforce`): a `fail`
    expectation with violations raises ExpectationFailed and nothing of that table is written;
    `drop` and `warn` counts are logged, one line per expectation.
    """
    helper = CatalogHelper(config)
    written = []
    for spec in tables.layer(layer):
        name = helper.table_name(spec.layer, spec.name)
        with timed("write_table", table=name, mode=spec.write):
            df = build_table(spark, config, tables, spec, package)
            df, results = enforce(df, spec)
            for result in results:
                level = logging.WARNING if result.violations else logging.INFO
                log.log(level, "expectation %s on %s", result.describe(), name)
            write_table(df, name, mode=spec.write, keys=spec.keys or None, table_format=config.table_format)
            if on_databricks():
                for statement in contract_ddl(spec, name):
                    spark.sql(statement)
        written.append(name)
    return written


def is_stub_source(source: str) -> bool:
    """True when the module's `transform` raises NotImplementedError: a stub `scaffold fill` has not filled."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "transform":
            for statement in node.body:
                if isinstance(statement, ast.Raise) and statement.exc is not None:
                    target = statement.exc.func if isinstance(statement.exc, ast.Call) else statement.exc
                    if isinstance(target, ast.Name) and target.id == "NotImplementedError":
                        return True
    return False


def unfilled_tables(package_dir: Path, package: str, specs: Iterable[TableSpec]) -> list[str]:
    """One line per table whose module is missing or still a stub, read from the files (nothing is
    imported, no Spark starts): what a run would otherwise find after starting Spark."""
    problems = []
    for spec in specs:
        path = package_dir / "transformations" / spec.layer / f"{spec.name}.py"
        rel = spec.module_path(package)
        if not path.is_file():
            problems.append(f"table {spec.name!r}: no module {rel}; create it with `scaffold fill {spec.layer}`")
        elif is_stub_source(path.read_text(encoding="utf-8")):
            problems.append(
                f"table {spec.name!r}: {rel} is still a stub; write its transform with "
                f"`scaffold fill {spec.layer} --table {spec.name}` (or by hand)"
            )
    return problems


def check_filled(package: str, specs: Iterable[TableSpec]) -> None:
    """Raise LakeforgeError naming the unfilled tables of `specs` (the package is found, not imported)."""
    found = importlib.util.find_spec(package)
    locations = list(found.submodule_search_locations or []) if found else []
    if not locations:
        return  # not importable here: load_transform says so, naming the module
    problems = unfilled_tables(Path(locations[0]), package, specs)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise LakeforgeError(problems[0] + more)


def local_catalog_conf(folder: Path) -> dict[str, str]:
    """A persistent local catalog in `folder`: a Hive metastore (embedded Derby) and its warehouse.

    Tables written by one run are found by the next (and by `spark-pipelines`, which uses the
    same layout), so overwrite, append and merge mean what they mean on Databricks. A table folder
    the metastore does not know (a deleted `metastore_db/`, an older run) is taken back by
    `lakeforge.io.write_table`, not an error.
    """
    return {
        "spark.sql.catalogImplementation": "hive",
        "spark.sql.warehouse.dir": str((folder / "spark-warehouse").resolve()),
        "spark.hadoop.javax.jdo.option.ConnectionURL": (
            f"jdbc:derby:;databaseName={(folder / 'metastore_db').resolve()};create=true"
        ),
    }


def _key_value(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{item!r}: use KEY=VALUE, e.g. catalog.schemas.bronze=my_schema")
    return key, value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The wheel task's arguments; `--set` items become `(dotted key, value)` pairs."""
    parser = argparse.ArgumentParser(description="Build one layer of a Lakeforge pipeline.")
    parser.add_argument("--package", required=True, help="the pipeline's Python package")
    parser.add_argument("--layer", required=True, choices=["bronze", "silver", "gold", "all"])
    parser.add_argument("--env", default=os.environ.get("LAKEFORGE_ENV"), help="environment (config/<env>.yaml)")
    parser.add_argument("--config-dir", default=None, help="folder of defaults.yaml and <env>.yaml")
    parser.add_argument("--tables", default=None, help=f"path to {TABLES_FILE} (default: beside the config folder)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        type=_key_value,
        metavar="KEY=VALUE",
        help="config override, e.g. catalog.schemas.bronze=dev_me_shop_bronze (repeatable)",
    )
    return parser.parse_args(argv)


def load_config(args: argparse.Namespace) -> tuple[EnvironmentConfig, Path]:
    """The environment's config and its folder, with `--set` applied.

    The dotted keys go to the loader as they are, not through `LAKEFORGE__*` names: a variable
    name would upper-case `spark.config.spark.sql.adaptive.coalescePartitions.enabled`, and Spark
    keys are case-sensitive.
    """
    config_dir = ConfigLoader.find_config_dir(args.config_dir or _project_root(args.package) / "config")
    return ConfigLoader.load(args.env, config_dir, overrides=dict(args.set)), config_dir


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point for wheel tasks: `--package pkg --layer silver --env dev`.

    A bad input (config, tables.yml, a stub) or a failed expectation ends the task with one line
    naming it (`error: ...`) and exit status 1, not a traceback.
    """
    try:
        _main(argv)
    except LakeforgeError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None


def _main(argv: Sequence[str] | None) -> None:
    from lakeforge.session import SparkSessionFactory

    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config, config_dir = load_config(args)
    tables = load_tables(args.tables or config_dir.parent / TABLES_FILE)
    layers = ["bronze", "silver", "gold"] if args.layer == "all" else [args.layer]
    check_filled(args.package, [t for t in tables.tables if t.layer in layers])  # before Spark starts
    if not on_databricks():
        conf = {**config.spark.config, **local_catalog_conf(Path.cwd())}
        config = config.model_copy(update={"spark": config.spark.model_copy(update={"config": conf})})
    spark = SparkSessionFactory.from_config(config)
    for layer in layers:
        for name in run_layer(spark, config, tables, args.package, layer):
            log.info("wrote %s", name)


# Where a project's wheel carries its `config/` and `tables.yml` (hatch force-include in the
# generated pyproject.toml): `<package>/_project/`, for wheel tasks that run far from the repo.
PACKAGED_PROJECT = "_project"


def _project_root(package: str) -> Path:
    """The folder holding `config/` and `tables.yml`.

    Upward from the package (a checkout or an editable install), then the working directory,
    then the copy packaged in the wheel (`<package>/_project/`), else the working directory.
    """
    module = importlib.import_module(package)
    here = Path(module.__file__ or ".").resolve().parent
    for folder in (here, *here.parents):
        if (folder / TABLES_FILE).is_file():
            return folder
    if (Path.cwd() / TABLES_FILE).is_file():
        return Path.cwd()
    if (here / PACKAGED_PROJECT / TABLES_FILE).is_file():
        return here / PACKAGED_PROJECT
    return Path.cwd()


if __name__ == "__main__":  # pragma: no cover
    main()
