"""Conversation intelligence end to end: operators beside the conversation, rules that act.

Real gateway, worker (both task queues) and dev server; the model is the fake
OpenAI-compatible server, which answers ``json_schema`` requests, or none at all (the
offline built-ins). Each test reads what a user would: the operator API, the Temporal
search attributes, what reached the fake Twilio.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from switchboard.contract import search_attributes as sa
from switchboard.contract.addresses import conversation_id
from switchboard.contract.conversation import ConversationStatus
from switchboard.devtools.devserver import DevServer
from tests.conftest import OPERATOR_KEY, Stack, running_stack, unique_customer
from tests.support.fake_llm import FakeReply

API_KEY = OPERATOR_KEY
AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture
async def s(tmp_path: Path, temporal_server: DevServer, client: Client) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path, temporal_server, client, gateway_api_key=API_KEY) as stack:
        yield stack


async def results(stack: Stack, customer: str) -> list[dict[str, Any]]:
    response = await stack.http.get(
        f"{stack.gateway_url}/api/conversations/{conversation_id(customer)}/intelligence",
        headers=AUTH,
    )
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["results"]
    return found


async def search_attribute(stack: Stack, customer: str, key: Any) -> object:
    described = await stack.client.get_workflow_handle(conversation_id(customer)).describe()
    return described.typed_search_attributes.get(key)


async def test_an_angry_customer_is_handed_off_by_the_default_rule(offline: Stack) -> None:
    customer = unique_customer()
    await offline.text(customer, "Hello, where is my order?")
    await offline.twilio.wait_for_messages(1, timeout=20)
    await offline.text(
        customer, "This is ridiculous and useless, I'm furious. Get me a manager right now!"
    )

    async def handed_off() -> bool:
        view = await offline.describe(customer)
        return view.status is ConversationStatus.HANDOFF_PENDING

    await offline.eventually(handed_off, timeout=20)
    view = await offline.describe(customer)
    assert view.handoff is not None
    assert view.handoff.source == "rule"
    assert view.handoff.reason.startswith("rule escalation_high")
    escalations = [r for r in await results(offline, customer) if r["operator"] == "escalation"]
    assert escalations[-1]["result"]["level"] == "high"
    assert escalations[-1]["model"] is None  # offline, and marked so
    assert await search_attribute(offline, customer, sa.CONVERSATION_SENTIMENT) == "negative"


async def test_results_reach_the_api_and_the_temporal_ui(s: Stack) -> None:
    answers: dict[str, dict[str, Any]] = {
        "sentiment": {"label": "positive", "score": 0.8},
        "topic": {"label": "billing"},
        "escalation": {"level": "low", "human_requested": False, "reasons": []},
    }
    s.llm.structured = lambda name, _: (
        {**answers[name], "evidence": []} if name in answers else FakeReply(status=400)
    )
    customer = unique_customer()
    await s.text(customer, "Thanks, that sorted my invoice question!")
    await s.twilio.wait_for_messages(1, timeout=20)

    async def analysed() -> list[dict[str, Any]]:
        found = await results(s, customer)
        return (
            found if {"sentiment", "topic", "escalation"} <= {r["operator"] for r in found} else []
        )

    found = await s.eventually(analysed, timeout=20)
    by_operator = {r["operator"]: r for r in found}
    assert by_operator["sentiment"]["result"]["label"] == "positive"
    assert by_operator["sentiment"]["result"]["score"] == 0.8
    assert by_operator["sentiment"]["trigger"] == "turn"
    assert by_operator["sentiment"]["turns"] == [1, 1]
    assert by_operator["sentiment"]["model"] == "test-model"

    async def tagged() -> bool:
        return bool(await search_attribute(s, customer, sa.CONVERSATION_TOPIC) == "billing")

    await s.eventually(tagged, timeout=10)
    assert await search_attribute(s, customer, sa.CONVERSATION_SENTIMENT) == "positive"


async def test_a_failing_operator_model_leaves_replies_alone(s: Stack) -> None:
    s.llm.structured = lambda _name, _messages: FakeReply(status=500)
    customer = unique_customer()
    await s.text(customer, "first question")
    await s.twilio.wait_for_messages(1, timeout=20)
    await s.text(customer, "second question")
    await s.twilio.wait_for_messages(2, timeout=20)
    bodies = [m["form"]["Body"] for m in s.twilio.messages]
    assert any("first question" in b for b in bodies)
    assert any("second question" in b for b in bodies)

    async def failed_results() -> list[dict[str, Any]]:
        found = [r for r in await results(s, customer) if r["operator"] == "sentiment"]
        return found if found and all(r["error"] for r in found) else []

    assert await s.eventually(failed_results, timeout=30)
    view = await s.describe(customer)
    assert view.status is ConversationStatus.AI


async def test_call_me_never_blocks_an_outbound_call(offline: Stack) -> None:
    customer = unique_customer()
    await offline.text(customer, "Please stop calling me, I'm not interested.")
    await offline.twilio.wait_for_messages(1, timeout=20)
    await offline.eventually(offline.transcript_mentions(customer, "asked not to be contacted"))
    response = await offline.http.post(
        f"{offline.gateway_url}/api/conversations",
        json={"to": customer, "channel": "voice", "purpose": "a new offer"},
        headers=AUTH,
    )
    assert response.status_code == 409, response.text
    assert "asked not to be contacted" in response.json()["detail"]
    assert not offline.twilio.calls


async def test_close_stores_the_facts_that_insights_count(offline: Stack) -> None:
    customer = unique_customer()
    await offline.text(customer, "Hi, my parcel is late. Write to ada.l@example.com please")
    await offline.twilio.wait_for_messages(1, timeout=20)
    response = await offline.http.post(
        f"{offline.gateway_url}/api/conversations/{conversation_id(customer)}/close",
        json={},
        headers=AUTH,
    )
    assert response.status_code == 202, response.text

    async def closed_results() -> list[dict[str, Any]]:
        found = [r for r in await results(offline, customer) if r["trigger"] == "close"]
        return found if {"summary", "outcome"} <= {r["operator"] for r in found} else []

    await offline.eventually(closed_results, timeout=20)

    async def counted() -> dict[str, Any]:
        response = await offline.http.get(f"{offline.gateway_url}/api/insights", headers=AUTH)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body if body["totals"]["conversations"] >= 1 else {}

    insights = await offline.eventually(counted, timeout=20)
    assert insights["totals"]["conversations"] == 1

    async def outcome_tagged() -> object:
        return await search_attribute(offline, customer, sa.CONVERSATION_OUTCOME)

    assert await offline.eventually(outcome_tagged) in ("resolved", "unresolved", "abandoned")

    async def summarised() -> str:
        response = await offline.http.get(
            f"{offline.gateway_url}/api/profiles/{customer}", headers=AUTH
        )
        if response.status_code != 200 or not response.json()["summaries"]:
            return ""
        return str(response.json()["summaries"][0]["text"])

    summary = await offline.eventually(summarised, timeout=20)
    assert "ada.l@example.com" not in summary  # the default rule: memory stores it redacted
