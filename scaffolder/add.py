"""`scaffold add`: a new table in tables.yml plus its stubs, without hand-editing boilerplate.

The entry is appended as text so the file's comments and layout survive; the whole file is
validated with the new entry before anything is written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml

from lakeforge.errors import ConfigError
from lakeforge.tables import TablesFile, TableSpec, parse_tables
from scaffolder.errors import ScaffoldError
from scaffolder.project import Project
from scaffolder.stubs import ensure_stub
from scaffolder.writer import atomic_write, load_manifest, save_manifest

if TYPE_CHECKING:
    from scaffolder.profile import TableProfile


@dataclass
class AddResult:
    spec: TableSpec
    created: list[str]
    profile: TableProfile | None = None  # bronze without columns: what profiling the landed files found
    profile_path: str | None = None


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


def _list_indent(text: str) -> str:
    """The indentation of the file's table entries (`  - name:` in the template), so a new one matches."""
    match = re.search(r"^( *)- name:", text, flags=re.M)
    return match.group(1) if match else "  "


def _scalar(value: object, flow: bool = False) -> str:
    """A YAML scalar as the template writes them: plain when that reads back the same, else quoted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    special = ",[]{}" if flow else ""
    plain = text and not any(c in text for c in special + "#") and ": " not in text and not text.endswith(":")
    if plain and yaml.safe_load(text) == value and text.strip() == text:
        return text
    return json.dumps(text, ensure_ascii=False)


def entry_text(entry: dict[str, Any], indent: str = "  ") -> str:
    """One table entry in the template's style: block keys, flow columns and lists."""
    lines = []
    pad = indent + "  "
    for position, (key, value) in enumerate(entry.items()):
        lead = f"{indent}- " if position == 0 else pad
        if isinstance(value, dict):
            lines.append(f"{lead}{key}:")
            lines += _block(value, pad + "  ")
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            lines.append(f"{lead}{key}:")
            lines += [f"{pad}  - {_flow(v)}" for v in value]
        elif isinstance(value, list):
            lines.append(f"{lead}{key}: [{', '.join(_scalar(v, flow=True) for v in value)}]")
        else:
            lines.append(f"{lead}{key}: {_scalar(value)}")
    return "\n".join(lines) + "\n"


def _block(mapping: dict[str, Any], pad: str) -> list[str]:
    lines = []
    for key, value in mapping.items():
        if isinstance(value, dict):
            lines.append(f"{pad}{key}:")
            lines += _block(value, pad + "  ")
        else:
            lines.append(f"{pad}{key}: {_scalar(value)}")
    return lines


def _flow(mapping: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{k}: {_scalar(v, flow=True)}" for k, v in mapping.items()) + "}"


def _appended(text: str, entry: dict[str, Any]) -> str:
    """tables.yml's text with the entry appended in the file's own style."""
    block = "\n" + entry_text(entry, _list_indent(text))
    if re.search(r"^tables:\s*\[\]\s*$", text, flags=re.M):
        return re.sub(r"^tables:\s*\[\]\s*$", "tables:", text, count=1, flags=re.M).rstrip("\n") + "\n" + block
    if re.search(r"^tables:\s*$", text, flags=re.M):
        return text.rstrip("\n") + "\n" + block
    return text.rstrip("\n") + "\ntables:\n" + block


def _validated(text: str) -> TablesFile:
    try:
        return parse_tables(yaml.safe_load(text), "tables.yml")
    except ConfigError as exc:
        raise ScaffoldError(f"{exc} (nothing was written)") from None


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
    """Append the entry and create its stubs. A bronze table without columns gets the schema the
    profiling agent infers from the files landed under `source` (the entry is checked first, so a
    bad name or input costs no Spark start)."""
    entry: dict[str, Any] = {"name": name, "layer": layer, "description": description}
    if layer == "bronze":
        if not source:
            raise ScaffoldError("bronze tables need --source PATH (relative to the landing root) and --format")
        entry["source"] = {"path": source, "format": source_format}
    else:
        entry["inputs"] = list(inputs)
    if not columns and layer != "bronze":
        raise ScaffoldError(
            f"{layer} tables need their columns: --column NAME:TYPE (repeatable); only a bronze table's "
            "landed files can be profiled instead"
        )
    text = project.tables_path.read_text(encoding="utf-8")
    profile = None
    if columns:
        entry["schema"] = parse_columns(columns, layer)
    else:
        from scaffolder.profile import profile_landing, schema_columns

        _validated(_appended(text, {**entry, "schema": parse_columns(["placeholder:string"], layer)}))
        profile, _ = profile_landing(project, name, str(source), source_format)
        if source_format == "csv":  # profiled with the header row as names: the pipeline must read it so
            entry["source"] = {**entry["source"], "options": {"header": True}}
        entry["schema"] = schema_columns(profile, None, layer)
    new_text = _appended(text, entry)
    spec = _validated(new_text).get(name)
    atomic_write(project.tables_path, new_text)
    manifest = load_manifest(project.root)
    created = ensure_stub(project, manifest, spec)
    save_manifest(project.root, manifest)
    if profile is None:
        return AddResult(spec, created)
    from scaffolder.profile import save_profile

    return AddResult(spec, created, profile, save_profile(project, profile))
