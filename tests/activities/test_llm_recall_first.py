"""Recall asked of the reply's own activity (``LLMRequest.recall``), against the fake model.

A text turn's recall runs inside its first model call since the ``recall-in-reply`` patch:
the recalled context must reach the system message, come back for the workflow to keep,
and a recall that fails must leave the turn answered with the context the workflow had.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from temporalio.testing import ActivityEnvironment

from activities.llm import LLMActivities
from switchboard.contract.addresses import Channel
from switchboard.contract.llm import ChatMessage, LLMReply, LLMRequest, RecallFirst
from switchboard.memory.models import RecallRequest, RecallResult
from switchboard.runtime.config import Settings
from tests.support.fake_llm import FakeLLM, FakeReply
from tests.support.server import serve

KEY = "sk-llm-recall"
CUSTOMER = "+14155550142"


@pytest.fixture
async def llm() -> AsyncIterator[tuple[FakeLLM, Settings]]:
    fake = FakeLLM(api_key=KEY)
    fake.responder = lambda messages: FakeReply(text="ok")
    async with serve(fake.app) as url:
        yield fake, Settings(_env_file=None, llm_base_url=f"{url}/v1", llm_api_key=KEY)


def _request(recall: RecallFirst | None, context: str = "Known: nothing yet.") -> LLMRequest:
    return LLMRequest(
        conversation_id=f"conv-{CUSTOMER}",
        channel=Channel.SMS,
        turn=2,
        messages=[ChatMessage(role="user", content="where is my order?")],
        context=context,
        recall=recall,
    )


async def _reply(settings: Settings, request: LLMRequest, recall: object = None) -> LLMReply:
    activities = LLMActivities(settings, recall=recall)  # type: ignore[arg-type]
    try:
        reply: LLMReply = await ActivityEnvironment().run(activities.generate_reply, request)
    finally:
        await activities.close()
    return reply


def _system(fake: FakeLLM) -> str:
    (body,) = fake.requests
    content = body["messages"][0]["content"]
    assert isinstance(content, str)
    return content


async def test_the_recalled_context_reaches_the_model_and_comes_back(
    llm: tuple[FakeLLM, Settings],
) -> None:
    fake, settings = llm
    asked: list[RecallRequest] = []

    async def recall(request: RecallRequest) -> RecallResult:
        asked.append(request)
        return RecallResult(context="Customer: Ada. Order 1042 shipped.", known=True)

    ask = RecallFirst(customer=CUSTOMER, query="where is my order?", then="Purpose: a survey")
    reply = await _reply(settings, _request(ask), recall)
    assert asked == [RecallRequest(customer=CUSTOMER, query="where is my order?")]
    system = _system(fake)
    assert system.endswith("Customer: Ada. Order 1042 shipped.\n\nPurpose: a survey")
    assert "Known: nothing yet." not in system  # the fallback context is replaced
    assert reply.recalled == "Customer: Ada. Order 1042 shipped."
    assert reply.text == "ok"


async def test_a_failed_recall_answers_with_the_context_the_workflow_had(
    llm: tuple[FakeLLM, Settings],
) -> None:
    fake, settings = llm

    async def recall(request: RecallRequest) -> RecallResult:
        raise OSError("database is locked")

    reply = await _reply(settings, _request(RecallFirst(customer=CUSTOMER, query="hi")), recall)
    assert _system(fake).endswith("Known: nothing yet.")
    assert reply.recalled is None  # the workflow keeps what it had
    assert reply.text == "ok"


async def test_a_worker_without_memory_answers_with_the_requests_context(
    llm: tuple[FakeLLM, Settings],
) -> None:
    fake, settings = llm
    reply = await _reply(settings, _request(RecallFirst(customer=CUSTOMER, query="hi")))
    assert _system(fake).endswith("Known: nothing yet.")
    assert reply.recalled is None


async def test_no_recall_asked_none_made(llm: tuple[FakeLLM, Settings]) -> None:
    fake, settings = llm

    async def recall(request: RecallRequest) -> RecallResult:
        raise AssertionError("recall was not asked for")

    reply = await _reply(settings, _request(None), recall)
    assert _system(fake).endswith("Known: nothing yet.")
    assert reply.recalled is None


async def test_the_demo_responder_recalls_too() -> None:
    """Without a model the demo responder quotes knowledge: it needs the recalled context."""

    async def recall(request: RecallRequest) -> RecallResult:
        return RecallResult(context="Knowledge:\n[returns.md] Returns within 30 days.", known=False)

    ask = RecallFirst(customer=CUSTOMER, query="returns")
    reply = await _reply(Settings(_env_file=None), _request(ask), recall)
    assert reply.demo
    assert reply.recalled is not None and "30 days" in reply.recalled


async def test_a_slow_recall_costs_the_turn_its_fresh_memory_not_its_answer(
    llm: tuple[FakeLLM, Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, settings = llm
    monkeypatch.setattr("activities.llm.RECALL_TIMEOUT", 0.2)

    async def recall(request: RecallRequest) -> RecallResult:
        await asyncio.sleep(30)  # a store or embeddings endpoint that hangs
        raise AssertionError("not reached")

    started = time.monotonic()
    reply = await _reply(settings, _request(RecallFirst(customer=CUSTOMER, query="hi")), recall)
    assert time.monotonic() - started < 5
    assert _system(fake).endswith("Known: nothing yet.")
    assert reply.recalled is None and reply.text == "ok"
