"""MCP servers' tools end to end: real servers (the ``mcp`` SDK's ``MCPServer``) over
Streamable HTTP and stdio, a real worker and gateway, the fake model calling the tools."""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from switchboard.contract.addresses import conversation_id
from switchboard.devtools.devserver import DevServer
from tests.conftest import Stack, running_stack, unique_customer
from tests.support.fake_llm import FakeReply, Messages
from tests.support.mcp_servers import TestServer
from tests.workflows.test_replay import _record, replayer

SHOP_TOML = """\
[[mcp]]
name = "shop"
url = "{url}"
headers = {{ Authorization = "Bearer ${{MCP_TEST_TOKEN}}" }}
tools = ["lookup_order", "explode", "hang"]
timeout = "1s"
customer_argument = "customer"
customer_header = "X-Customer"
"""


def offered(request: dict[str, Any]) -> dict[str, Any]:
    """The tools a model request offered, by name."""
    return {t["function"]["name"]: t["function"] for t in request.get("tools", [])}


def calling(calls: list[dict[str, Any]]) -> Any:
    """A responder: make ``calls`` at once, then answer with the results, one per line."""

    def respond(messages: Messages) -> FakeReply:
        if messages[-1]["role"] == "user":
            return FakeReply(text="", tool_calls=calls)
        return FakeReply(text="\n".join(m["content"] for m in messages if m["role"] == "tool"))

    return respond


@pytest.fixture
async def shop() -> AsyncIterator[TestServer]:
    async with TestServer("shop").serving() as server:
        yield server


@pytest.fixture
async def s(
    tmp_path: Path,
    temporal_server: DevServer,
    client: Client,
    shop: TestServer,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Stack]:
    monkeypatch.setenv("MCP_TEST_TOKEN", "s3cret")
    tools = tmp_path / "tools.toml"
    tools.write_text(SHOP_TOML.format(url=shop.url))
    async with running_stack(tmp_path, temporal_server, client, tools_file=str(tools)) as stack:
        yield stack


async def test_http_tools_results_errors_timeouts_and_bad_arguments_reach_the_model(
    s: Stack, shop: TestServer
) -> None:
    s.llm.responder = calling(
        [
            {"name": "shop__lookup_order", "arguments": {"order_id": "A1"}},
            {"name": "shop__explode", "arguments": {"reason": "flood"}},
            {"name": "shop__hang", "arguments": {}},
            {"name": "shop__lookup_order", "arguments": {"order_id": 7}},
            {"name": "shop__lookup_order", "arguments": {"order_id": "A1", "customer": "+1999"}},
            {"name": "shop__secret_admin", "arguments": {}},
        ]
    )
    customer = unique_customer()
    await s.text(customer, "Check my order")
    [reply] = await s.twilio.wait_for_messages(1, timeout=30)
    ok, raised, hung, invalid, spoofed, hidden = reply["body"].split("\n")
    assert ok == f"shop: order A1 shipped for {customer}"
    assert raised.startswith("Error: shop__explode failed:") and "warehouse refused" in raised
    assert hung.startswith("Error: shop__hang failed:")
    assert invalid.startswith("Error:") and "order_id" in invalid
    assert spoofed.startswith("Error:") and "customer" in spoofed
    assert hidden == "Error: there is no tool named 'shop__secret_admin'"

    tools = offered(s.llm.requests[0])
    assert {"shop__lookup_order", "shop__explode", "shop__hang"} <= set(tools)
    assert "shop__secret_admin" not in tools  # the allow-list
    schema = tools["shop__lookup_order"]["parameters"]
    assert schema["required"] == ["order_id"] and "customer" not in schema["properties"]
    # The server saw the caller's number as an argument and a header, from the runtime.
    [lookup] = [c for c in shop.calls if c.tool == "lookup_order"]
    assert lookup.arguments["customer"] == customer and lookup.header == customer
    assert lookup.auth == "Bearer s3cret"
    assert shop.count("hang") == 3  # read-only: retried, each attempt cut at 1 s
    assert shop.count("explode") == 1  # not idempotent: once

    view = await s.describe(customer)
    assert any("shop__explode failed" in e.text for e in view.transcript)


async def test_an_mcp_tool_on_a_call_is_run_and_the_model_speaks_its_result(s: Stack) -> None:
    def responder(messages: Messages) -> FakeReply:
        if messages[-1]["role"] == "user":
            return FakeReply(
                text="Let me check. ",
                tool_calls=[{"name": "shop__lookup_order", "arguments": {"order_id": "B7"}}],
            )
        return FakeReply(text=f"{messages[-1]['content']}.")

    s.llm.responder = responder
    customer = unique_customer()
    call = await s.call(customer)
    await call.say("Where is order B7?")
    assert await call.reply() == "Let me check. "
    assert await call.reply() == f"shop: order B7 shipped for {customer}."
    # The gateway streamed the call's model request with the MCP tool's schema.
    assert "shop__lookup_order" in offered(s.llm.requests[0])
    await s.hang_up(call, customer)


