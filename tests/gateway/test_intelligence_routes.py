"""``/api/conversations/{id}/intelligence`` and ``/api/insights`` through the real gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from temporalio.client import Client

from switchboard.contract.addresses import Channel, conversation_id
from switchboard.contract.intelligence import (
    ConversationFacts,
    Evidence,
    InsightsQuery,
    OperatorResult,
    OperatorTrigger,
)
from switchboard.devtools.devserver import DevServer
from switchboard.memory import MemoryStore, open_store
from tests.conftest import Stack, running_stack, unique_customer
from tests.support.fake_llm import FakeReply

API_KEY = "intelligence-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
async def s(tmp_path: Path, temporal_server: DevServer, client: Client) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path, temporal_server, client, gateway_api_key=API_KEY) as stack:
        stack.llm.responder = lambda messages: FakeReply(text="hello", delay=0)
        yield stack


@pytest.fixture
async def bare(tmp_path: Path, temporal_server: DevServer, client: Client) -> AsyncIterator[Stack]:
    """The gateway alone (no worker): enough where no conversation has to answer."""
    async with running_stack(
        tmp_path, temporal_server, client, worker=False, gateway_api_key=API_KEY
    ) as stack:
        yield stack


@pytest.fixture
async def store(bare: Stack) -> AsyncIterator[MemoryStore]:
    """The gateway's memory database, opened by the test as the worker would."""
    memory = open_store(bare.settings.memory_database_url)
    await memory.migrate()
    try:
        yield memory
    finally:
        await memory.close()


async def get(s: Stack, path: str, **params: str) -> httpx.Response:
    return await s.http.get(f"{s.gateway_url}{path}", params=params, headers=AUTH)


def result(customer: str, operator: str, turns: tuple[int, int], at: datetime) -> OperatorResult:
    return OperatorResult(
        conversation_id=conversation_id(customer),
        run_id="run-1",
        customer=customer,
        operator=operator,
        version="1",
        trigger=OperatorTrigger.TURN if turns[0] == turns[1] else OperatorTrigger.CLOSE,
        turns=turns,
        result={"label": "negative", "score": -0.5},
        evidence=[Evidence(index=0, quote="it broke")],
        at=at,
        model="test-model",
        latency_ms=120.0,
        tokens=42,
    )


def facts(customer: str, run: str, started: datetime, **extra: Any) -> ConversationFacts:
    return ConversationFacts(
        conversation_id=conversation_id(customer),
        run_id=run,
        customer=customer,
        channels=extra.pop("channels", [Channel.SMS]),
        started_at=started,
        closed_at=started + timedelta(minutes=5),
        customer_turns=2,
        assistant_turns=2,
        first_response_ms=800.0,
        **extra,
    )


async def test_the_routes_need_the_operator_key(bare: Stack) -> None:
    s = bare
    for path in (
        "/api/insights",
        f"/api/conversations/{conversation_id('+14155550100')}/intelligence",
    ):
        assert (await s.http.get(f"{s.gateway_url}{path}")).status_code == 401
        wrong = await s.http.get(f"{s.gateway_url}{path}", headers={"Authorization": "Bearer x"})
        assert wrong.status_code == 401


async def test_results_of_a_conversation_oldest_first(bare: Stack, store: MemoryStore) -> None:
    s = bare
    customer = unique_customer()
    await store.save_operator_results(
        [
            result(customer, "summary", (1, 2), T0 + timedelta(minutes=5)),
            result(customer, "sentiment", (1, 1), T0),
        ]
    )
    # No workflow by that id: the stored results still answer; "+" percent-encoded or not.
    for raw in (conversation_id(customer), quote(conversation_id(customer))):
        response = await get(s, f"/api/conversations/{raw}/intelligence")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["conversation_id"] == conversation_id(customer)
        first, second = body["results"]
        assert [first["operator"], second["operator"]] == ["sentiment", "summary"]
        assert first["turns"] == [1, 1] and second["turns"] == [1, 2]
        assert first["trigger"] == "turn" and second["trigger"] == "close"
        assert first["result"] == {"label": "negative", "score": -0.5}
        assert first["model"] == "test-model" and first["version"] == "1"
        assert first["at"].startswith("2026-03-02T09:30:00")
        assert first["evidence"] == [{"index": 0, "quote": "it broke"}]


async def test_unknown_conversations_answer_404(bare: Stack) -> None:
    s = bare
    nobody = conversation_id(unique_customer())
    assert (await get(s, f"/api/conversations/{nobody}/intelligence")).status_code == 404
    assert (await get(s, "/api/conversations/conv-nonsense/intelligence")).status_code == 404


