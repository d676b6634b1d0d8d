"""Per-environment configuration: `config/defaults.yaml` deep-merged with `config/{env}.yaml`.

The pydantic models below are the single source of truth for the config file format. The merge
is deep (nested keys from both files survive) because a shallow `{**base, **env}` silently drops
every default spark setting the moment an environment file sets one of its own. Each leaf
remembers which file (or environment variable) it came from, so a validation error can name it.
"""

from __future__ import annotations

import os
import re
import types
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, Field, ValidationError, ValidationInfo, field_validator, model_validator

from lakeforge.errors import ConfigError, EnvironmentIsolationError
from lakeforge.identifiers import check_identifier
from lakeforge.models import Strict, read_yaml

DEFAULTS_FILE = "defaults.yaml"
ENV_PREFIX = "LAKEFORGE__"
CONFIG_DIR_VAR = "LAKEFORGE_CONFIG_DIR"
ENV_VAR = "LAKEFORGE_ENV"
PROD_ENVIRONMENT = "prod"
_ENV_NAME = re.compile(r"[a-z][a-z0-9_]*")
# `dbfs:/`, `s3://`, `abfss://`, `file:/`...: two or more letters, so `C:/data` stays a Windows drive.
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+:/")
# What `ConfigLoader.load` tells the models through pydantic's validation context.
PROJECT_ROOT = "project_root"
PROD_CATALOGS = "prod_catalogs"


def is_absolute_location(path: str) -> bool:
    """True for a URI (`dbfs:/`, `s3://`, `abfss://`, `gs://`, `wasbs://`...) or an absolute path (`/Volumes/...`).

    The one rule for "use this location as written": joining such a path under the project or the
    landing root (`<repo>/dbfs:/mnt/x`) would silently read or write the wrong place.
    """
    return bool(_URI.match(path)) or PurePosixPath(path).is_absolute() or PureWindowsPath(path).is_absolute()


class SparkConfig(Strict):
    """How to build the session: `master` only matters locally; Databricks owns its clusters."""

    app_name: str = "lakeforge"
    master: str | None = None
    config: dict[str, str] = Field(default_factory=dict)

    @field_validator("config", mode="before")
    @classmethod
    def _scalars_as_strings(cls, value: Any) -> Any:
        # YAML turns `4` and `true` into int/bool; Spark wants strings, so accept scalars only.
        if not isinstance(value, Mapping):
            return value
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if isinstance(item, bool):
                out[key] = "true" if item else "false"
            elif isinstance(item, (int, float)):
                out[key] = str(item)
            else:
                out[key] = item
        return out


class CatalogConfig(Strict):
    """Where tables live: catalog `name` (`{env}_{catalog}`) and the project's schema prefix."""

    name: str
    schema_: str = Field(alias="schema")
    schemas: dict[Literal["bronze", "silver", "gold"], str] = Field(
        default_factory=dict,
        description="per-layer schema names that replace {schema}_{layer}, e.g. the dev-mode prefixed ones",
    )

    @field_validator("name", "schema_")
    @classmethod
    def _identifier(cls, value: str, info: Any) -> str:
        return check_identifier(value, f"catalog.{info.field_name.rstrip('_')}")

    @field_validator("schemas")
    @classmethod
    def _schema_names(cls, value: dict[str, str]) -> dict[str, str]:
        for layer, name in value.items():
            check_identifier(name, f"catalog.schemas.{layer}")
        return value


class MonteCarloConfig(Strict):
    """Monte Carlo settings used when monitors are exported as code."""

    enabled: bool = True
    namespace: str | None = None
    default_severity: Literal["low", "medium", "high", "critical"] = "medium"
    notify: list[str] = Field(default_factory=list)


