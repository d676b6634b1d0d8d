"""Per-environment configuration: `config/defaults.yaml` deep-merged with `config/{env}.yaml`.

The pydantic models below are the single source of truth for the config file format. The merge
is deep (nested keys from both files survive) because a shallow `{**base, **env}` silently drops
every default spark setting the moment an environment file sets one of its own. Each leaf
remembers which file (or environment variable) it came from, so a validation error can name it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lakeforge.errors import ConfigError, EnvironmentIsolationError
from lakeforge.identifiers import check_identifier

DEFAULTS_FILE = "defaults.yaml"
ENV_PREFIX = "LAKEFORGE__"
CONFIG_DIR_VAR = "LAKEFORGE_CONFIG_DIR"
ENV_VAR = "LAKEFORGE_ENV"
PROD_ENVIRONMENT = "prod"
_ENV_NAME = re.compile(r"[a-z][a-z0-9_]*")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class SparkConfig(_Strict):
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


class CatalogConfig(_Strict):
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


class MonteCarloConfig(_Strict):
    """Monte Carlo settings used when monitors are exported as code."""

    enabled: bool = True
    namespace: str | None = None
    default_severity: Literal["low", "medium", "high", "critical"] = "medium"
    notify: list[str] = Field(default_factory=list)


class EnvironmentConfig(_Strict):
    """One environment's validated configuration."""

    environment: str
    spark: SparkConfig = Field(default_factory=SparkConfig)
    catalog: CatalogConfig
    table_format: Literal["auto", "delta", "parquet"] = "auto"
    landing_root: str = Field(default="data/landing", description="where bronze sources land; relative to the project")
    allow_outside_databricks: bool = False
    monte_carlo: MonteCarloConfig | None = None

    @model_validator(mode="after")
    def _isolated(self) -> EnvironmentConfig:
        name = self.catalog.name
        if self.environment != PROD_ENVIRONMENT and (name == PROD_ENVIRONMENT or name.startswith("prod_")):
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
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{label}{where}: not valid YAML ({problem}); fix the indentation or quoting there") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{label}: expected a mapping of settings at the top level, got {type(data).__name__}")
    return data


def _env_overrides(environ: Mapping[str, str]) -> tuple[dict[str, Any], dict[tuple[str, ...], str]]:
    """`LAKEFORGE__SPARK__MASTER=local[2]` → `{"spark": {"master": "local[2]"}}`."""
    overrides: dict[str, Any] = {}
    origins: dict[tuple[str, ...], str] = {}
    for var in sorted(environ):
        if not var.startswith(ENV_PREFIX):
            continue
        raw_parts = var[len(ENV_PREFIX) :].split("__")
        if not all(raw_parts):
            raise ConfigError(f"environment variable {var}: empty key part; use LAKEFORGE__SECTION__KEY=value")
        # Section and field names are lowercase; keys under `config` are Spark settings, kept verbatim.
        parts = [p if i > 0 and raw_parts[i - 1].lower() == "config" else p.lower() for i, p in enumerate(raw_parts)]
        node = overrides
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = yaml.safe_load(environ[var]) if environ[var] != "" else ""
        origins[tuple(parts)] = f"environment variable {var}"
    return overrides, origins


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
    def find_config_dir(path: str | os.PathLike[str] | None = None) -> Path:
        """The config directory: `path` (a dir or a file in it), `$LAKEFORGE_CONFIG_DIR`, or `config/` upward from cwd."""
        if path is not None:
            candidate = Path(path)
            if candidate.is_file():
                return candidate.parent
            if candidate.is_dir():
                return candidate
            raise ConfigError(
                f"config path {str(candidate)!r} does not exist: pass the directory holding {DEFAULTS_FILE}"
            )
        if os.environ.get(CONFIG_DIR_VAR):
            return ConfigLoader.find_config_dir(os.environ[CONFIG_DIR_VAR])
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
    ) -> EnvironmentConfig:
        """Defaults ← `{env}.yaml` ← `LAKEFORGE__*` variables, validated; errors name file and key."""
        environ = os.environ if environ is None else environ
        env = env or environ.get(ENV_VAR) or "local"
        config_dir = ConfigLoader.find_config_dir(path)
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
        overrides, override_origins = _env_overrides(environ)
        origins = {
            **_leaf_origins(defaults, defaults_label),
            **_leaf_origins(env_data, env_label),
            **override_origins,
        }
        merged = deep_merge(deep_merge(defaults, env_data), overrides)
        merged["environment"] = env
        landing = merged.setdefault("landing_root", "data/landing")
        if isinstance(landing, str) and "://" not in landing and not landing.startswith("/"):
            merged["landing_root"] = str((config_dir.parent / landing).resolve())
        try:
            return EnvironmentConfig.model_validate(merged)
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
            raise EnvironmentIsolationError(f"{env_label}: {exc}") from None
