"""What conversation intelligence leaves behind survives: a worker's crash, the conversation.

Real gateway and dev server, the fake OpenAI-compatible model answering the operators'
``json_schema`` requests. A worker killed while ``analyze_conversation`` runs is replaced
by a new process; what the memory operator learns at close is in the model's request when
the customer comes back.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from switchboard.contract.addresses import conversation_id
from switchboard.devtools.devserver import DevServer
from tests.conftest import Stack, running_stack, unique_customer
from tests.support.fake_llm import FakeReply, Messages, Structured
from tests.support.fake_webhook import WEBHOOK_PATH, FakeWebhook
from tests.support.processes import Workers
from tests.support.server import serve

WEBHOOK_SECRET = "handoff-webhook-secret"
TURN_OPERATORS = {"sentiment", "escalation", "topic", "do_not_contact"}
ANSWERS: dict[str, dict[str, Any]] = {
    "sentiment": {"label": "negative", "score": -0.9},
    "topic": {"label": "orders"},
    "escalation": {"level": "high", "human_requested": True, "reasons": ["asks for a manager"]},
}


@pytest.fixture
async def s(tmp_path: Path, temporal_server: DevServer, client: Client) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path, temporal_server, client) as stack:
        yield stack


def schema_names(stack: Stack) -> list[str]:
    """The operators the model was asked for, one per structured-output request."""
    return [r["response_format"]["json_schema"]["name"] for r in stack.llm.structured_requests]


async def results(stack: Stack, customer: str) -> list[dict[str, Any]]:
    path = f"/api/conversations/{conversation_id(customer)}/intelligence"
    response = await stack.http.get(f"{stack.gateway_url}{path}")
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["results"]
    return found


async def test_a_worker_killed_mid_operator_produces_each_result_exactly_once(
    tmp_path: Path, temporal_server: DevServer, client: Client, workers: Workers
) -> None:
    hook = FakeWebhook(WEBHOOK_SECRET)
    async with (
        serve(hook.app) as hook_url,
        running_stack(tmp_path, temporal_server, client, worker=False) as s,
    ):
        released = asyncio.Event()

        async def structured(name: str, _messages: Messages) -> Structured:
            if name == "escalation" and not released.is_set():
                await released.wait()  # the first attempt's: its worker dies meanwhile
            return {**ANSWERS[name], "evidence": []}

        s.llm.structured = structured
        env = {
            "HANDOFF_WEBHOOK_URL": f"{hook_url}{WEBHOOK_PATH}",
            "HANDOFF_WEBHOOK_SECRET": WEBHOOK_SECRET,
        }
        first = workers.start(s.settings, **env)
        customer = unique_customer()
        await s.text(customer, "This is useless and I'm furious. Get me a manager now!")
        await s.twilio.wait_for_messages(1, timeout=30)  # the reply never waits for operators

        async def analysing() -> bool:
            return "escalation" in schema_names(s)

        await s.eventually(analysing, timeout=30)  # mid-operator: the activity is running
        first.kill()
        released.set()
        workers.start(s.settings, **env)

        async def stored() -> list[dict[str, Any]]:
            found = await results(s, customer)
            return found if {r["operator"] for r in found} >= TURN_OPERATORS else []

        # The attempt is retried once its heartbeat is missed (20 s), on the new worker.
        await s.eventually(stored, timeout=90)
        [handoff] = [d["body"] for d in await hook.wait_for_deliveries(1, timeout=30)]
        await asyncio.sleep(3)  # a second result or handoff would show itself by now

        found = await results(s, customer)
        assert Counter((r["operator"], tuple(r["turns"])) for r in found) == {
            (operator, (1, 1)): 1 for operator in TURN_OPERATORS
        }
        assert all(r["error"] is None for r in found)
        escalation = next(r for r in found if r["operator"] == "escalation")
        assert escalation["result"]["level"] == "high"
        # The killed attempt asked the model too: the results above are the retry's.
        assert Counter(schema_names(s))["escalation"] == 2

        assert hook.events("handoff") == [handoff]
        assert handoff["reason"] == "rule escalation_high: asks for a manager"
        assert "tokens" not in handoff  # the conversation's accounting stays home
        view = await s.describe(customer)
        assert view.handoff is not None
        assert (view.handoff.seq, view.handoff.source) == (1, "rule")
        requested = [e for e in view.transcript if "handoff to a human requested" in e.text]
        assert len(requested) == 1


OBSERVATION = "Prefers parcels left with the neighbour at number 12."


async def test_memory_written_by_the_memory_operator_is_recalled_next_time(s: Stack) -> None:
    # Replies (and the close summary) say nothing of the neighbour: only the memory
    # operator's observation can bring it into the next conversation.
    s.llm.responder = lambda _messages: FakeReply(text="Noted, thank you.")
    memory = {"observations": [{"text": OBSERVATION, "action": "add"}], "traits": []}
    s.llm.structured = lambda name, _messages: (
        {**memory, "evidence": []} if name == "memory" else FakeReply(status=400)
    )
    customer = unique_customer()
    await s.text(customer, "Hi! From now on, please leave my deliveries next door.")
    await s.twilio.wait_for_messages(1, timeout=20)
    conversation = conversation_id(customer)
    closed = await s.http.post(f"{s.gateway_url}/api/conversations/{conversation}/close", json={})
    assert closed.status_code == 202, closed.text
    await s.client.get_workflow_handle(conversation).result()

    profile = (await s.http.get(f"{s.gateway_url}/api/profiles/{customer}")).json()
    [observation] = [o for o in profile["observations"] if o["text"] == OBSERVATION]
    assert observation["source"] == "intelligence:memory"
    assert observation["conversation_ids"] == [conversation]
    assert all(OBSERVATION not in summary["text"] for summary in profile["summaries"])

    s.llm.requests.clear()
    await s.text(customer, "Is my parcel on its way?")
    await s.twilio.wait_for_messages(2, timeout=20)
    first = s.llm.requests[0]  # the new conversation's first reply
    assert first["messages"][-1]["content"] == "Is my parcel on its way?"
    assert OBSERVATION in first["messages"][0]["content"]