class EnvironmentConfig(Strict):
    """One environment's validated configuration."""

    environment: str
    spark: SparkConfig = Field(default_factory=SparkConfig)
    catalog: CatalogConfig
    table_format: Literal["auto", "delta", "parquet"] = "auto"
    landing_root: str = Field(
        default="data/landing",
        validate_default=True,
        description="where bronze sources land; a relative path is under the project, a URI or absolute path is kept",
    )
    allow_outside_databricks: bool = False
    monte_carlo: MonteCarloConfig | None = None

    @field_validator("landing_root")
    @classmethod
    def _under_the_project(cls, value: str, info: ValidationInfo) -> str:
        # A relative root means the project folder, not whatever the cwd of the job happens to be.
        root = (info.context or {}).get(PROJECT_ROOT)
        if root is None or is_absolute_location(value):
            return value
        return str((Path(root) / value).resolve())

    @model_validator(mode="after")
    def _isolated(self, info: ValidationInfo) -> EnvironmentConfig:
        # The name heuristic catches the usual `prod_*`; the prod config's own catalog catches the rest.
        name = self.catalog.name
        configured: Mapping[str, str] = (info.context or {}).get(PROD_CATALOGS, {})
        if self.environment == PROD_ENVIRONMENT:
            return self
        if name in configured:
            raise EnvironmentIsolationError(
                f"environment {self.environment!r} names the prod catalog {name!r} (the catalog of {configured[name]}): "
                f"non-prod environments must use their own catalog (e.g. '{self.environment}_...')"
            )
        if name == PROD_ENVIRONMENT or name.startswith("prod_"):
            raise EnvironmentIsolationError(
                f"environment {self.environment!r} names the prod catalog {name!r}: "
                f"non-prod environments must use their own catalog (e.g. '{self.environment}_...')"
            )
        return self

    @property
    def is_prod(self) -> bool:
        return self.environment == PROD_ENVIRONMENT


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Merge `override` into a copy of `base`, key by key at every depth."""
    merged: dict[str, Any] = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _leaf_origins(data: Mapping[str, Any], origin: str, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], str]:
    origins: dict[tuple[str, ...], str] = {}
    for key, value in data.items():
        path = (*prefix, str(key))
        origins[path] = origin
        if isinstance(value, Mapping):
            origins.update(_leaf_origins(value, origin, path))
    return origins


def _read_yaml(path: Path, label: str) -> dict[str, Any]:
    data = read_yaml(path, label)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{label}: expected a mapping of settings at the top level, got {type(data).__name__}")
    return data


def _unwrap_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        options = [arg for arg in get_args(annotation) if arg is not type(None)]
        return options[0] if len(options) == 1 else None
    return annotation


def _child(annotation: Any, part: str) -> Any:
    """The type found one key below `annotation`, or None when the model does not know the key."""
    annotation = _unwrap_optional(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        for name, field in annotation.model_fields.items():
            if part in (name, field.alias):
                return field.annotation
        return None
    if get_origin(annotation) is dict:
        return get_args(annotation)[1]
    return None


def _free_form(annotation: Any) -> bool:
    """A `dict[str, ...]` (spark.config) holds the user's own keys; a `dict[Literal[...], ...]` holds ours."""
    annotation = _unwrap_optional(annotation)
    return get_origin(annotation) is dict and get_args(annotation)[0] is str


def _key_path(parts: list[str], separator: str) -> tuple[str, ...]:
    """Model field names are lowercase; below a free-form mapping the rest is one key, in its own case.

    Read from the models, so `spark.config.spark.sql.shuffle.partitions` is
    `("spark", "config", "spark.sql.shuffle.partitions")` while `CATALOG__SCHEMAS__BRONZE` is
    `("catalog", "schemas", "bronze")`, and a new free-form field needs no change here.
    """
    annotation: Any = EnvironmentConfig
    path: list[str] = []
    for index, part in enumerate(parts):
        if _free_form(annotation):
            return (*path, separator.join(parts[index:]))
        path.append(part.lower())
        annotation = _child(annotation, part.lower())
    return tuple(path)


