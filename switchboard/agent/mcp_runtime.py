"""Running an agent's MCP connections for as long as a process (worker or gateway) runs.

At start each server is connected in the background and listed into the agent's
catalogue; start-up waits a little for them (so the first turns already see their tools),
never for a server that is down: that one keeps being tried and its tools are offered once
it answers. The worker needs the tools to run them and the model's schemas; the gateway
needs the schemas for the calls it streams.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog

from switchboard.agent.definition import Agent
from switchboard.agent.mcp_client import McpConnection

log = structlog.get_logger(__name__)

START_WAIT = 5.0
"""Seconds start-up waits for the servers to answer before going on without the late ones."""
STOP_WAIT = 10.0
"""Seconds shutdown waits for the connections to close (the SDK's stdio shutdown: ~6.5 s)."""


@contextlib.asynccontextmanager
async def mcp_connections(
    agent: Agent, *, wait: float = START_WAIT, ping_interval: float = 5.0
) -> AsyncIterator[list[McpConnection]]:
    """Connect ``agent``'s MCP servers for the duration of the block (stdio ones started).

    Leaving the block closes the sessions and stops the stdio servers.
    """
    connections = [
        McpConnection(server, agent.mcp_tools, ping_interval=ping_interval) for server in agent.mcp
    ]
    tasks = [
        asyncio.create_task(connection.run(), name=f"mcp:{connection.server.name}")
        for connection in connections
    ]
    try:
        if connections:
            ready = [asyncio.create_task(c.ready.wait()) for c in connections]
            _, pending = await asyncio.wait(ready, timeout=wait)
            for waiting in pending:
                waiting.cancel()
            late = [c.server.name for c in connections if not c.ready.is_set()]
            if late:
                log.warning("mcp_servers_not_ready", servers=late, hint="retried in the background")
        yield connections
    finally:
        await _stop(connections, tasks)


async def _stop(connections: list[McpConnection], tasks: list[asyncio.Task[None]]) -> None:
    """Stop every connection and wait for it (bounded: shutdown goes on).

    ``stop`` cancels each connection's own scope, which lets a stdio server's shutdown
    (stdin closed, SIGTERM, SIGKILL: a few seconds at worst) run to its end; only a task
    still running after ``STOP_WAIT`` is cancelled outright.
    """
    for connection in connections:
        connection.stop()
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=STOP_WAIT)
    for task in pending:
        task.cancel()
    if pending:
        _, pending = await asyncio.wait(pending, timeout=1.0)
    if pending:
        log.warning("mcp_connections_not_stopped", servers=len(pending))
