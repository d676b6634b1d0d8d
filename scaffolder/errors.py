"""What every part of scaffold shares and the CLI needs before anything heavy is imported.

`scaffold --help` should not pay for pydantic, openai or pyspark: the CLI imports this module,
typer and rich, and loads an engine only inside the command that uses it.
"""

from __future__ import annotations

from typing import Literal

ProviderName = Literal["auto", "openai", "azure", "databricks", "ollama", "offline"]
SandboxName = Literal["auto", "bwrap", "seatbelt", "off"]


class ScaffoldError(Exception):
    """A one-line, user-facing error: what is wrong and what to do."""
