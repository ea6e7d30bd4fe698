"""Real MCP servers for the tests, built with the ``mcp`` SDK's ``MCPServer``.

``TestServer`` serves over Streamable HTTP in this process (uvicorn on a loopback port),
so a test sees each call its tools received; run as a module it serves over stdio (a
subprocess the worker starts)::

    python -m tests.support.mcp_servers
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

from tests.support.server import free_port

READ_ONLY = ToolAnnotations(read_only_hint=True)
CHANGES = ToolAnnotations(destructive_hint=True, idempotent_hint=False)


@dataclass
class Seen:
    """What one tool call brought: its arguments, and the customer and auth headers."""

    tool: str
    arguments: dict[str, Any]
    header: str | None = None
    auth: str | None = None


@dataclass
class TestServer:
    """An MCP server over Streamable HTTP with the tools the tests call (see ``build``)."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    label: str = "shop"
    port: int = field(default_factory=free_port)
    calls: list[Seen] = field(default_factory=list)
    slow_first: float = 0.0
    """Seconds the first call of slow_lookup and slow_cancel takes (a worker dies meanwhile)."""
    started: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when a slow call has started."""

    @property
    def url(self) -> str:
        """The endpoint to configure."""
        return f"http://127.0.0.1:{self.port}/mcp"

    def count(self, tool: str) -> int:
        """How many calls ``tool`` received."""
        return sum(1 for seen in self.calls if seen.tool == tool)

    def build(self) -> MCPServer:
        """The server and its tools."""
        mcp = MCPServer(self.label)

        def seen(tool: str, ctx: Context, **arguments: Any) -> None:
            headers = ctx.headers or {}
            self.calls.append(
                Seen(tool, arguments, headers.get("x-customer"), headers.get("authorization"))
            )

        @mcp.tool(annotations=READ_ONLY)
        def lookup_order(order_id: str, customer: str, ctx: Context) -> str:
            """Where an order is."""
            seen("lookup_order", ctx, order_id=order_id, customer=customer)
            return f"{self.label}: order {order_id} shipped for {customer}"

        @mcp.tool()
        def explode(reason: str, customer: str, ctx: Context) -> str:
            """A tool whose backend fails (its message is for the model: ToolError)."""
            seen("explode", ctx, reason=reason)
            raise ToolError(f"warehouse refused: {reason}")

        @mcp.tool(annotations=READ_ONLY)
        async def hang(customer: str, ctx: Context) -> str:
            """A tool that never answers."""
            seen("hang", ctx)
            await asyncio.sleep(60)
            return "never"

        @mcp.tool(annotations=READ_ONLY)
        async def slow_lookup(order_id: str, customer: str, ctx: Context) -> str:
            """A read-only lookup whose first call is slow."""
            seen("slow_lookup", ctx, order_id=order_id)
            if self.count("slow_lookup") == 1:
                self.started.set()
                await asyncio.sleep(self.slow_first)
            return f"order {order_id} is in the depot"

        @mcp.tool(annotations=CHANGES)
        async def slow_cancel(order_id: str, customer: str, ctx: Context) -> str:
            """Cancel an order (not idempotent); the first call is slow."""
            seen("slow_cancel", ctx, order_id=order_id)
            if self.count("slow_cancel") == 1:
                self.started.set()
                await asyncio.sleep(self.slow_first)
            return f"order {order_id} cancelled"

        @mcp.tool()
        def secret_admin(customer: str) -> str:
            """A tool the allow-list leaves out."""
            return "you should not see this"

        return mcp

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[TestServer]:
        """Serve on ``port`` for the block."""
        config = uvicorn.Config(
            self.build().streamable_http_app(), host="127.0.0.1", port=self.port,
            log_level="warning", lifespan="on",
        )  # fmt: skip
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
        try:
            yield self
        finally:
            server.should_exit = True
            server.force_exit = True  # open streams (the session's GET) would hold it
            await asyncio.wait_for(task, timeout=10)


def stdio_server() -> MCPServer:
    """The stdio server: a lookup, and a tool that kills the server's process."""
    mcp = MCPServer("stdio-shop")

    @mcp.tool(annotations=READ_ONLY)
    def lookup_order(order_id: str, customer: str) -> str:
        """Where an order is."""
        return f"stdio: order {order_id} shipped for {customer} (pid {os.getpid()})"

    @mcp.tool()
    def crash(customer: str) -> str:
        """Kill the server (the worker must start it again)."""
        os._exit(3)

    return mcp


if __name__ == "__main__":
    stdio_server().run("stdio")
