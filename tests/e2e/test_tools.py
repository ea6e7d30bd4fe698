"""The agent's own tools end to end: schemas to the model, parallel calls, failures as results."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.client import Client

from switchboard.devtools.devserver import DevServer
from tests.conftest import Stack, running_stack, unique_customer
from tests.support.fake_llm import FakeReply, Messages


@pytest.fixture
async def s(tmp_path: Path, temporal_server: DevServer, client: Client) -> AsyncIterator[Stack]:
    async with running_stack(
        tmp_path, temporal_server, client, agent="tests.support.tools_agent:agent"
    ) as stack:
        yield stack


CALLS = [
    {"name": "lookup_order", "arguments": {"order_id": "A1001"}},
    {"name": "flaky_inventory", "arguments": {"sku": "TENT-2"}},
    {"name": "slow_quote", "arguments": {"item": "tent"}},
    {"name": "lookup_order", "arguments": {"order": 7}},
    {"name": "no_such_tool", "arguments": {}},
]


def calling_everything(messages: Messages) -> FakeReply:
    """Call every tool at once; then answer with what came back, one line per result."""
    if messages[-1]["role"] == "user":
        return FakeReply(text="", tool_calls=CALLS)
    results = [m["content"] for m in messages if m["role"] == "tool"]
    return FakeReply(text="\n".join(results))


async def test_tool_calls_run_in_parallel_and_failures_become_results(s: Stack) -> None:
    s.llm.responder = calling_everything
    customer = unique_customer()
    await s.text(customer, "Check everything please")
    [reply] = await s.twilio.wait_for_messages(1, timeout=20)
    ok, raised, hung, invalid, unknown = reply["body"].split("\n")
    assert json.loads(ok) == {"order": "A1001", "status": "shipped", "customer": customer}
    assert raised.startswith("Error: flaky_inventory failed:") and "TENT-2" in raised
    assert hung.startswith("Error: slow_quote failed:")
    assert invalid.startswith("Error:") and "order_id" in invalid
    assert unknown == "Error: there is no tool named 'no_such_tool'"

    first = s.llm.requests[0]
    offered = {t["function"]["name"]: t["function"] for t in first["tools"]}
    assert {"lookup_order", "flaky_inventory", "slow_quote", "handoff_to_human"} <= set(offered)
    schema = offered["lookup_order"]["parameters"]
    assert schema["required"] == ["order_id"] and "ctx" not in schema["properties"]
    assert offered["lookup_order"]["description"].startswith("Where an order is.")

    # The conversation goes on as if nothing happened.
    s.llm.responder = lambda messages: FakeReply(text="still here")
    await s.text(customer, "thanks")
    [_, after] = await s.twilio.wait_for_messages(2)
    assert after["body"] == "still here"
    view = await s.describe(customer)
    assert any("flaky_inventory failed" in e.text for e in view.transcript)


async def test_a_tool_on_a_call_is_run_and_the_model_speaks_its_result(s: Stack) -> None:
    def responder(messages: Messages) -> FakeReply:
        if messages[-1]["role"] == "user":
            return FakeReply(
                text="Let me check. ",
                tool_calls=[{"name": "lookup_order", "arguments": {"order_id": "B7"}}],
            )
        result = json.loads(messages[-1]["content"])
        return FakeReply(text=f"Order {result['order']} has {result['status']}.")

    s.llm.responder = responder
    customer = unique_customer()
    call = await s.call(customer)
    await call.say("Where is order B7?")
    assert await call.reply() == "Let me check. "
    assert await call.reply() == "Order B7 has shipped."
    follow_up = s.llm.requests[-1]["messages"]
    assert follow_up[-2]["tool_calls"][0]["function"]["name"] == "lookup_order"
    await s.hang_up(call, customer)
    said = [e.text for e in (await s.describe(customer)).transcript if e.role.value == "assistant"]
    assert said == ["Let me check. ", "Order B7 has shipped."]
