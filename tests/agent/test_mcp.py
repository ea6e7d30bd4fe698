"""MCP servers' configuration, naming, schemas and the catalogue; discovery against a real
server (the ``mcp`` SDK's ``MCPServer`` over Streamable HTTP), list-changed included."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations

from switchboard.agent import Agent, AgentConfigError, tool
from switchboard.agent.builtins import InvalidToolArguments
from switchboard.agent.context import ToolContext, ToolError
from switchboard.agent.loading import load_agent
from switchboard.agent.mcp_catalogue import McpCatalogue
from switchboard.agent.mcp_client import _customer_of
from switchboard.agent.mcp_runtime import mcp_connections
from switchboard.agent.mcp_server import McpServer, MissingSecret
from switchboard.agent.mcp_tool import McpTool, UnusableTool, namespaced
from switchboard.contract.addresses import Channel
from switchboard.runtime.config import Settings
from tests.support.mcp_servers import TestServer

SCHEMA = {
    "type": "object",
    "properties": {"order_id": {"type": "string", "title": "Order Id"}, "customer": {}},
    "required": ["order_id", "customer"],
}


class Caller:
    """Records what would be sent to the server."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any], str]] = []

    async def call(self, tool: str, arguments: dict[str, Any], customer: str) -> str:
        self.sent.append((tool, arguments, customer))
        return "ok"


def listed(server: McpServer, name: str = "lookup", **hints: bool) -> McpTool:
    return McpTool.from_listing(
        server, Caller(), name=name, description="Look up.", input_schema=SCHEMA,
        read_only=hints.get("read_only", False), idempotent=hints.get("idempotent", False),
    )  # fmt: skip


def shop(**fields: Any) -> McpServer:
    return McpServer(**{"name": "shop", "url": "http://127.0.0.1:1/mcp", **fields})


def test_a_server_needs_a_name_and_exactly_one_transport() -> None:
    assert shop(timeout="1500ms").timeout == 1.5
    from_text: Any = "python -m srv"  # TOML may give one string
    assert McpServer(name="local", command=from_text).command == ["python", "-m", "srv"]
    for bad in (
        {"name": "a__b"}, {"name": "9x"}, {"name": "x" * 30}, {"command": ["x"]},
        {"url": "ftp://x"}, {"timeout": "0s"}, {"headers": {"bad header": "x"}},
        {"customer_header": "X-C", "headers": {"x-c": "1"}}, {"env": {"A": "b"}},
    ):  # fmt: skip
        with pytest.raises(ValueError):
            shop(**bad)
    with pytest.raises(ValueError):
        McpServer(name="local")
    with pytest.raises(ValueError):
        McpServer(name="local", command=["x"], headers={"A": "b"})


def test_secrets_come_from_the_environment_and_a_missing_one_is_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = shop(headers={"Authorization": "Bearer ${SHOP_T}", "X-Plain": "v"})
    monkeypatch.setenv("SHOP_T", "tok")
    assert server.resolved_headers() == {"Authorization": "Bearer tok", "X-Plain": "v"}
    assert "tok" not in repr(server)
    monkeypatch.delenv("SHOP_T")
    with pytest.raises(MissingSecret, match="SHOP_T is not set"):
        server.resolved_headers()
    monkeypatch.setenv("SHOP_T", "")  # empty counts as missing: never an empty header
    with pytest.raises(MissingSecret):
        server.check_secrets()


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_tools_file_declares_mcp_servers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    entry = {"name": "shop", "url": "http://h/mcp", "headers": {"A": "${MCP_UNIT}"},
             "tools": ["lookup"], "timeout": "10s"}  # fmt: skip
    path = tmp_path / f"tools{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps({"mcp": [entry]}))
    else:
        path.write_text(
            '[[mcp]]\nname = "shop"\nurl = "http://h/mcp"\nheaders = { A = "${MCP_UNIT}" }\n'
            'tools = ["lookup"]\ntimeout = "10s"\n'
        )
    settings = Settings(tools_file=str(path))
    monkeypatch.delenv("MCP_UNIT", raising=False)
    with pytest.raises(AgentConfigError, match="MCP_UNIT is not set"):
        load_agent(settings)
    monkeypatch.setenv("MCP_UNIT", "x")
    [server] = load_agent(settings).mcp
    assert server.tools == ["lookup"] and server.timeout == 10.0
    path.write_text(path.read_text().replace("shop", "sh__op"))
    with pytest.raises(AgentConfigError, match="MCP server"):
        load_agent(settings)


def test_names_are_namespaced_and_kept_within_the_models_rules() -> None:
    assert namespaced("shop", "lookup_order") == "shop__lookup_order"
    dotted, underscored = namespaced("shop", "a.b"), namespaced("shop", "a_b")
    assert dotted != underscored and dotted.startswith("shop__a_b_")
    long = namespaced("shop", "x" * 100)
    assert len(long) == 64 and long != namespaced("shop", "x" * 99)


def test_a_tool_hides_the_customer_argument_and_validates_against_the_servers_schema() -> None:
    server = shop(customer_argument="customer")
    lookup = listed(server)
    parameters = lookup.schema()["function"]["parameters"]
    assert parameters["required"] == ["order_id"] and "customer" not in parameters["properties"]
    assert "title" not in parameters["properties"]["order_id"]
    with pytest.raises(InvalidToolArguments, match="order_id"):
        lookup.bind('{"order_id": 5}')
    with pytest.raises(InvalidToolArguments, match="the conversation sets it"):
        lookup.bind('{"order_id": "A1", "customer": "+1999"}')
    for bad in ({"type": "string"}, {"type": "object", "properties": 3}):
        with pytest.raises(UnusableTool):
            McpTool.from_listing(
                server, Caller(), name="x", description=None, input_schema=bad,
                read_only=True, idempotent=False,
            )  # fmt: skip


