"""Declare every table of `tables.yml` as a Lakeflow / Spark Declarative Pipelines dataset.

A generated repo's pipeline source file is one call to `define_pipeline(spark, package)`, so the
same definitions run on Databricks (Lakeflow Declarative Pipelines) and on a laptop with
`spark-pipelines run`. Upstream tables are read by their full names, which is what gives the
pipeline its bronze → silver → gold dependency graph.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from lakeforge.catalog import CatalogHelper
from lakeforge.config import ConfigLoader
from lakeforge.identifiers import LAYERS
from lakeforge.runner import _project_root, build_table
from lakeforge.tables import TABLES_FILE, TablesFile, TableSpec, load_tables

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

ENV_CONF = "lakeforge.environment"
CONFIG_DIR_CONF = "lakeforge.config_dir"
SCHEMA_CONF = "lakeforge.schema.{layer}"
LANDING_CONF = "lakeforge.landing_root"


def define_pipeline(spark: SparkSession, package: str) -> list[str]:
    """Register one materialized view per table; returns their full names in file order."""
    from pyspark import pipelines as dp

    env = spark.conf.get(ENV_CONF, None) or "local"
    root = _project_root(package)
    config_dir = Path(spark.conf.get(CONFIG_DIR_CONF, None) or root / "config")
    # The bundle passes the deployed schema names (dev mode prefixes them with the user's name).
    overrides = {
        f"LAKEFORGE__CATALOG__SCHEMAS__{layer.upper()}": value
        for layer in LAYERS
        if (value := spark.conf.get(SCHEMA_CONF.format(layer=layer), None))
    }
    if landing := spark.conf.get(LANDING_CONF, None):
        overrides["LAKEFORGE__LANDING_ROOT"] = landing
    config = ConfigLoader.load(env, config_dir, environ={**os.environ, **overrides})
    tables = load_tables(config_dir.parent / TABLES_FILE)
    helper = CatalogHelper(config)
    names = []
    for spec in tables.tables:
        name = helper.table_name(spec.layer, spec.name)
        _register(dp, spark, config, tables, spec, package, name)
        names.append(name)
    return names


def _register(dp, spark, config, tables: TablesFile, spec: TableSpec, package: str, name: str) -> None:
    def query() -> DataFrame:
        return build_table(spark, config, tables, spec, package, check_columns=False)

    query.__name__ = spec.name
    dp.materialized_view(name=name, comment=spec.description)(query)