def _nest(
    entries: Iterable[tuple[tuple[str, ...], str, str]], what: str, fix: str, origin_prefix: str
) -> tuple[dict[str, Any], dict[tuple[str, ...], str]]:
    """`[(("spark", "master"), "local[2]", name)]` → `{"spark": {"master": "local[2]"}}`, refusing overlaps.

    Values stay strings: pydantic turns `"4"` or `"false"` into a number or bool only where a
    field wants one, so `010` or `no` meant as text are not read as YAML 1.1 (8, False).
    """
    overrides: dict[str, Any] = {}
    names: dict[tuple[str, ...], str] = {}
    for path, value, name in entries:
        for seen_path, seen in names.items():
            (short_path, short), (long_path, long) = sorted([(seen_path, seen), (path, name)], key=lambda e: len(e[0]))
            if long_path[: len(short_path)] != short_path:
                continue
            key = ".".join(short_path)
            if short_path == long_path:
                raise ConfigError(f"{what} {seen} and {name} both set {key}: {fix} one of them")
            raise ConfigError(
                f"{what} {short} and {long} both set {key}: {fix} {short} and keep {long} "
                "(an override sets one key, not a whole section)"
            )
        names[path] = name
        node = overrides
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return overrides, {path: f"{origin_prefix}{name}" for path, name in names.items()}


def _env_overrides(environ: Mapping[str, str]) -> tuple[dict[str, Any], dict[tuple[str, ...], str]]:
    """`LAKEFORGE__SPARK__MASTER=local[2]` → `{"spark": {"master": "local[2]"}}`."""
    entries = []
    for var in sorted(environ):
        if not var.startswith(ENV_PREFIX):
            continue
        parts = var[len(ENV_PREFIX) :].split("__")
        if not all(parts):
            raise ConfigError(f"environment variable {var}: empty key part; use LAKEFORGE__SECTION__KEY=value")
        entries.append((_key_path(parts, "__"), environ[var], var))
    return _nest(entries, "environment variables", "unset", "environment variable ")


def _set_overrides(overrides: Mapping[str, str]) -> tuple[dict[str, Any], dict[tuple[str, ...], str]]:
    """`{"spark.config.spark.sql.shuffle.partitions": "4"}` (the runner's `--set`) nested the same way."""
    entries = []
    for key, value in overrides.items():
        parts = key.split(".")
        if not all(parts):
            raise ConfigError(f"--set {key}: empty key part; use --set section.key=value")
        entries.append((_key_path(parts, "."), value, f"--set {key}"))
    return _nest(entries, "overrides", "drop", "")


def _prod_catalogs(config_dir: Path, defaults: Mapping[str, Any]) -> dict[str, str]:
    """The catalog prod really uses (defaults ⊕ prod.yaml), whatever it is named, with where it is set."""
    prod_path = config_dir / f"{PROD_ENVIRONMENT}.yaml"
    if not prod_path.is_file():
        return {}
    label = f"config/{PROD_ENVIRONMENT}.yaml"
    prod = _read_yaml(prod_path, label)
    catalog = deep_merge(defaults, prod).get("catalog")
    name = catalog.get("name") if isinstance(catalog, Mapping) else None
    if not isinstance(name, str):
        return {}
    prod_catalog = prod.get("catalog")
    named_in_prod = isinstance(prod_catalog, Mapping) and "name" in prod_catalog
    return {name: label if named_in_prod else f"config/{DEFAULTS_FILE}, inherited by {label}"}


def _origin_of(loc: tuple[Any, ...], origins: Mapping[tuple[str, ...], str], fallback: str) -> str:
    path = tuple(str(p) for p in loc)
    for end in range(len(path), 0, -1):
        if path[:end] in origins:
            return origins[path[:end]]
    return fallback


def _alias_path(loc: tuple[Any, ...]) -> tuple[str, ...]:
    return tuple("schema" if p == "schema_" else str(p) for p in loc)


