"""tables.yml agrees with the code: each table has a module whose SCHEMA and transform() match."""

import importlib
import inspect
from pathlib import Path

import pytest
from lakeforge.tables import load_tables
from lakeforge.testing import assert_schema_equal

ROOT = Path(__file__).resolve().parents[2]
TABLES = load_tables(ROOT / "tables.yml")
PACKAGE = "shop_b"

pytestmark = pytest.mark.contract


@pytest.mark.parametrize("spec", TABLES.tables, ids=lambda spec: f"{spec.layer}.{spec.name}")
def test_module_matches_the_contract(spec):
    path = ROOT / spec.module_path(PACKAGE)
    assert path.is_file(), f"{spec.module_path(PACKAGE)} is missing: run `scaffold fill {spec.layer}`"
    module = importlib.import_module(spec.module_name(PACKAGE))
    assert_schema_equal(module.SCHEMA, spec.struct_type())
    expected = ["raw"] if spec.layer == "bronze" else spec.inputs
    params = list(inspect.signature(module.transform).parameters)
    assert params == expected, (
        f"transform() of {spec.name} should take ({', '.join(expected)}), not ({', '.join(params)})"
    )
