"""`scaffold serve`: the scaffold engines as MCP tools for IDE agents (stdio transport).

The same engines as the CLI, returning plain data, so an agent in the IDE can list tables, add
one and fill it, with the same checks and the same refusal to overwrite a person's edits.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from mcp.server import MCPServer

from scaffolder import __version__
from scaffolder.add import add_table
from scaffolder.fill import fill
from scaffolder.project import load_project
from scaffolder.stubs import is_stub


def table_states(project_dir: Path) -> list[dict[str, str]]:
    project = load_project(project_dir)
    states = []
    for spec in project.tables().tables:
        module = project.root / spec.module_path(project.package)
        state = "missing" if not module.is_file() else "stub" if is_stub(module.read_text()) else "filled"
        states.append(
            {"name": spec.name, "layer": spec.layer, "state": state, "module": spec.module_path(project.package)}
        )
    return states


def build_server(project_dir: Path) -> MCPServer:
    server: MCPServer = MCPServer(
        name="lakeforge",
        version=__version__,
        instructions="Tools for a Lakeforge Databricks pipeline repo: tables.yml is the contract; "
        "fill writes code only after its tests pass on local Spark.",
    )

    @server.tool(description="List the tables of tables.yml and whether each module is missing, a stub or filled.")
    def list_tables() -> list[dict[str, str]]:
        return table_states(project_dir)

    @server.tool(
        description="Add a table to tables.yml and create its stub. columns: NAME:TYPE (trailing ! = NOT NULL)."
    )
    def add(
        layer: str,
        name: str,
        description: str,
        columns: list[str],
        source: str | None = None,
        format: str = "csv",
        inputs: list[str] | None = None,
    ) -> dict[str, Any]:
        result = add_table(load_project(project_dir), layer, name, description, columns, source, format, inputs or ())
        return {"table": result.spec.name, "created": result.created}

    @server.tool(description="Fill the stubs of a layer (bronze, silver, gold or all) with tested code.")
    def fill_layer(layer: str, tables: list[str] | None = None, dry_run: bool = False) -> dict[str, Any]:
        report = fill(load_project(project_dir), layer, tables or (), dry_run=dry_run)
        return {
            "provider": report.provider,
            "announcement": report.announcement,
            "jvm_starts": report.jvm_starts,
            "tables": [asdict(o) for o in report.outcomes],
        }

    return server
