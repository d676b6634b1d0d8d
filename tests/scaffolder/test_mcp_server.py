"""The MCP tools call the same engines as the CLI (in-process server, real tool dispatch)."""

import asyncio
from pathlib import Path

from scaffolder.mcp_server import build_server


def test_agent_adds_a_table_and_sees_its_stub(bare_project: Path) -> None:
    server = build_server(bare_project)
    names = {tool.name for tool in asyncio.run(server.list_tools())}
    assert {"list_tables", "add", "fill_layer"} <= names
    asyncio.run(
        server.call_tool(
            "add",
            {
                "layer": "bronze",
                "name": "refunds",
                "description": "Refunds.",
                "columns": ["refund_id:string!"],
                "source": "refunds",
            },
        )
    )
    result = asyncio.run(server.call_tool("list_tables", {}))
    assert "refunds" in str(result) and "stub" in str(result)
