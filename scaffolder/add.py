"""`scaffold add`: a new table in tables.yml plus its stubs, without hand-editing boilerplate.

The entry is appended as text so the file's comments and layout survive; the whole file is
validated with the new entry before anything is written.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import yaml

from lakeforge.errors import ConfigError
from lakeforge.tables import TableSpec, parse_tables
from scaffolder.project import Project, ScaffoldError
from scaffolder.stubs import ensure_stub
from scaffolder.writer import atomic_write, load_manifest, save_manifest


@dataclass
class AddResult:
    spec: TableSpec
    created: list[str]


def parse_columns(columns: Sequence[str], layer: str) -> list[dict[str, object]]:
    parsed: list[dict[str, object]] = []
    for item in columns:
        name, sep, type_ = item.partition(":")
        if not sep or not name or not type_:
            raise ScaffoldError(
                f"--column {item!r}: use NAME:TYPE, e.g. --column customer_id:int (add ! for NOT NULL: id:int!)"
            )
        not_null = type_.endswith("!")
        parsed.append({"name": name, "type": type_.rstrip("!"), **({"nullable": False} if not_null else {})})
    if layer == "bronze" and not any(c["name"] == "_ingested_at" for c in parsed):
        parsed += [
            {"name": "_ingested_at", "type": "timestamp", "nullable": False},
            {"name": "_source_file", "type": "string"},
        ]
    return parsed


def add_table(
    project: Project,
    layer: str,
    name: str,
    description: str,
    columns: Sequence[str],
    source: str | None = None,
    source_format: str = "csv",
    inputs: Sequence[str] = (),
) -> AddResult:
    entry: dict[str, object] = {"name": name, "layer": layer, "description": description}
    if layer == "bronze":
        if not source:
            raise ScaffoldError("bronze tables need --source PATH (relative to the landing root) and --format")
        entry["source"] = {"path": source, "format": source_format}
    else:
        entry["inputs"] = list(inputs)
    entry["schema"] = parse_columns(columns, layer)
    text = project.tables_path.read_text(encoding="utf-8")
    block = "\n" + yaml.safe_dump([entry], sort_keys=False, default_flow_style=None).strip() + "\n"
    block = "\n".join(("  " + line) if line else line for line in block.splitlines()) + "\n"
    if re.search(r"^tables:\s*\[\]\s*$", text, flags=re.M):
        new_text = re.sub(r"^tables:\s*\[\]\s*$", "tables:", text, count=1, flags=re.M).rstrip("\n") + "\n" + block
    elif re.search(r"^tables:\s*$", text, flags=re.M):
        new_text = text.rstrip("\n") + "\n" + block
    else:
        new_text = text.rstrip("\n") + "\ntables:\n" + block
    try:
        tables = parse_tables(yaml.safe_load(new_text), "tables.yml")
    except ConfigError as exc:
        raise ScaffoldError(f"{exc} (nothing was written)") from None
    spec = tables.get(name)
    atomic_write(project.tables_path, new_text)
    manifest = load_manifest(project.root)
    created = ensure_stub(project, manifest, spec)
    save_manifest(project.root, manifest)
    return AddResult(spec, created)
