"""What every part of scaffold shares and the CLI needs before anything heavy is imported.

`scaffold --help` should not pay for pydantic, openai or pyspark: the CLI imports this module,
typer and rich, and loads an engine only inside the command that uses it.
"""

from __future__ import annotations

import contextlib
from typing import Literal

ProviderName = Literal["auto", "openai", "azure", "databricks", "ollama", "offline"]
SandboxName = Literal["auto", "bwrap", "seatbelt", "off"]


class ScaffoldError(Exception):
    """A one-line, user-facing error: what is wrong and what to do."""


def first_line(exc: BaseException) -> str:
    """An exception as one short line for a ScaffoldError or a report: its first non-blank line,
    else its type's name; for a py4j error, its innermost Java cause's message (py4j's own text
    is "An error occurred while calling o57.load."); cut to 300 characters."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0].strip()
    java = getattr(exc, "java_exception", None)
    if java is not None:
        with contextlib.suppress(Exception):
            cause = java
            while cause is not None:  # the innermost cause says it best ("... is not a Parquet file")
                message = cause.getMessage()
                if message:
                    text = str(message).strip().splitlines()[0].strip()
                cause = cause.getCause()
    return text if len(text) <= 300 else text[:297] + "..."