async def test_the_runtime_fills_in_the_customer() -> None:
    lookup = listed(shop(customer_argument="customer"))
    call = lookup.bind('{"order_id": "A1"}')
    async with httpx.AsyncClient() as http:
        context = ToolContext("c", "+14155550100", Channel.SMS, "call-1", http)
        assert await call(context) == "ok"
    assert isinstance(lookup.caller, Caller)
    assert lookup.caller.sent == [("lookup", {"order_id": "A1", "customer": "+14155550100"},
                                   "+14155550100")]  # fmt: skip


def test_only_read_only_or_idempotent_tools_are_retried() -> None:
    server = shop(retries=2)
    assert listed(server, read_only=True).retries == 2
    assert listed(server, idempotent=True).retries == 2
    assert listed(server).retries == 0


def test_the_catalogue_keeps_names_apart_and_drops_a_lost_server() -> None:
    catalogue = McpCatalogue(reserved={"shop__taken"})
    server = shop()
    catalogue.replace("shop", [listed(server, "lookup"), listed(server, "taken")])
    assert [t.name for t in catalogue.tools()] == ["shop__lookup"]
    [policy] = catalogue.policies()
    assert policy.max_attempts == 1 and policy.timeout_seconds == server.timeout
    catalogue.drop("shop")
    assert catalogue.get("shop__lookup") is None and catalogue.policies() == []


def test_an_agent_checks_its_servers_and_finds_their_tools() -> None:
    @tool
    def shop__mine() -> str:
        """Mine."""
        return "x"

    with pytest.raises(ValueError, match="two MCP servers"):
        Agent(name="a", instructions="i", mcp=[shop(), shop()])
    with pytest.raises(ValueError, match="namespace"):
        Agent(name="a", instructions="i", mcp=[shop()], tools=[shop__mine])
    agent = Agent(name="a", instructions="i", mcp=[shop()])
    agent.mcp_tools.replace("shop", [listed(agent.mcp[0])])
    assert agent.get_tool("shop__lookup") is not None
    assert [s["function"]["name"] for s in agent.schemas(["shop__lookup", "nope"])] == [
        "shop__lookup"
    ]
    assert agent.with_mcp([]).mcp_policies() == []  # a new agent: its own (empty) catalogue


def test_the_customer_header_comes_from_the_calls_own_request() -> None:
    body = {"jsonrpc": "2.0", "method": "tools/call",
            "params": {"name": "x", "_meta": {"switchboard/customer": "+1415"}}}  # fmt: skip
    assert _customer_of(json.dumps(body).encode()) == "+1415"
    assert _customer_of(b'{"method": "tools/list"}') is None
    assert _customer_of(b"switchboard/customer not json") is None


async def test_discovery_follows_the_servers_list_changed_notification() -> None:
    server = MCPServer("growing")

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    async def grow(ctx: Context) -> str:
        """Add a tool, and say so."""

        def extra() -> str:
            """A tool that appeared later."""
            return "extra"

        server.add_tool(extra)
        await ctx.request_context.session.send_tool_list_changed()
        return "grown"

    host = TestServer("growing")
    host.build = lambda: server  # type: ignore[method-assign]
    async with host.serving():
        agent = Agent(name="a", instructions="i", mcp=[McpServer(name="g", url=host.url)])
        async with mcp_connections(agent) as [connection]:
            assert [t.name for t in agent.mcp_tools.tools()] == ["g__grow"]
            assert await connection.call("grow", {}, "+1415") == "grown"
            for _ in range(100):
                if agent.mcp_tools.get("g__extra"):
                    break
                await asyncio.sleep(0.05)
            assert agent.get_tool("g__extra") is not None
            with pytest.raises(ToolError) as refused:
                await connection.call("no_such_tool", {}, "+1415")
            assert refused.value.non_retryable
        assert agent.mcp_tools.tools() == []  # closed: nothing left on offer


async def test_a_server_that_is_down_is_not_offered_and_start_up_goes_on() -> None:
    agent = Agent(name="a", instructions="i", mcp=[shop()])  # port 1: nothing listens
    async with mcp_connections(agent, wait=0.5) as [connection]:
        assert agent.mcp_policies() == [] and not connection.ready.is_set()
        with pytest.raises(ToolError) as unreachable:
            await connection.call("lookup", {}, "+1415")
        assert not unreachable.value.non_retryable


async def test_the_example_server_runs_over_stdio_and_scopes_by_customer() -> None:
    settings = Settings(agent="examples.agent:agent", tools_file="examples/mcp_tools.toml")
    agent = load_agent(settings)
    async with mcp_connections(agent, wait=30) as [connection], httpx.AsyncClient() as http:
        assert connection.ready.is_set()
        names = {t.name for t in agent.mcp_tools.tools()}
        assert names == {"shop__lookup_order", "shop__cancel_order", "shop__store_hours"}
        lookup, cancel = agent.get_tool("shop__lookup_order"), agent.get_tool("shop__cancel_order")
        assert lookup is not None and cancel is not None
        assert (lookup.retries, cancel.retries) == (2, 0)
        context = ToolContext("c", "+14155550100", Channel.VOICE, "call-1", http)
        found = await lookup.bind('{"order_id": "A1001"}')(context)
        assert found == "Order A1001: shipped; items: 2-person tent, sleeping pad."
        with pytest.raises(ToolError, match="can no longer be cancelled"):
            await cancel.bind('{"order_id": "A1001"}')(context)
