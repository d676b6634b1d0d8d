"""Unity Catalog naming: `{env}_{catalog}.{project}_{layer}.{table}`.

One helper builds every table name so no pipeline hard-codes a catalog: the catalog comes from
the environment's config, which is what keeps dev code from ever reading prod tables.
"""

from __future__ import annotations

from lakeforge.config import EnvironmentConfig
from lakeforge.identifiers import LAYERS, check_identifier, check_layer

LOCAL_CATALOG = "spark_catalog"


class CatalogHelper:
    """Fully-qualified names for one environment's tables."""

    def __init__(self, config: EnvironmentConfig) -> None:
        self.config = config
        self.catalog = config.catalog.name
        self.schema_prefix = config.catalog.schema_

    def schema_name(self, layer: str) -> str:
        """`{catalog}.{project}_{layer}`, the schema that holds one layer's tables."""
        check_layer(layer)
        override = self.config.catalog.schemas.get(layer)  # type: ignore[call-overload]
        schema = override or check_identifier(f"{self.schema_prefix}_{layer}", "schema name")
        return f"{self.catalog}.{schema}"

    def table_name(self, layer: str, table: str) -> str:
        """`{catalog}.{project}_{layer}.{table}`, checked against Unity Catalog's identifier rules."""
        check_identifier(table, "table name")
        return f"{self.schema_name(layer)}.{table}"

    def schemas(self) -> list[str]:
        """Every layer's schema, in pipeline order."""
        return [self.schema_name(layer) for layer in LAYERS]
