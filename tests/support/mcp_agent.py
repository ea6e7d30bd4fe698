"""An agent that declares its MCP server in code: the stdio test server, started by the
process (``python -m tests.support.mcp_servers`` from the checkout)."""

from __future__ import annotations

from pathlib import Path

from switchboard.agent import Agent, McpServer

ROOT = Path(__file__).resolve().parents[2]

agent = Agent(
    name="mcp-tests",
    instructions="You are a test agent.",
    mcp=[
        McpServer(
            name="local",
            command=["python", "-m", "tests.support.mcp_servers"],
            cwd=str(ROOT),
            timeout=5,
            customer_argument="customer",
        )
    ],
)
