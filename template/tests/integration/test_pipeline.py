"""Runs on a Databricks workspace (`databricks bundle run test_job -t dev`); skipped elsewhere."""

import os

import pytest
from lakeforge import CatalogHelper, ConfigLoader

pytestmark = pytest.mark.integration


def test_every_table_exists_and_has_rows(spark):
    from lakeforge.tables import load_tables

    config = ConfigLoader.load(os.environ.get("LAKEFORGE_ENV", "dev"))
    helper = CatalogHelper(config)
    for spec in load_tables().tables:
        name = helper.table_name(spec.layer, spec.name)
        assert spark.catalog.tableExists(name), f"{name} does not exist: run the pipeline first"
        assert spark.table(name).limit(1).count() == 1, f"{name} is empty"
