"""What a conversation's model calls cost, as its stored facts count it for insights.

Real gateway, worker and dev server, the fake OpenAI-compatible model (whose ``usage`` is
deterministic: ``usage_of``). The facts' ``tokens`` must be the replies' — text and
spoken — plus every operator result's, read back through the operator API.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from switchboard.contract.addresses import conversation_id
from switchboard.devtools.devserver import DevServer
from tests.conftest import Stack, running_stack, unique_customer
from tests.support.fake_llm import FakeReply, usage_of

ANSWER = "Your parcel is on its way and arrives tomorrow."


@pytest.fixture
async def s(tmp_path: Path, temporal_server: DevServer, client: Client) -> AsyncIterator[Stack]:
    # Without speculation every spoken reply is one model request whose usage is counted;
    # a guess the workflow refuses is cancelled before its usage arrives.
    async with running_stack(
        tmp_path, temporal_server, client, voice_speculative_start=False
    ) as stack:
        yield stack


def is_summary(request: dict[str, Any]) -> bool:
    """The close summary for memory: written after the facts, so not in them."""
    return "Summarise this customer-service conversation" in str(request["messages"][0]["content"])


async def test_the_facts_count_the_replies_tokens_beside_the_operators(s: Stack) -> None:
    s.llm.responder = lambda _messages: FakeReply(text=ANSWER)
    customer = unique_customer()
    await s.text(customer, "Where is my parcel?")
    await s.twilio.wait_for_messages(1, timeout=20)
    call = await s.call(customer)
    await call.say("And when does it arrive?")
    assert await call.reply() == ANSWER
    await s.hang_up(call, customer)

    conversation = conversation_id(customer)
    closed = await s.http.post(f"{s.gateway_url}/api/conversations/{conversation}/close", json={})
    assert closed.status_code == 202, closed.text
    await s.client.get_workflow_handle(conversation).result()

    replies = [r for r in s.llm.requests if not is_summary(r)]
    assert [bool(r.get("stream")) for r in replies] == [False, True]
    assert replies[1]["stream_options"] == {"include_usage": True}
    reply_tokens = sum(
        usage_of(r["messages"], FakeReply(text=ANSWER))["total_tokens"] for r in replies
    )
    found = await s.http.get(f"{s.gateway_url}/api/conversations/{conversation}/intelligence")
    results = found.json()["results"]
    assert {r["trigger"] for r in results} == {"turn", "close"}
    operator_tokens = sum(int(r["tokens"]) for r in results)
    assert reply_tokens > 0 and operator_tokens > 0

    insights = await s.http.get(f"{s.gateway_url}/api/insights")
    assert insights.status_code == 200, insights.text
    totals = insights.json()["totals"]
    assert totals["conversations"] == 1
    assert totals["tokens"] == reply_tokens + operator_tokens
