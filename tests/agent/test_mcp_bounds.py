"""MCP servers' bounds and hygiene: name length, the customer argument only where it fits,
the tools in one model request, reconnect backoff, response size, secrets echoed back, and
a stuck stdio server stopped at shutdown (real servers: the ``mcp`` SDK's ``MCPServer``)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError as McpToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from structlog.testing import capture_logs

from switchboard.agent import Agent
from switchboard.agent.builtins import InvalidToolArguments
from switchboard.agent.context import ToolContext, ToolError
from switchboard.agent.definition import RESERVED_NAMES
from switchboard.agent.mcp_catalogue import MAX_MODEL_TOOLS, McpCatalogue
from switchboard.agent.mcp_client import McpConnection
from switchboard.agent.mcp_runtime import mcp_connections
from switchboard.agent.mcp_server import McpServer
from switchboard.agent.mcp_tool import McpTool
from switchboard.contract.addresses import Channel
from tests.agent.test_mcp import Caller, listed, shop
from tests.support.mcp_servers import TestServer


def test_a_server_name_is_at_most_24_characters() -> None:
    assert shop(name="a" * 24).name == "a" * 24
    for long in ("a" * 25, "ab_" + "c" * 40):  # with '_' parts as well
        with pytest.raises(ValueError, match="1-24"):
            shop(name=long)


async def test_the_customer_argument_goes_only_to_tools_that_can_take_it() -> None:
    server = shop(customer_argument="customer")
    strict = {"type": "object", "properties": {"day": {"type": "string"}},
              "additionalProperties": False}  # fmt: skip
    hours = McpTool.from_listing(
        server, Caller(), name="hours", description=None, input_schema=strict,
        read_only=True, idempotent=False,
    )  # fmt: skip
    open_ended = McpTool.from_listing(
        server, Caller(), name="any", description=None, input_schema={"type": "object"},
        read_only=True, idempotent=False,
    )  # fmt: skip
    with pytest.raises(InvalidToolArguments, match="the conversation sets it"):
        hours.bind('{"customer": "+1999"}')  # never the model's to set, even here
    async with httpx.AsyncClient() as http:
        context = ToolContext("c", "+14155550100", Channel.SMS, "call-1", http)
        await hours.bind('{"day": "mon"}')(context)
        await open_ended.bind("{}")(context)
    assert isinstance(hours.caller, Caller) and isinstance(open_ended.caller, Caller)
    assert hours.caller.sent == [("hours", {"day": "mon"}, "+14155550100")]
    assert open_ended.caller.sent == [("any", {"customer": "+14155550100"}, "+14155550100")]


def test_the_tools_on_offer_fit_in_one_model_request() -> None:
    agent = Agent(name="a", instructions="i", mcp=[shop(), shop(name="depot")])
    shop_server, depot = agent.mcp
    agent.mcp_tools.replace("shop", [listed(shop_server, f"t{i}") for i in range(100)])
    agent.mcp_tools.replace("depot", [listed(depot, f"t{i}") for i in range(100)])
    offered = len(agent.mcp_policies())
    assert offered > 0 and offered + len(RESERVED_NAMES) <= MAX_MODEL_TOOLS
    small = McpCatalogue(limit=3)
    small.replace("shop", [listed(shop_server, f"t{i}") for i in range(5)])
    assert [p.name for p in small.policies()] == ["shop__t0", "shop__t1", "shop__t2"]


async def test_a_server_lost_as_soon_as_it_is_up_is_retried_ever_more_slowly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    connection = McpConnection(shop(), McpCatalogue(), max_backoff=10.0)

    async def up_then_lost() -> None:
        connection.ready.set()  # connected and listed...
        raise ConnectionError("...and gone at once")

    monkeypatch.setattr(connection, "_session_once", up_then_lost)
    with capture_logs() as logs:
        task = asyncio.create_task(connection.run())
        for _ in range(200):
            if sum(e["event"] == "mcp_server_unavailable" for e in logs) >= 3:
                break
            await asyncio.sleep(0.05)
        connection.stop()
        await asyncio.wait_for(task, timeout=5)
    waits = [e["retry_in"] for e in logs if e["event"] == "mcp_server_unavailable"]
    assert waits[:3] == [0.25, 0.5, 1.0]


STUCK_SERVER = '''
import os, time
from mcp.server.mcpserver import MCPServer

server = MCPServer("stuck")


@server.tool()
async def block() -> str:
    """Blocks the server's whole process (it reads nothing more, not even stdin's end)."""
    with open(os.environ["PID_FILE"], "w") as out:
        out.write(str(os.getpid()))
    time.sleep(60)
    return "late"


server.run("stdio")
'''


async def test_a_stdio_server_stuck_in_a_call_is_stopped_at_shutdown(tmp_path: Path) -> None:
    script, pid_file = tmp_path / "stuck.py", tmp_path / "pid"
    script.write_text(STUCK_SERVER)
    server = McpServer(
        name="stuck", command=["python", str(script)], env={"PID_FILE": str(pid_file)}
    )
    agent = Agent(name="a", instructions="i", mcp=[server])
    pid = None
    try:
        async with mcp_connections(agent, wait=30) as [connection]:
            assert connection.ready.is_set()
            call = asyncio.create_task(connection.call("block", {}, "+1415"))
            for _ in range(200):
                if pid_file.exists() and pid_file.read_text():
                    break
                await asyncio.sleep(0.05)
            pid = int(pid_file.read_text())
        with pytest.raises(ProcessLookupError):  # stopped and reaped: no such process
            os.kill(pid, 0)
    finally:
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    call.cancel()
    with contextlib.suppress(BaseException):
        await call


@pytest.mark.parametrize("json_response", [True, False])
async def test_a_response_too_large_is_an_error_not_a_worker_out_of_memory(
    json_response: bool,
) -> None:
    server = MCPServer("big")

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    def huge() -> str:
        """Answers with 3 MB."""
        return "x" * 3_000_000

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    def small() -> str:
        """Answers briefly."""
        return "fine"

    app = functools.partial(server.streamable_http_app, json_response=json_response)
    server.streamable_http_app = app  # type: ignore[method-assign]
    host = TestServer("big")
    host.build = lambda: server  # type: ignore[method-assign]
    async with host.serving():
        agent = Agent(name="a", instructions="i", mcp=[McpServer(name="big", url=host.url)])
        async with mcp_connections(agent) as [connection]:
            with pytest.raises(ToolError):
                await connection.call("huge", {}, "+1415")
            assert await connection.call("small", {}, "+1415") == "fine"


async def test_a_server_echoing_its_credentials_never_shows_them_to_the_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MCP_ECHO_TOKEN", "s3cret-value")
    server = MCPServer("echo")

    @server.tool()
    def whoami(ctx: Context) -> str:
        """Says which credentials it got."""
        return f"you sent {(ctx.headers or {}).get('authorization')}"

    @server.tool()
    def refuse(ctx: Context) -> str:
        """Refuses, quoting the credentials."""
        raise McpToolError(f"invalid token: {(ctx.headers or {}).get('authorization')}")

    host = TestServer("echo")
    host.build = lambda: server  # type: ignore[method-assign]
    async with host.serving():
        declared = McpServer(
            name="echo", url=host.url, headers={"Authorization": "Bearer ${MCP_ECHO_TOKEN}"}
        )
        agent = Agent(name="a", instructions="i", mcp=[declared])
        async with mcp_connections(agent) as [connection]:
            assert await connection.call("whoami", {}, "+1415") == "you sent Bearer [redacted]"
            with pytest.raises(ToolError) as refused:
                await connection.call("refuse", {}, "+1415")
            assert "s3cret" not in refused.value.message and "[redacted]" in refused.value.message


async def test_a_result_against_its_own_output_schema_is_a_short_error() -> None:
    server = MCPServer("odd")

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    def count() -> int:
        """Says an int, answers a long string."""
        return 1

    host = TestServer("odd")
    host.build = lambda: server  # type: ignore[method-assign]

    async def wrong(*_: Any, **__: Any) -> Any:
        return CallToolResult(
            content=[TextContent(type="text", text="x")],
            structured_content={"result": "y" * 100_000},
        )

    server.call_tool = wrong  # type: ignore[method-assign]
    async with host.serving():
        agent = Agent(name="a", instructions="i", mcp=[McpServer(name="odd", url=host.url)])
        async with mcp_connections(agent) as [connection]:
            with pytest.raises(ToolError) as failed:
                await connection.call("count", {}, "+1415")
    assert failed.value.message.startswith("RuntimeError: Invalid structured content")
    assert len(failed.value.message) <= 500
