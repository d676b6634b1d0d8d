"""The generated repo `scaffold` works in: where it is, its package, and `[tool.scaffold]` settings.

Settings come from `[tool.scaffold]` in the repo's pyproject.toml, then SCAFFOLD_* environment
variables, then command-line flags: the pydantic model is the single source of truth.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lakeforge.tables import TABLES_FILE, TablesFile, load_tables
from scaffolder.errors import ProviderName, SandboxName, ScaffoldError
from scaffolder.prices import DEFAULT_PRICES, Price, PriceTable

if sys.version_info >= (3, 11):
    import tomllib as tomllib  # re-exported: doctor reads pyproject.toml with it
else:  # pragma: no cover
    import tomli as tomllib


class ScaffoldSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: ProviderName = "auto"
    model: str | None = Field(
        default=None,
        description="model, Azure deployment or Databricks serving endpoint; unset: the provider's own default",
    )
    max_attempts: int = Field(default=3, ge=1, le=10)
    jobs: int = Field(
        default=8,
        ge=1,
        le=32,
        description="model calls in flight at once, one per table asked (the round's runs follow the cores)",
    )
    timeout_seconds: float = Field(default=600, gt=0, description="limit for one validation round (pytest)")
    test_timeout_seconds: float = Field(default=60, gt=0, description="limit for one generated test")
    request_timeout_seconds: float = Field(default=120, gt=0, description="limit for one model call")
    max_retries: int = Field(default=2, ge=0, le=10, description="SDK retries on 429/5xx/timeouts")
    max_tokens: int = Field(default=4096, ge=256)
    prompt_token_budget: int = Field(default=4000, ge=1000)
    sandbox: SandboxName = Field(
        default="auto", description="the OS sandbox for model-written code; off runs it unconfined (opt-out)"
    )
    mutants: bool = Field(default=True, description="keep a table only when its tests kill every mutant")
    allowed_imports: list[str] = Field(
        default_factory=list,
        description="modules generated code may import besides pyspark.sql, lakeforge and the stdlib basics",
    )
    prices: dict[str, Price] = Field(
        default_factory=dict,
        description="USD per million tokens by model, over scaffolder/prices.py: {my-endpoint = {input = 1, output = 2}}",
    )

    def price_table(self) -> PriceTable:
        """The list prices with this repo's own (a negotiated rate, a private endpoint) on top."""
        return DEFAULT_PRICES.with_overrides({name: price.model_dump() for name, price in self.prices.items()})

    def priced(self, model: str, tokens_in: int, tokens_out: int) -> tuple[Decimal | None, str]:
        """The estimated cost and whose prices gave it: the repo's own for its models, else the list's."""
        own = PriceTable(prices={name.lower(): price for name, price in self.prices.items()}).find(model)
        whose = "your [tool.scaffold.prices]" if own is not None else "list prices"
        return self.price_table().cost(model, tokens_in, tokens_out), whose


ENV_SETTINGS = {
    "SCAFFOLD_PROVIDER": "provider",
    "SCAFFOLD_MODEL": "model",
    "SCAFFOLD_MAX_ATTEMPTS": "max_attempts",
    "SCAFFOLD_JOBS": "jobs",
    "SCAFFOLD_TIMEOUT_SECONDS": "timeout_seconds",
    "SCAFFOLD_TEST_TIMEOUT_SECONDS": "test_timeout_seconds",
    "SCAFFOLD_REQUEST_TIMEOUT_SECONDS": "request_timeout_seconds",
    "SCAFFOLD_MAX_RETRIES": "max_retries",
    "SCAFFOLD_SANDBOX": "sandbox",
}


@dataclass(frozen=True)
class Project:
    root: Path
    package: str
    settings: ScaffoldSettings

    @property
    def tables_path(self) -> Path:
        return self.root / TABLES_FILE

    def tables(self) -> TablesFile:
        return load_tables(self.tables_path)

    @property
    def state_dir(self) -> Path:
        return self.root / ".scaffold"


def find_root(start: Path | None = None) -> Path:
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / TABLES_FILE).is_file() and (folder / "pyproject.toml").is_file():
            return folder
    raise ScaffoldError(
        f"no {TABLES_FILE} with a pyproject.toml found from {here}: run inside a Lakeforge repo (copier copy ...)"
    )


def load_project(
    start: Path | None = None, overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Project:
    """The repo around `start`, with settings from pyproject ← environment ← `overrides` (flags)."""
    root = find_root(start)
    environ = os.environ if environ is None else environ
    try:
        pyproject = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ScaffoldError(f"{root / 'pyproject.toml'}: not valid TOML ({exc})") from None
    package = str(pyproject.get("project", {}).get("name", "")).replace("-", "_")
    if not package or not (root / "src" / package).is_dir():
        raise ScaffoldError(f"{root}/pyproject.toml: [project] name {package!r} has no src/{package}/ package")
    raw: dict[str, Any] = dict(pyproject.get("tool", {}).get("scaffold", {}))
    raw.update({field: environ[var] for var, field in ENV_SETTINGS.items() if environ.get(var)})
    raw.update({k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        settings = ScaffoldSettings.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(map(str, error["loc"]))
        raise ScaffoldError(
            f"[tool.scaffold] {key}: {error['msg']} (got {error.get('input')!r}); fix pyproject.toml, "
            "the SCAFFOLD_* variable or the flag"
        ) from None
    return Project(root=root, package=package, settings=settings)
