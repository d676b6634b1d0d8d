"""Lakeforge runtime: what generated Databricks pipelines import.

pyspark is optional (Databricks clusters ship it), so nothing here imports it at module load.
"""

from lakeforge.catalog import LOCAL_CATALOG, CatalogHelper
from lakeforge.config import CatalogConfig, ConfigLoader, EnvironmentConfig, MonteCarloConfig, SparkConfig
from lakeforge.errors import ConfigError, EnvironmentIsolationError, IdentifierError, LakeforgeError, RuleError
from lakeforge.identifiers import LAYERS
from lakeforge.observability import monte_carlo_rule
from lakeforge.session import SparkSessionFactory

__version__ = "0.1.0"

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
