"""Every environment's config loads, and each environment stays in its own catalog."""

from pathlib import Path

import pytest
from lakeforge import CatalogHelper, ConfigLoader

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config"
ENVIRONMENTS = ConfigLoader.known_environments(CONFIG)

pytestmark = pytest.mark.contract


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_environment_config_loads(env):
    config = ConfigLoader.load(env, CONFIG, environ={})
    expected_catalog = "spark_catalog" if env == "local" else f"{env}_"
    assert config.catalog.name.startswith(expected_catalog)
    assert len(CatalogHelper(config).schemas()) == 3


def test_local_environment_exists():
    assert "local" in ENVIRONMENTS
