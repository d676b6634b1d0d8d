"""`scaffold add`: a new table in tables.yml plus its stubs, without hand-editing boilerplate.

The entry is appended as text by `scaffolder.tables_writer`, so the file's comments and layout
survive and free text (the description) is quoted by YAML's emitter, never parsed; the whole file
is validated with the new entry before anything is written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lakeforge.tables import INGESTED_AT, ON_VIOLATION, SOURCE_FILE, TableSpec, check_expression
from scaffolder.errors import ScaffoldError
from scaffolder.project import Project
from scaffolder.stubs import ensure_stub
from scaffolder.tables_writer import append_entry, validated
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
        if not sep or not name or not type_ or type_ == "!":
            raise ScaffoldError(
                f"--column {item!r}: use NAME:TYPE, e.g. --column customer_id:int (add ! for NOT NULL: id:int!)"
            )
        not_null = type_.endswith("!")
        parsed.append({"name": name, "type": type_.rstrip("!"), **({"nullable": False} if not_null else {})})
    if layer == "bronze" and not any(c["name"] == INGESTED_AT for c in parsed):
        parsed += [
            {"name": INGESTED_AT, "type": "timestamp", "nullable": False},
            {"name": SOURCE_FILE, "type": "string"},
        ]
    return parsed


def parse_checks(checks: Sequence[str]) -> dict[str, str]:
    """`--check NAME=SQL` items as tables.yml's `checks:`; a one-line error naming the item and the fix."""
    parsed: dict[str, str] = {}
    for item in checks:
        name, sep, sql = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ScaffoldError(
                f'--check {item!r}: use NAME=SQL, e.g. --check "amount_positive=amount >= 0" '
                "(a name, then a Spark SQL condition every row must meet)"
            )
        if name in parsed:
            raise ScaffoldError(f"--check {item!r}: check {name!r} is given twice; give each check its own name")
        try:
            parsed[name] = check_expression(name, sql)
        except ValueError as exc:
            raise ScaffoldError(f"--check {item!r}: {exc}") from None
    return parsed


@dataclass(frozen=True)
class Contract:
    """What `add` declares about the table's rows besides its columns (see lakeforge.tables)."""

    keys: Sequence[str] = ()
    not_null: Sequence[str] = ()
    checks: Mapping[str, str] | Sequence[str] = ()  # `NAME=SQL` items, or already a mapping
    on_violation: str | None = None

    def entry(self) -> dict[str, Any]:
        if self.on_violation is not None and self.on_violation not in ON_VIOLATION:
            raise ScaffoldError(
                f"--on-violation {self.on_violation!r}: use one of {', '.join(ON_VIOLATION)} "
                "(what production does with a row that breaks a check: stop, drop it, or keep it and count it)"
            )
        checks = dict(self.checks) if isinstance(self.checks, Mapping) else parse_checks(self.checks)
        out: dict[str, Any] = {}
        if self.keys:
            out["keys"] = list(dict.fromkeys(self.keys))
        if self.not_null:
            out["not_null"] = list(dict.fromkeys(self.not_null))
        if checks:
            out["checks"] = checks
        if self.on_violation is not None:
            out["on_violation"] = self.on_violation
        return out


def add_table(
    project: Project,
    layer: str,
    name: str,
    description: str,
    columns: Sequence[str],
    source: str | None = None,
    source_format: str = "csv",
    inputs: Sequence[str] = (),
    contract: Contract | None = None,
) -> AddResult:
    """Append the entry and create its stubs. A bronze table without columns gets the schema the
    profiling agent infers from the files landed under `source` (the entry is checked first, so a
    bad name or input costs no Spark start)."""
    entry: dict[str, Any] = {"name": name, "layer": layer, "description": description}
    if layer == "bronze":
        if not source:
            raise ScaffoldError(
                "bronze tables need --source PATH (relative to the landing root; --format if the files are not csv)"
            )
        entry["source"] = {"path": source, "format": source_format}
    else:
        entry["inputs"] = list(inputs)
    if not columns and layer != "bronze":
        raise ScaffoldError(
            f"{layer} tables need their columns: --column NAME:TYPE (repeatable); only a bronze table's "
            "landed files can be profiled instead"
        )
    rows = (contract or Contract()).entry()
    text = project.tables_path.read_text(encoding="utf-8")
    profile = None
    if columns:
        entry["schema"] = parse_columns(columns, layer)
    else:
        from scaffolder.profile import profile_landing, schema_columns

        # Checked before profiling with a placeholder schema (the contract's columns come from the files).
        validated(append_entry(text, {**entry, "schema": parse_columns(["placeholder:string"], layer)}))
        profile, _ = profile_landing(project, name, str(source), source_format)
        if source_format == "csv":  # profiled with the header row as names: the pipeline must read it so
            entry["source"] = {**entry["source"], "options": {"header": True}}
        entry["schema"] = schema_columns(profile, None, layer)
    new_text = append_entry(text, {**entry, **rows})
    spec = validated(new_text).get(name)
    atomic_write(project.tables_path, new_text)
    manifest = load_manifest(project.root)
    created = ensure_stub(project, manifest, spec)
    save_manifest(project.root, manifest)
    if profile is None:
        return AddResult(spec, created)
    from scaffolder.profile import save_profile

    return AddResult(spec, created, profile, save_profile(project, profile))
