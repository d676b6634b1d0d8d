"""ConfigLoader: the merge, the overrides and every error a user can hit."""

from pathlib import Path

import pytest

from lakeforge import ConfigError, ConfigLoader, EnvironmentIsolationError

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
