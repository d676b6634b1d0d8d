"""Runs on a Databricks workspace after a pipeline run (`databricks bundle run test_job -t dev`);
skipped elsewhere. The deployed schema names arrive from the bundle through run_tests.py."""

import json
import os

import pytest
from lakeforge import CatalogHelper, ConfigLoader

pytestmark = pytest.mark.integration


def deployed_config():
    """The environment's config with the bundle's overrides (schema names, landing root) applied."""
    overrides = json.loads(os.environ.get("LAKEFORGE_INTEGRATION_SET") or "{}")
    return ConfigLoader.load(os.environ.get("LAKEFORGE_ENV", "dev"), overrides=overrides)


def test_every_table_exists_and_has_rows(spark):
    from lakeforge.tables import load_tables

    helper = CatalogHelper(deployed_config())
    for spec in load_tables().tables:
        name = helper.table_name(spec.layer, spec.name)
        assert spark.catalog.tableExists(name), f"{name} does not exist: run the pipeline first"
        assert spark.table(name).limit(1).count() == 1, f"{name} is empty"
