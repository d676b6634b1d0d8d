"""Profiling a Unity Catalog table (`catalog.schema.table`) with databricks-sdk (`tables.get`).

Its columns, types, nullability and comments, and the columns of its primary key constraint when
it declares one. Unity Catalog keeps no column statistics there, so the profile holds the schema
only.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lakeforge.errors import IdentifierError
from lakeforge.identifiers import check_identifier
from lakeforge.tables import check_type
from scaffolder.errors import ScaffoldError, first_line
from scaffolder.profiling.files import SUFFIX_FORMATS
from scaffolder.profiling.model import ColumnProfile, TableProfile

UC_RETRY_SECONDS = 10  # databricks-sdk retries an unreachable host this long (its default is 300)
_UC_NAME = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")

_UC_TYPES = {
    "BOOLEAN": "boolean",
    "BYTE": "tinyint",
    "SHORT": "smallint",
    "INT": "int",
    "LONG": "bigint",
    "FLOAT": "float",
    "DOUBLE": "double",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP_NTZ": "timestamp_ntz",
    "STRING": "string",
    "CHAR": "string",
    "BINARY": "binary",
}


def is_uc_name(target: str) -> bool:
    return bool(_UC_NAME.fullmatch(target)) and Path(target).suffix.lower() not in SUFFIX_FORMATS


@contextlib.contextmanager
def _sdk_quiet() -> Iterator[None]:
    """The SDK logs its retries and host-metadata fallbacks to stderr; the one-line error says what failed."""
    logger = logging.getLogger("databricks.sdk")
    saved = logger.propagate
    quiet = logging.NullHandler()
    logger.addHandler(quiet)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(quiet)
        logger.propagate = saved


def profile_uc_table(full_name: str, table: str, retry_timeout_seconds: int = UC_RETRY_SECONDS) -> TableProfile:
    """The table's columns from Unity Catalog (databricks-sdk unified auth: DATABRICKS_* or ~/.databrickscfg)."""
    try:
        from databricks.sdk import WorkspaceClient
        from databricks.sdk.core import Config
        from databricks.sdk.errors import NotFound, PermissionDenied
        from databricks.sdk.errors.base import DatabricksError
    except ImportError:
        raise ScaffoldError("databricks-sdk is not installed: `pip install databricks-sdk`") from None
    fix = "check DATABRICKS_HOST / DATABRICKS_TOKEN or run `databricks auth login`"
    host = os.environ.get("DATABRICKS_HOST") or "the workspace"
    try:
        with _sdk_quiet():
            config = Config(retry_timeout_seconds=retry_timeout_seconds)
            host = config.host or host
            info = WorkspaceClient(config=config).tables.get(full_name)
    except NotFound as exc:
        raise ScaffoldError(
            f"Unity Catalog table {full_name} not found ({first_line(exc)}); check the name and that you may USE it"
        ) from None
    except PermissionDenied as exc:
        raise ScaffoldError(
            f"Unity Catalog table {full_name}: permission denied ({first_line(exc)}); "
            "ask for USE CATALOG, USE SCHEMA and SELECT"
        ) from None
    except DatabricksError as exc:
        raise ScaffoldError(f"Unity Catalog table {full_name}: {first_line(exc)}; {fix}") from None
    except (TimeoutError, OSError) as exc:
        cause = exc.__cause__ or exc.__context__ or exc
        raise ScaffoldError(
            f"cannot reach the Databricks workspace {host} to read {full_name} ({first_line(cause)}); {fix}"
        ) from None
    except ValueError as exc:  # no host or credentials configured
        raise ScaffoldError(f"no Databricks workspace configured ({first_line(exc)}); {fix}") from None
    columns = []
    for column in sorted(info.columns or [], key=lambda c: c.position if c.position is not None else 0):
        name = (column.name or "").lower()
        try:
            check_identifier(name, "column name")
        except IdentifierError as exc:
            raise ScaffoldError(f"Unity Catalog table {full_name}: {exc}; tables.yml cannot name it") from None
        type_name, note = _uc_type(column)
        columns.append(
            ColumnProfile(
                name=name,
                type=type_name,
                source_type=column.type_text or "",
                nullable=column.nullable if column.nullable is not None else True,
                comment=column.comment or "",
                note=note,
            )
        )
    if not columns:
        raise ScaffoldError(
            f"Unity Catalog table {full_name} has no columns to profile (is it a view without a schema?)"
        )
    names = {c.name for c in columns}
    keys = [k for k in _primary_key(info) if k in names]
    return TableProfile(table=table, source=full_name, kind="unity-catalog", candidate_keys=keys, columns=columns)


def _primary_key(info: Any) -> list[str]:
    """The columns of the table's primary key constraint (informational in Unity Catalog), if it has one."""
    for constraint in getattr(info, "table_constraints", None) or []:
        primary = getattr(constraint, "primary_key_constraint", None)
        if primary is not None and primary.child_columns:
            return [str(c).lower() for c in primary.child_columns]
    return []


def _uc_type(column: Any) -> tuple[str, str]:
    text = (column.type_text or "").strip()
    with contextlib.suppress(ValueError):
        return check_type(text), ""
    kind = column.type_name.value if column.type_name is not None else ""
    if kind == "DECIMAL" and column.type_precision is not None:
        return f"decimal({column.type_precision},{column.type_scale or 0})", ""
    if kind in _UC_TYPES:
        return _UC_TYPES[kind], ""
    return "string", f"{text or kind.lower()} kept as its JSON text: tables.yml has no such type"
