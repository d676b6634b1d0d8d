"""`scaffold profile`: the profiling agent. Infer a table's schema from data and keep its statistics.

Two sources, each in its own module:

- a local sample (CSV, JSON lines, parquet; a file or a folder), read with local Spark
  (`scaffolder.profiling.files`): the inferred schema and per-column statistics, among them the
  columns that could be keys (unique and never null);
- a Unity Catalog table (`catalog.schema.table`), fetched with databricks-sdk
  (`scaffolder.profiling.unity_catalog`): its columns, types, nullability, comments and primary
  key; Unity Catalog keeps no column statistics there, so the profile holds the schema only.

The schema goes into the table's entry in tables.yml, edited as text by `scaffolder.tables_writer`
(only the entry's `schema:` lines change: the file's comments and the other entries stay byte for
byte), with what the data proposes for the contract when the entry declares none yet: `keys` (an
id-like column that is unique and never null in the sample, or Unity Catalog's primary key) and
`not_null` for those key columns. Other columns that were never null are named in a note: a
sample cannot prove NOT NULL. The whole file is validated first; the caller decides whether to
write it (`--yes`) or only show the diff. The statistics go to `.scaffold/profiles/<table>.json`
(`TableProfile`), which the prompt builder quotes to the model.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakeforge.errors import LakeforgeError
from lakeforge.tables import INGESTED_AT, METADATA_COLUMNS, SOURCE_FILE, TableSpec
from scaffolder.errors import ScaffoldError
from scaffolder.profiling.files import (
    CORRUPT,
    PROFILED_FORMATS,
    SUFFIX_FORMATS,
    detect_format,
    local_spark,
    profile_dataframe,
    profile_files,
    read_sample,
    spark_log_path,
    table_type,
)
from scaffolder.profiling.model import PROFILES_DIR, ColumnProfile, TableProfile
from scaffolder.profiling.unity_catalog import UC_RETRY_SECONDS, is_uc_name, profile_uc_table
from scaffolder.project import Project
from scaffolder.tables_writer import replace_schema, set_entry_key, unified_diff, validated
from scaffolder.writer import atomic_write, edited_by_person, load_manifest, save_manifest, write_tracked

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = [
    "CORRUPT",
    "PROFILED_FORMATS",
    "PROFILES_DIR",
    "SUFFIX_FORMATS",
    "UC_RETRY_SECONDS",
    "ColumnProfile",
    "ProfileResult",
    "TableProfile",
    "detect_format",
    "is_uc_name",
    "landing_root",
    "local_spark",
    "profile_dataframe",
    "profile_files",
    "profile_landing",
    "profile_table",
    "profile_uc_table",
    "proposals",
    "read_sample",
    "replace_schema",
    "save_profile",
    "schema_columns",
    "spark_log_path",
    "table_type",
    "unified_diff",
]
# Column names that say "this identifies a row" (a unique column of a small sample often is not a key).
_KEY_NAME = re.compile(r"(^id$|_(id|key|code|uuid|number|no)$)")


@dataclass
class ProfileResult:
    table: str
    profile: TableProfile
    profile_path: str
    diff: str  # unified diff of tables.yml; empty when it already says this
    applied: bool
    notes: list[str] = field(default_factory=list)
    spark_jobs: int | None = None
    proposed: dict[str, list[str]] = field(default_factory=dict)  # keys / not_null the data proposes


def landing_root(project: Project) -> Path:
    """The local environment's landing root (config/local.yaml), data/landing when there is none."""
    from lakeforge.config import ConfigLoader

    config_dir = project.root / "config"
    if not (config_dir / "local.yaml").is_file():
        return project.root / "data" / "landing"
    root = ConfigLoader.load("local", config_dir).landing_root
    if "://" in root:
        raise ScaffoldError(
            f"config/local.yaml: landing_root {root!r} is not a local folder; profile a sample path instead"
        )
    return Path(root)


def schema_columns(profile: TableProfile, old: TableSpec | None, layer: str) -> list[dict[str, Any]]:
    """The entry's new `schema:`: the profiled columns (a file sample cannot prove NOT NULL, so a
    column keeps what tables.yml said about it), then bronze's ingestion metadata columns."""
    before = {c.name: c for c in old.schema_} if old else {}
    columns = []
    for p in profile.columns:
        o = before.get(p.name)
        nullable = p.nullable if p.nullable is not None else (o.nullable if o else True)
        column: dict[str, Any] = {"name": p.name, "type": p.type}
        if not nullable:
            column["nullable"] = False
        comment = p.comment or (o.comment if o else "")
        if comment:
            column["comment"] = comment
        columns.append(column)
    if layer == "bronze":
        for name in METADATA_COLUMNS:
            if name in {c["name"] for c in columns}:
                continue
            if name in before:
                columns.append(before[name].model_dump(exclude_defaults=True))
            else:
                columns.append(
                    {"name": INGESTED_AT, "type": "timestamp", "nullable": False}
                    if name == INGESTED_AT
                    else {"name": SOURCE_FILE, "type": "string"}
                )
    return columns


