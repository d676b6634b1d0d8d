"""ConfigLoader: the merge, the overrides and every error a user can hit."""

from pathlib import Path

import pytest

from lakeforge import ConfigError, ConfigLoader, EnvironmentConfig, EnvironmentIsolationError
from lakeforge.runner import load_config, parse_args, source_path
from lakeforge.tables import TableSpec

DEFAULTS = """\
spark:
  app_name: shop
  config:
    spark.sql.session.timeZone: UTC
    spark.sql.shuffle.partitions: 4
catalog:
  name: spark_catalog
  schema: shop
"""


def write(folder: Path, name: str, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "config"
    write(folder, "defaults.yaml", DEFAULTS)
    write(folder, "local.yaml", "spark:\n  master: local[1]\n")
    write(
        folder, "dev.yaml", "catalog:\n  name: dev_analytics\nspark:\n  config:\n    spark.sql.shuffle.partitions: 8\n"
    )
    write(folder, "prod.yaml", "catalog:\n  name: prod_analytics\n")
    return folder


def test_deep_merge_keeps_nested_keys_from_both_files(config_dir: Path) -> None:
    config = ConfigLoader.load("dev", config_dir, environ={})
    assert config.spark.config == {"spark.sql.session.timeZone": "UTC", "spark.sql.shuffle.partitions": "8"}
    assert config.spark.app_name == "shop"
    assert config.catalog.name == "dev_analytics"
    assert config.catalog.schema_ == "shop"
    assert config.environment == "dev"


def test_env_variables_override_nested_keys(config_dir: Path) -> None:
    environ = {"LAKEFORGE__SPARK__MASTER": "local[2]", "LAKEFORGE__SPARK__CONFIG__spark.sql.ansi.enabled": "true"}
    config = ConfigLoader.load("local", config_dir, environ=environ)
    assert config.spark.master == "local[2]"
    assert config.spark.config["spark.sql.ansi.enabled"] == "true"
    assert config.spark.config["spark.sql.shuffle.partitions"] == "4"


def test_config_dir_found_upward_from_cwd(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nested = config_dir.parent / "src" / "pkg"
    nested.mkdir(parents=True)
    monkeypatch.chdir(nested)
    monkeypatch.delenv("LAKEFORGE_CONFIG_DIR", raising=False)
    assert ConfigLoader.load("local", environ={}).spark.master == "local[1]"


def test_wrong_type_names_file_and_key_path(config_dir: Path) -> None:
    write(config_dir, "dev.yaml", "catalog:\n  name: dev_analytics\nspark:\n  config:\n    spark.jars: [a, b]\n")
    with pytest.raises(ConfigError) as err:
        ConfigLoader.load("dev", config_dir, environ={})
    message = str(err.value)
    assert "config/dev.yaml" in message
    assert "spark.config.spark.jars" in message
    assert "valid string" in message


def test_wrong_type_from_defaults_names_defaults(config_dir: Path) -> None:
    write(config_dir, "defaults.yaml", DEFAULTS.replace("app_name: shop", "app_name: {nested: 1}"))
    with pytest.raises(ConfigError, match=r"config/defaults.yaml: spark.app_name"):
        ConfigLoader.load("dev", config_dir, environ={})


def test_unknown_key_is_named(config_dir: Path) -> None:
    write(config_dir, "local.yaml", "spark:\n  mastr: local[1]\n")
    with pytest.raises(ConfigError, match=r"config/local.yaml: spark.mastr: unknown setting"):
        ConfigLoader.load("local", config_dir, environ={})


def test_broken_yaml_names_file_and_line(config_dir: Path) -> None:
    write(config_dir, "dev.yaml", "catalog:\n  name: dev_analytics\n spark: [\n")
    with pytest.raises(ConfigError) as err:
        ConfigLoader.load("dev", config_dir, environ={})
    assert "config/dev.yaml line 3" in str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_env_lists_the_known_ones(config_dir: Path) -> None:
    with pytest.raises(ConfigError) as err:
        ConfigLoader.load("staging", config_dir, environ={})
    assert "unknown environment 'staging'" in str(err.value)
    assert "dev, local, prod" in str(err.value)


def test_missing_catalog_is_reported(config_dir: Path) -> None:
    write(config_dir, "defaults.yaml", "spark:\n  app_name: shop\n")
    with pytest.raises(ConfigError, match=r"catalog: required but set in neither"):
        ConfigLoader.load("local", config_dir, environ={})


def test_bad_catalog_identifier_names_the_key(config_dir: Path) -> None:
    write(config_dir, "dev.yaml", "catalog:\n  name: dev-analytics\n")
    with pytest.raises(ConfigError, match=r"config/dev.yaml: catalog.name: .*dev_analytics"):
        ConfigLoader.load("dev", config_dir, environ={})


def test_non_prod_config_naming_prod_catalog_is_rejected(config_dir: Path) -> None:
    write(config_dir, "dev.yaml", "catalog:\n  name: prod_analytics\n")
    with pytest.raises(EnvironmentIsolationError, match=r"config/dev.yaml: environment 'dev' names the prod catalog"):
        ConfigLoader.load("dev", config_dir, environ={})


def test_env_override_cannot_point_dev_at_prod(config_dir: Path) -> None:
    with pytest.raises(EnvironmentIsolationError):
        ConfigLoader.load("dev", config_dir, environ={"LAKEFORGE__CATALOG__NAME": "prod_analytics"})


def test_prod_config_loads(config_dir: Path) -> None:
    config = ConfigLoader.load("prod", config_dir, environ={})
    assert config.is_prod and config.catalog.name == "prod_analytics"


def test_missing_config_dir_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        ConfigLoader.load("dev", tmp_path / "nope", environ={})


# Absolute locations: URIs, Unity Catalog volumes and local absolute paths are used as they are.
ABSOLUTE_LOCATIONS = [
    "dbfs:/mnt/landing",
    "dbfs:/Volumes/dev_analytics/shop_bronze/landing",
    "s3://bucket/landing",
    "abfss://landing@account.dfs.core.windows.net/raw",
    "gs://bucket/landing",
    "wasbs://landing@account.blob.core.windows.net/raw",
    "file:/tmp/landing",
    "/Volumes/dev_analytics/shop_bronze/landing",
    "/srv/landing",
]


@pytest.mark.parametrize("location", ABSOLUTE_LOCATIONS)
def test_absolute_landing_root_is_kept_as_written(config_dir: Path, location: str) -> None:
    write(config_dir, "dev.yaml", f"catalog:\n  name: dev_analytics\nlanding_root: {location}\n")
    assert ConfigLoader.load("dev", config_dir, environ={}).landing_root == location
    override = {"LAKEFORGE__LANDING_ROOT": location}
    assert ConfigLoader.load("local", config_dir, environ=override).landing_root == location


def test_relative_landing_root_is_under_the_project(config_dir: Path) -> None:
    assert ConfigLoader.load("local", config_dir, environ={}).landing_root == str(config_dir.parent / "data/landing")
    relative = ConfigLoader.load("local", config_dir, environ={"LAKEFORGE__LANDING_ROOT": "raw/in"})
    assert relative.landing_root == str(config_dir.parent / "raw/in")


@pytest.mark.parametrize("location", ABSOLUTE_LOCATIONS)
def test_source_path_keeps_absolute_locations(location: str) -> None:
    config = EnvironmentConfig(
        environment="dev", catalog={"name": "dev_analytics", "schema": "shop"}, landing_root="/Volumes/x/y/landing"
    )
    assert source_path(config, bronze_spec(location)) == location
    assert source_path(config, bronze_spec("customers/")) == "/Volumes/x/y/landing/customers/"


def bronze_spec(path: str) -> TableSpec:
    return TableSpec.model_validate(
        {
            "name": "raw_customers",
            "layer": "bronze",
            "description": "Customers as they land.",
            "source": {"path": path, "format": "csv"},
            "schema": [{"name": "id", "type": "int"}],
        }
    )


def test_env_section_and_key_together_is_one_clear_error(config_dir: Path) -> None:
    environ = {"LAKEFORGE__SPARK": "local[2]", "LAKEFORGE__SPARK__MASTER": "local[2]"}
    with pytest.raises(ConfigError) as err:
        ConfigLoader.load("local", config_dir, environ=environ)
    message = str(err.value)
    assert "LAKEFORGE__SPARK and LAKEFORGE__SPARK__MASTER" in message
    assert "unset LAKEFORGE__SPARK " in message
    assert "\n" not in message


def test_env_values_are_strings_not_yaml_1_1(config_dir: Path) -> None:
    environ = {
        "LAKEFORGE__SPARK__APP_NAME": "010",
        "LAKEFORGE__SPARK__MASTER": "no",
        "LAKEFORGE__SPARK__CONFIG__spark.sql.shuffle.partitions": "010",
        "LAKEFORGE__SPARK__CONFIG__spark.app.tag": "1.0e3",
        "LAKEFORGE__SPARK__CONFIG__spark.app.scale": "1e3",
        "LAKEFORGE__SPARK__CONFIG__spark.app.enabled": "off",
    }
    config = ConfigLoader.load("local", config_dir, environ=environ)
    assert config.spark.app_name == "010"
    assert config.spark.master == "no"
    assert config.spark.config["spark.sql.shuffle.partitions"] == "010"
    assert config.spark.config["spark.app.tag"] == "1.0e3"
    assert config.spark.config["spark.app.scale"] == "1e3"
    assert config.spark.config["spark.app.enabled"] == "off"


def test_env_values_still_become_bools_where_the_model_wants_them(config_dir: Path) -> None:
    write(config_dir, "dev.yaml", "catalog:\n  name: dev_analytics\nmonte_carlo:\n  namespace: shop\n")
    environ = {"LAKEFORGE__ALLOW_OUTSIDE_DATABRICKS": "yes", "LAKEFORGE__MONTE_CARLO__ENABLED": "no"}
    config = ConfigLoader.load("dev", config_dir, environ=environ)
    assert config.allow_outside_databricks is True
    assert config.monte_carlo is not None and config.monte_carlo.enabled is False


def test_env_value_of_the_wrong_type_names_the_variable(config_dir: Path) -> None:
    with pytest.raises(ConfigError, match=r"environment variable LAKEFORGE__ALLOW_OUTSIDE_DATABRICKS: .*'maybe'"):
        ConfigLoader.load("local", config_dir, environ={"LAKEFORGE__ALLOW_OUTSIDE_DATABRICKS": "maybe"})


def test_runner_set_keeps_the_case_of_spark_keys(config_dir: Path) -> None:
    args = parse_args(
        [
            "--package", "shop", "--layer", "bronze", "--env", "dev", "--config-dir", str(config_dir),
            "--set", "spark.config.spark.sql.shuffle.partitions=4",
            "--set", "spark.config.spark.sql.adaptive.coalescePartitions.enabled=false",
            "--set", "catalog.schemas.bronze=dev_me_shop_bronze",
            "--set", "landing_root=dbfs:/mnt/landing",
            "--set", "spark.app_name=010",
        ]
    )  # fmt: skip
    config, folder = load_config(args)
    assert folder == config_dir
    assert config.spark.config["spark.sql.shuffle.partitions"] == "4"
    assert config.spark.config["spark.sql.adaptive.coalescePartitions.enabled"] == "false"
    assert config.catalog.schemas == {"bronze": "dev_me_shop_bronze"}
    assert config.landing_root == "dbfs:/mnt/landing"
    assert config.spark.app_name == "010"


def test_runner_set_errors_name_the_override(config_dir: Path) -> None:
    args = parse_args(["--package", "shop", "--layer", "bronze", "--config-dir", str(config_dir), "--env", "local"])
    args.set = [("spark.mastr", "local[2]")]
    with pytest.raises(ConfigError, match=r"--set spark.mastr: spark.mastr: unknown setting"):
        load_config(args)


def test_environ_is_the_only_environment_read(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEFORGE_CONFIG_DIR", str(config_dir.parent / "nope"))
    monkeypatch.setenv("LAKEFORGE_ENV", "dev")
    monkeypatch.setenv("LAKEFORGE__SPARK__MASTER", "local[9]")
    monkeypatch.chdir(config_dir.parent)
    config = ConfigLoader.load(environ={})
    assert config.environment == "local"
    assert config.spark.master == "local[1]"
    elsewhere = config_dir.parent / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("LAKEFORGE_CONFIG_DIR")
    assert ConfigLoader.load(environ={"LAKEFORGE_CONFIG_DIR": str(config_dir)}).spark.master == "local[1]"


def test_isolation_knows_the_configured_prod_catalog(config_dir: Path) -> None:
    write(config_dir, "prod.yaml", "catalog:\n  name: analytics\n")
    write(config_dir, "dev.yaml", "catalog:\n  name: analytics\n")
    with pytest.raises(EnvironmentIsolationError, match=r"config/dev.yaml: .*'analytics'.*config/prod.yaml"):
        ConfigLoader.load("dev", config_dir, environ={})
    with pytest.raises(EnvironmentIsolationError, match=r"environment variable LAKEFORGE__CATALOG__NAME: "):
        ConfigLoader.load("local", config_dir, environ={"LAKEFORGE__CATALOG__NAME": "analytics"})
    assert ConfigLoader.load("prod", config_dir, environ={}).catalog.name == "analytics"