async def test_a_conversation_without_results_answers_an_empty_list(s: Stack) -> None:
    customer = unique_customer()
    await s.text(customer, "hi there")
    await s.twilio.wait_for_messages(1)
    response = await get(s, f"/api/conversations/{conversation_id(customer)}/intelligence")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["conversation_id"] == conversation_id(customer)
    assert isinstance(body["results"], list)  # empty unless intelligence already ran


async def test_insights_over_a_range(bare: Stack, store: MemoryStore) -> None:
    s = bare
    ada, bob = unique_customer(), unique_customer()
    await store.save_conversation_facts(facts(ada, "a1", T0, sentiment="negative", handoffs=1))
    await store.save_conversation_facts(
        facts(bob, "b1", T0 + timedelta(days=8), channels=[Channel.VOICE], resolved=True)
    )
    response = await get(s, "/api/insights", **{"from": "2026-03-01", "to": "2026-03-15T00:00:00Z"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["from"] == "2026-03-01T00:00:00Z" and body["to"] == "2026-03-15T00:00:00Z"
    assert body["interval"] == "day" and len(body["series"]) == 14
    totals = body["totals"]
    assert totals["conversations"] == 2
    assert totals["handoff_rate"] == 0.5 and totals["containment_rate"] == 0.5
    assert totals["resolution_rate"] == 1.0
    assert totals["first_response_ms"] == {"p50": 800.0, "p95": 800.0}
    assert totals["sentiment"] == {"negative": 1} and totals["topics"] == {}
    for key in ("abandonment_rate", "repeat_contact_rate", "average_handle_seconds",
                "interruption_rate", "tool_success_rate", "tokens_per_resolved",
                "handoff_reasons"):  # fmt: skip
        assert key in totals
    day = body["series"][1]
    assert day["start"] == "2026-03-02T00:00:00Z" and day["conversations"] == 1

    # By week, one channel; "+01:00" sent unencoded arrives as a space and still parses.
    weekly = await s.http.get(
        f"{s.gateway_url}/api/insights?from=2026-03-01T00:00:00+01:00&to=2026-03-16"
        "&interval=week&channel=voice",
        headers=AUTH,
    )
    assert weekly.status_code == 200, weekly.text
    body = weekly.json()
    assert body["from"] == "2026-02-28T23:00:00Z" and body["channel"] == "voice"
    assert [b["start"] for b in body["series"]] == [
        "2026-02-23T00:00:00Z", "2026-03-02T00:00:00Z", "2026-03-09T00:00:00Z",
    ]  # fmt: skip
    assert [b["conversations"] for b in body["series"]] == [0, 0, 1]
    expected = await store.insights(
        InsightsQuery(
            start=datetime(2026, 2, 28, 23, tzinfo=UTC),
            end=datetime(2026, 3, 16, tzinfo=UTC),
            channel=Channel.VOICE,
            interval="week",
        )
    )
    assert body == expected.model_dump(mode="json")


async def test_insights_defaults_to_the_last_30_days(bare: Stack) -> None:
    s = bare
    response = await get(s, "/api/insights")
    assert response.status_code == 200, response.text
    body = response.json()
    end = datetime.fromisoformat(body["to"])
    assert end - datetime.fromisoformat(body["from"]) == timedelta(days=30)
    assert end.hour == 0 and timedelta(0) < end - datetime.now(UTC) <= timedelta(days=1)
    assert len(body["series"]) == 30 and body["interval"] == "day"
    since = (end - timedelta(days=10)).date().isoformat()
    only_from = await get(s, "/api/insights", **{"from": since})
    assert only_from.status_code == 200, only_from.text
    assert only_from.json()["to"] == body["to"] and len(only_from.json()["series"]) == 10


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from": "yesterday"}, "from: not an ISO-8601"),
        ({"from": "2026-03-01", "to": "2026-13-01"}, "to: not an ISO-8601"),
        ({"from": "2026-03-02", "to": "2026-03-01"}, "from must be before to"),
        ({"from": "2026-03-01", "to": "2026-03-01"}, "from must be before to"),
        ({"from": "2024-01-01", "to": "2026-01-01"}, "at most 366 days"),
        ({"interval": "month"}, "interval must be day or week"),
        ({"channel": "fax"}, "channel must be one of sms, whatsapp, voice"),
    ],
)
async def test_bad_insights_queries_answer_422(
    bare: Stack, params: dict[str, str], message: str
) -> None:
    response = await get(bare, "/api/insights", **params)
    assert response.status_code == 422
    assert message in response.json()["detail"]