def proposals(profile: TableProfile, spec: TableSpec) -> tuple[dict[str, list[str]], list[str]]:
    """What the data proposes for the entry's contract (only what it does not declare), and notes.

    keys: Unity Catalog's primary key, or the one id-like column (`id`, `*_id`, `*_key`, ...)
    that is unique and never null in a sample of two rows or more; not_null: those key columns.
    """
    proposed: dict[str, list[str]] = {}
    notes: list[str] = []
    declared = {c.name for c in spec.schema_} | {c.name for c in profile.columns}
    if not spec.keys:
        if profile.kind == "unity-catalog":
            keys = [k for k in profile.candidate_keys if k in declared]
        elif (profile.rows or 0) >= 2:
            named = [c for c in profile.candidate_keys if _KEY_NAME.search(c)]
            keys = named[:1] or (profile.candidate_keys if len(profile.candidate_keys) == 1 else [])
            if not keys and len(profile.candidate_keys) > 1:
                notes.append(
                    f"several columns are unique and never null in the sample ({', '.join(profile.candidate_keys)}): "
                    "declare the table's keys yourself (keys: [...] in tables.yml)"
                )
        else:
            keys = []
        if keys:
            proposed["keys"] = keys
    keys = proposed.get("keys", spec.keys)
    not_null = set(spec.not_null_columns()) | {c.name for c in profile.columns if c.nullable is False}
    profiled = {c.name for c in profile.columns}
    missing = [k for k in keys if k not in not_null and k in profiled]
    if missing:
        proposed["not_null"] = [*spec.not_null, *missing]
    never_null = [
        c.name
        for c in profile.columns
        if c.null_fraction == 0 and (profile.rows or 0) >= 2 and c.name not in not_null and c.name not in keys
    ]
    if never_null:
        notes.append(
            f"never null in the sample: {', '.join(never_null)}; if the data guarantees it, add them to not_null "
            "(a sample cannot prove it)"
        )
    return proposed, notes


def save_profile(project: Project, profile: TableProfile) -> str:
    rel = f"{PROFILES_DIR}/{profile.table}.json"
    atomic_write(project.root / rel, profile.model_dump_json(indent=2) + "\n")
    return rel


def _source_label(project: Project, path: Path) -> str:
    path = path.resolve()
    with contextlib.suppress(ValueError):
        return path.relative_to(project.root).as_posix()
    return str(path)


def _bronze_source(project: Project, spec: TableSpec, root: Path | None = None) -> Path:
    assert spec.source is not None
    source = Path(spec.source.path)
    return source if source.is_absolute() else (root or landing_root(project)) / source


def _table_reading(project: Project, specs: Sequence[TableSpec], path: Path) -> str | None:
    try:
        root = landing_root(project)
    except (LakeforgeError, ScaffoldError):
        return None  # a broken config/local.yaml: the name comes from the path (doctor reports the config)
    wanted = path.resolve()
    return next((t.name for t in specs if t.source and _bronze_source(project, t, root).resolve() == wanted), None)


