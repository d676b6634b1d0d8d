"""The profile a table's data leaves behind: `.scaffold/profiles/<table>.json` (`TableProfile`).

`scaffold profile` writes it (from a sample on local Spark, `scaffolder.profiling.files`, or from
Unity Catalog, `scaffolder.profiling.unity_catalog`); the prompt builder quotes it to the model.
It holds no timestamp, so profiling the same data twice gives the same prompt and `scaffold fill`
reuses its cached reply.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

PROFILES_DIR = ".scaffold/profiles"

Value = bool | int | float | str


class ColumnProfile(BaseModel):
    """One column: its tables.yml type and what the data says about it."""

    name: str
    type: str = Field(description="the tables.yml type")
    source_type: str = Field(description="the type as the source declares or Spark inferred it")
    nullable: bool | None = Field(default=None, description="declared by Unity Catalog; None for files")
    comment: str = ""
    null_fraction: float | None = None
    approx_distinct: int | None = None
    min: Value | None = None
    max: Value | None = None
    samples: list[Value] = Field(default_factory=list, description="frequent values, most frequent first")
    note: str = ""


class TableProfile(BaseModel):
    """`.scaffold/profiles/<table>.json`."""

    version: Literal[1] = 1
    table: str
    source: str = Field(description="the sample's path (relative to the repo when inside it) or catalog.schema.table")
    kind: Literal["files", "unity-catalog"]
    format: str | None = None
    rows: int | None = None
    bad_rows: int | None = Field(default=None, description="records Spark could not parse (stats leave them out)")
    bad_row_examples: list[str] = Field(default_factory=list)
    candidate_keys: list[str] = Field(
        default_factory=list, description="unique and never null in the sample; Unity Catalog: its primary key"
    )
    columns: list[ColumnProfile]