class ConfigLoader:
    """Loads and validates one environment's configuration."""

    @staticmethod
    def find_config_dir(path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None) -> Path:
        """The config directory: `path` (a dir or a file in it), `$LAKEFORGE_CONFIG_DIR`, or `config/` upward from cwd.

        `environ` stands in for `os.environ`, so a caller that passes one controls every lookup.
        """
        environ = os.environ if environ is None else environ
        if path is not None:
            candidate = Path(path)
            if candidate.is_file():
                return candidate.parent
            if candidate.is_dir():
                return candidate
            raise ConfigError(
                f"config path {str(candidate)!r} does not exist: pass the directory holding {DEFAULTS_FILE}"
            )
        if environ.get(CONFIG_DIR_VAR):
            return ConfigLoader.find_config_dir(environ[CONFIG_DIR_VAR], environ)
        here = Path.cwd()
        for folder in (here, *here.parents):
            if (folder / "config" / DEFAULTS_FILE).is_file():
                return folder / "config"
        raise ConfigError(
            f"no config/{DEFAULTS_FILE} found from {here}: run inside the project, pass path=, or set {CONFIG_DIR_VAR}"
        )

    @staticmethod
    def known_environments(config_dir: Path) -> list[str]:
        return sorted(p.stem for p in config_dir.glob("*.yaml") if p.name != DEFAULTS_FILE)

    @staticmethod
    def load(
        env: str | None = None,
        path: str | os.PathLike[str] | None = None,
        environ: Mapping[str, str] | None = None,
        overrides: Mapping[str, str] | None = None,
    ) -> EnvironmentConfig:
        """Defaults ← `{env}.yaml` ← `LAKEFORGE__*` variables ← `overrides`, validated; errors name file and key.

        `environ` (default `os.environ`) is the only environment read. `overrides` maps dotted key
        paths to values (`spark.config.spark.sql.shuffle.partitions` → `"4"`): the runner's `--set`,
        which has no environment variable to hide behind and keeps Spark keys' case.
        """
        environ = os.environ if environ is None else environ
        env = env or environ.get(ENV_VAR) or "local"
        config_dir = ConfigLoader.find_config_dir(path, environ)
        known = ConfigLoader.known_environments(config_dir)
        if not _ENV_NAME.fullmatch(env) or env not in known:
            raise ConfigError(
                f"unknown environment {env!r}: known ones in {config_dir} are {', '.join(known) or 'none'}; "
                f"add config/{env}.yaml to create it"
            )
        defaults_path = config_dir / DEFAULTS_FILE
        env_path = config_dir / f"{env}.yaml"
        defaults_label = f"config/{DEFAULTS_FILE}"
        env_label = f"config/{env}.yaml"
        defaults = _read_yaml(defaults_path, defaults_label) if defaults_path.is_file() else {}
        env_data = _read_yaml(env_path, env_label)
        declared = env_data.get("environment", defaults.get("environment"))
        if declared is not None and declared != env and "environment" in env_data:
            raise ConfigError(f"{env_label}: environment is {declared!r} but the file is for {env!r}; make them agree")
        env_overrides, env_origins = _env_overrides(environ)
        set_overrides, set_origins = _set_overrides(overrides or {})
        origins = {
            **_leaf_origins(defaults, defaults_label),
            **_leaf_origins(env_data, env_label),
            **env_origins,
            **set_origins,
        }
        merged = deep_merge(deep_merge(deep_merge(defaults, env_data), env_overrides), set_overrides)
        merged["environment"] = env
        context = {
            PROJECT_ROOT: config_dir.parent,
            PROD_CATALOGS: {} if env == PROD_ENVIRONMENT else _prod_catalogs(config_dir, defaults),
        }
        try:
            return EnvironmentConfig.model_validate(merged, context=context)
        except ValidationError as exc:
            problems = []
            for error in exc.errors():
                loc = _alias_path(error["loc"])
                origin = _origin_of(loc, origins, f"{defaults_label} or {env_label}")
                key = ".".join(loc) or "(top level)"
                if error["type"] == "missing":
                    problems.append(f"{key}: required but set in neither {defaults_label} nor {env_label}")
                elif error["type"] == "extra_forbidden":
                    problems.append(f"{origin}: {key}: unknown setting; remove it or check its spelling")
                else:
                    problems.append(f"{origin}: {key}: {error['msg']} (got {error.get('input')!r})")
            raise ConfigError("; ".join(problems)) from None
        except EnvironmentIsolationError as exc:
            origin = _origin_of(("catalog", "name"), origins, env_label)
            raise EnvironmentIsolationError(f"{origin}: {exc}") from None