def profile_table(
    project: Project,
    target: str,
    table: str | None = None,
    apply: bool = False,
    spark: SparkSession | None = None,
    retry_timeout_seconds: int = UC_RETRY_SECONDS,
    progress: Callable[[str], None] | None = None,
) -> ProfileResult:
    """Profile a sample path, a Unity Catalog table or a bronze table's landed files into an entry.

    `spark`: a session to use (tests share one); else a local one is started and stopped here.
    Nothing is written when anything fails; tables.yml only with `apply`. `progress`: told each step.
    """
    notify = progress or (lambda event: None)
    tables_text = project.tables_path.read_text(encoding="utf-8")
    tables = validated(tables_text, "tables.yml was not changed")
    names = {t.name: t for t in tables.tables}
    path = Path(target).expanduser()
    notes: list[str] = []
    if path.exists():
        kind = "files"
        if table is None:  # the bronze table whose source this is, else the file's or folder's name
            table = _table_reading(project, tables.tables, path) or re.sub(r"\.[^/]*$", "", path.resolve().name)
    elif is_uc_name(target):
        kind = "unity-catalog"
        table = table or target.rsplit(".", 1)[1].lower()
    elif target in names:
        table = table or target
        named = names[target]
        if named.source is None:
            raise ScaffoldError(
                f"{target} is a {named.layer} table: it has no landed files; pass a sample path or "
                f"catalog.schema.table (scaffold profile PATH --table {target})"
            )
        path = _bronze_source(project, named)
        if not path.exists():
            raise ScaffoldError(
                f"table {target}: no files at {_source_label(project, path)} to profile; land a sample there"
            )
        kind = "files"
    else:
        raise ScaffoldError(
            f"{target!r} is not a file or folder, a catalog.schema.table name, or a table in tables.yml; "
            "pass the sample's path or the Unity Catalog table's full name"
        )
    spec = names.get(table)
    if spec is None:
        hint = f"scaffold add bronze {table} --source <path under the landing root> --description '...'"
        raise ScaffoldError(
            f"table {table!r} is not in tables.yml: add it first ({hint}; without -c it profiles the files) "
            "or pass --table NAME"
        )

    if kind == "unity-catalog":
        notify(f"reading the columns of {target} from Unity Catalog")
        profile = profile_uc_table(target, table, retry_timeout_seconds)
        jobs = None
    else:
        fmt = spec.source.format if spec.source else None
        options = spec.source.options if spec.source else {}
        label = _source_label(project, path)
        if spec.source is not None and fmt == "csv" and "header" not in options:
            notes.append(
                f"table {table}'s source has no `header` option: profiled with header=true, but the pipeline "
                "reads the first line as data; add `options: {header: true}` to its source"
            )
        notify(f"profiling {label} on local Spark")
        with _session(spark) as session:
            group = f"scaffold-profile-{table}"
            session.sparkContext.setJobGroup(group, f"scaffold profile {table}")
            try:
                profile = profile_files(session, path, table, fmt, options, label)
            finally:
                jobs = len(session.sparkContext.statusTracker().getJobIdsForGroup(group))
                # None removes the property (Spark's API); pyspark's annotation says str only.
                session.sparkContext.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]

    notify(f"comparing the profiled schema with table {table} in tables.yml")
    columns = schema_columns(profile, spec, spec.layer)
    new_text = replace_schema(tables_text, table, columns)
    proposed, proposal_notes = proposals(profile, spec)
    for key, value in proposed.items():
        new_text = set_entry_key(new_text, table, key, value)
    validated(new_text, "with the profiled schema; tables.yml was not changed")
    notes += proposal_notes
    if proposed:
        notes.append(
            "proposed from the data: "
            + "; ".join(f"{key}: [{', '.join(value)}]" for key, value in proposed.items())
            + " (in the diff)"
        )
    kept = {p.name for p in profile.columns} | set(METADATA_COLUMNS)
    dropped = [c.name for c in spec.schema_ if c.name not in kept]
    if dropped:
        notes.append(f"columns no longer in the schema (not in the {profile.kind} source): {', '.join(dropped)}")
    rel = save_profile(project, profile)
    diff = unified_diff(tables_text, new_text)
    applied = False
    if apply and diff:
        atomic_write(project.tables_path, new_text)
        applied = True
        notes += _refresh_stub(project, table)
    return ProfileResult(table, profile, rel, diff, applied, notes, jobs, proposed)


@contextlib.contextmanager
def _session(spark: SparkSession | None) -> Iterator[SparkSession]:
    if spark is None:
        with contextlib.suppress(ImportError):
            from pyspark.sql import SparkSession

            spark = SparkSession.getActiveSession()  # a process that has one keeps it (and it is not stopped)
    if spark is not None:
        yield spark
        return
    with local_spark() as session:
        yield session


def _refresh_stub(project: Project, table: str) -> list[str]:
    """A stub scaffold wrote carries the old SCHEMA: rewrite it from the new entry; say so for finished work."""
    from scaffolder.stubs import ModuleState, module_state, stub_module

    spec = project.tables().get(table)
    rel = spec.module_path(project.package)
    state = module_state(project.root / rel)
    manifest = load_manifest(project.root)
    if state is ModuleState.STUB and not edited_by_person(project.root, manifest, rel):
        write_tracked(project.root, manifest, rel, stub_module(spec))
        save_manifest(project.root, manifest)
        return [f"rewrote the stub {rel} with the new SCHEMA"]
    if state in (ModuleState.FILLED, ModuleState.STUB):
        return [
            f"{rel} still declares the old SCHEMA: update it, or `scaffold fill {spec.layer} --table {table} --force`"
        ]
    return []


def profile_landing(project: Project, table: str, source: str, fmt: str) -> tuple[TableProfile, Path]:
    """`scaffold add bronze <table> --source <source>` without columns: profile what has landed."""
    path = Path(source) if Path(source).is_absolute() else landing_root(project) / source
    label = _source_label(project, path)
    if not path.exists():
        raise ScaffoldError(
            f"--source {source}: no files at {label} to profile; land a sample there, or give the columns "
            "with -c NAME:TYPE"
        )
    detected = detect_format(path)
    if detected is not None and detected != fmt:
        raise ScaffoldError(f"--source {source}: {label} holds {detected} files, not {fmt}: pass --format {detected}")
    with _session(None) as spark:
        return profile_files(spark, path, table, fmt, {}, label), path