async def test_two_servers_with_the_same_tool_name_each_get_their_own_calls(
    tmp_path: Path, temporal_server: DevServer, client: Client
) -> None:
    async with TestServer("shop").serving() as shop, TestServer("depot").serving() as depot:
        tools = tmp_path / "tools.json"
        servers = [
            {"name": name, "url": server.url, "tools": ["lookup_order"], "timeout": 5,
             "customer_argument": "customer"}
            for name, server in (("shop", shop), ("depot", depot))
        ]  # fmt: skip
        tools.write_text(json.dumps({"mcp": servers}))
        async with running_stack(tmp_path, temporal_server, client, tools_file=str(tools)) as s:
            s.llm.responder = calling(
                [
                    {"name": "shop__lookup_order", "arguments": {"order_id": "S1"}},
                    {"name": "depot__lookup_order", "arguments": {"order_id": "D1"}},
                ]
            )
            customer = unique_customer()
            await s.text(customer, "both please")
            [reply] = await s.twilio.wait_for_messages(1, timeout=30)
            assert reply["body"].split("\n") == [
                f"shop: order S1 shipped for {customer}",
                f"depot: order D1 shipped for {customer}",
            ]
            assert {"shop__lookup_order", "depot__lookup_order"} <= set(offered(s.llm.requests[0]))
            assert shop.count("lookup_order") == depot.count("lookup_order") == 1


async def test_a_server_down_at_start_is_offered_once_it_answers(
    tmp_path: Path, temporal_server: DevServer, client: Client
) -> None:
    late = TestServer("shop")
    tools = tmp_path / "tools.toml"
    tools.write_text(
        f'[[mcp]]\nname = "shop"\nurl = "{late.url}"\ncustomer_argument = "customer"\n'
    )
    async with running_stack(tmp_path, temporal_server, client, tools_file=str(tools)) as s:
        s.llm.responder = lambda messages: FakeReply(text="hello")
        customer = unique_customer()
        await s.text(customer, "hi")
        await s.twilio.wait_for_messages(1, timeout=30)
        assert not any(name.startswith("shop__") for name in offered(s.llm.requests[-1]))

        async with late.serving():
            sent = 1

            async def tools_offered() -> bool:
                nonlocal sent
                await s.text(customer, "and now?")
                sent += 1
                await s.twilio.wait_for_messages(sent, timeout=30)
                return "shop__lookup_order" in offered(s.llm.requests[-1])

            await s.eventually(tools_offered, timeout=60)
            s.llm.responder = calling(
                [{"name": "shop__lookup_order", "arguments": {"order_id": "L1"}}]
            )
            await s.text(customer, "where is L1?")
            messages = await s.twilio.wait_for_messages(sent + 1, timeout=30)
            assert messages[-1]["body"] == f"shop: order L1 shipped for {customer}"


async def test_a_stdio_server_is_started_called_and_restarted_when_it_dies(
    tmp_path: Path, temporal_server: DevServer, client: Client
) -> None:
    # Declared in the agent module (tests.support.mcp_agent), not in TOOLS_FILE.
    lookup = [{"name": "local__lookup_order", "arguments": {"order_id": "A1"}}]
    agent = "tests.support.mcp_agent:agent"
    async with running_stack(tmp_path, temporal_server, client, agent=agent) as s:
        s.llm.responder = calling(lookup)
        customer = unique_customer()
        await s.text(customer, "where is A1?")
        [first] = await s.twilio.wait_for_messages(1, timeout=30)
        assert first["body"].startswith(f"stdio: order A1 shipped for {customer} (pid ")

        s.llm.responder = calling([{"name": "local__crash", "arguments": {}}])
        await s.text(customer, "crash it")
        [_, crashed] = await s.twilio.wait_for_messages(2, timeout=30)
        assert crashed["body"].startswith("Error: local__crash failed:")

        s.llm.responder = calling(lookup)
        sent = 2

        async def answered_again() -> str:
            nonlocal sent
            await s.text(customer, "where is A1 now?")
            sent += 1
            messages = await s.twilio.wait_for_messages(sent, timeout=30)
            body: str = messages[-1]["body"]
            return body if body.startswith("stdio:") else ""

        again = await s.eventually(answered_again, timeout=60)
        pid = re.compile(r"pid (\d+)")
        assert pid.findall(again) != pid.findall(first["body"])  # a new process


async def test_the_tools_a_turn_offered_are_in_its_history_and_it_replays(
    s: Stack, client: Client
) -> None:
    s.llm.responder = calling([{"name": "shop__lookup_order", "arguments": {"order_id": "H1"}}])
    customer = unique_customer()
    await s.text(customer, "where is H1?")
    await s.twilio.wait_for_messages(1, timeout=30)
    handle = client.get_workflow_handle(conversation_id(customer))
    history = await handle.fetch_history()
    markers = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED]
    recorded = [str(e.marker_recorded_event_attributes) for e in markers]
    assert any("mcp-tools" in text for text in recorded)  # the patch
    assert any("shop__lookup_order" in text for text in recorded)  # the turn's offer
    # The replayer runs no activity: the offer comes from the history, not from a server.
    await replayer().replay_workflow(history)
    if os.environ.get("RECORD_HISTORIES") in ("1", "mcp"):
        _record("conversation-mcp", history)
