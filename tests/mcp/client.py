"""A real MCP client (the `mcp` SDK from PyPI) driving `coffer mcp serve` over stdio.

Usage: client.py COFFER_BINARY IDENTITY_FILE < plan.json

The plan is a JSON list of {"tool": name, "arguments": {...}}. The client connects the way
an AI coding client does (the SDK's default connect mode), lists the tools, calls each one
of the plan in order and prints one JSON object: the negotiated protocol version, the
listed tools with their input schemas, and every call's result (isError and its text).
"""

import asyncio
import json
import sys

from mcp import Client
from mcp.client.stdio import StdioServerParameters


async def main() -> None:
    binary, identity = sys.argv[1], sys.argv[2]
    plan = json.load(sys.stdin)
    server = StdioServerParameters(command=binary, args=["mcp", "serve", "--identity", identity])
    async with Client(server, read_timeout_seconds=30) as client:
        listed = await client.list_tools()
        results = []
        for step in plan:
            result = await client.call_tool(step["tool"], step.get("arguments", {}))
            text = "".join(block.text for block in result.content if block.type == "text")
            results.append({"tool": step["tool"], "isError": result.is_error, "text": text})
        print(json.dumps({
            "protocol_version": client.protocol_version,
            "tools": [{"name": t.name, "inputSchema": t.input_schema} for t in listed.tools],
            "results": results,
        }))


asyncio.run(main())
