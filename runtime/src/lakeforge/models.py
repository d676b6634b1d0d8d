"""What every file format of the runtime shares: strict pydantic models and reading YAML.

`config/*.yaml` and `tables.yml` are both hand-edited YAML validated by pydantic models; they
report a typo'd key and a broken line the same way, from this one place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict

from lakeforge.errors import ConfigError


class Strict(BaseModel):
    """Unknown keys are errors (a typo must not be ignored); aliases and field names both work."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def read_yaml(path: Path, label: str) -> Any:
    """The file's data; a ConfigError naming the file and the line when it is not valid YAML."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{label}{where}: not valid YAML ({problem}); fix the indentation or quoting there") from None
