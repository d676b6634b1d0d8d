"""The `scaffold` command line: parses arguments, calls engines, prints what they return.

Engines never print; this module owns the terminal (rich), so the MCP server can share them.
"""

from __future__ import annotations

from typing import Annotated

import typer

from scaffolder import __version__

app = typer.Typer(
    name="scaffold",
    help="Lakeforge: generate and grow Databricks pipelines; AI-written code is run before it is kept.",
    no_args_is_help=True,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"scaffold {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Lakeforge scaffolder."""
