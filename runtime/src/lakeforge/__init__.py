"""Lakeforge runtime: what generated Databricks pipelines import.

pyspark is optional (Databricks clusters ship it), so nothing here imports it at module load;
the names below load their module on first use, so `import lakeforge.errors` (a CLI's error
handling) does not pay for pydantic and YAML.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "LAYERS": "lakeforge.identifiers",
    "LOCAL_CATALOG": "lakeforge.catalog",
    "CatalogHelper": "lakeforge.catalog",
    "CatalogConfig": "lakeforge.config",
    "ConfigLoader": "lakeforge.config",
    "EnvironmentConfig": "lakeforge.config",
    "MonteCarloConfig": "lakeforge.config",
    "SparkConfig": "lakeforge.config",
    "ConfigError": "lakeforge.errors",
    "EnvironmentIsolationError": "lakeforge.errors",
    "IdentifierError": "lakeforge.errors",
    "LakeforgeError": "lakeforge.errors",
    "RuleError": "lakeforge.errors",
    "monte_carlo_rule": "lakeforge.observability",
    "SparkSessionFactory": "lakeforge.session",
}

__all__ = [
    "LAYERS",
    "LOCAL_CATALOG",
    "CatalogConfig",
    "CatalogHelper",
    "ConfigError",
    "ConfigLoader",
    "EnvironmentConfig",
    "EnvironmentIsolationError",
    "IdentifierError",
    "LakeforgeError",
    "MonteCarloConfig",
    "RuleError",
    "SparkConfig",
    "SparkSessionFactory",
    "__version__",
    "monte_carlo_rule",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'lakeforge' has no attribute {name!r}")


if TYPE_CHECKING:
    from lakeforge.catalog import LOCAL_CATALOG, CatalogHelper
    from lakeforge.config import CatalogConfig, ConfigLoader, EnvironmentConfig, MonteCarloConfig, SparkConfig
    from lakeforge.errors import ConfigError, EnvironmentIsolationError, IdentifierError, LakeforgeError, RuleError
    from lakeforge.identifiers import LAYERS
    from lakeforge.observability import monte_carlo_rule
    from lakeforge.session import SparkSessionFactory
