"""CatalogHelper: `{env}_{catalog}.{project}_{layer}.{table}` and Unity Catalog's identifier rules."""

import pytest

from lakeforge import LAYERS, CatalogHelper, EnvironmentConfig, IdentifierError


def helper(catalog: str = "dev_analytics", schema: str = "customer_360", env: str = "dev") -> CatalogHelper:
    return CatalogHelper(EnvironmentConfig(environment=env, catalog={"name": catalog, "schema": schema}))


@pytest.mark.parametrize("layer", LAYERS)
def test_table_name_for_every_layer(layer: str) -> None:
    assert helper().table_name(layer, "raw_customers") == f"dev_analytics.customer_360_{layer}.raw_customers"


def test_design_examples() -> None:
    assert helper().table_name("bronze", "raw_customers") == "dev_analytics.customer_360_bronze.raw_customers"
    prod = helper("prod_analytics", env="prod")
    assert prod.table_name("silver", "cleaned_customers") == "prod_analytics.customer_360_silver.cleaned_customers"


def test_local_uses_spark_catalog() -> None:
    local = helper("spark_catalog", env="local")
    assert local.schemas() == [f"spark_catalog.customer_360_{layer}" for layer in LAYERS]


@pytest.mark.parametrize(
    "table",
    ["raw-customers", "raw customers", "", "`raw`", "x" * 256, "1customers", "Customers", "raw.customers"],
    ids=["dash", "space", "empty", "backticks", "too-long", "leading-digit", "uppercase", "dot"],
)
def test_bad_table_names_are_rejected(table: str) -> None:
    with pytest.raises(IdentifierError) as err:
        helper().table_name("bronze", table)
    assert "table name" in str(err.value)


def test_the_error_suggests_a_fix() -> None:
    with pytest.raises(IdentifierError, match="'raw_customers'"):
        helper().table_name("bronze", "Raw-Customers")


def test_longest_allowed_name_passes() -> None:
    assert helper().table_name("gold", "x" * 255).endswith("." + "x" * 255)


def test_unknown_layer_is_rejected() -> None:
    with pytest.raises(IdentifierError, match="use one of bronze, silver, gold"):
        helper().table_name("platinum", "t")


def test_bad_catalog_in_model_is_rejected() -> None:
    with pytest.raises(ValueError, match="catalog.name"):
        helper(catalog="dev analytics")
