"""What one customer can cost: the model's history window, the rate limit, runs that stay short.

Against stub activities on a time-skipping test server (the ``h`` fixture).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable

import pytest
from temporalio.api.enums.v1 import EventType

from switchboard.contract.conversation import (
    RATE_LIMIT_MESSAGE,
    ConversationStatus,
    ConversationView,
)
from switchboard.contract.llm import LLMRequest
from tests.support.stub_activities import reply_to
from tests.support.time_skipping import Conversation, Harness, config, replies
from workflows.conversation.budget import estimate_tokens

pytestmark = pytest.mark.timeout(240)


def _replies(count: int) -> Callable[[ConversationView], bool]:
    return lambda view: len(replies(view)) == count


async def test_the_model_sees_only_the_newest_lines_that_fit_the_budget(h: Harness) -> None:
    conv = Conversation(h, config(history_tokens=60))
    for i in range(5):
        await conv.text(f"question {i} " + "x" * 70)  # about 25 tokens a line
        await conv.until(_replies(i + 1))
    last = h.stubs.generated[-1]
    assert sum(estimate_tokens(m) for m in last.messages) <= 60
    assert [m.content[:12] for m in last.messages] == ["re: question", "question 4 x"]
    assert last.messages[0].content.startswith("re: question 3")


async def test_texts_over_the_rate_are_held_and_answered_together(h: Harness) -> None:
    conv = Conversation(h, config(rate_per_minute=1, rate_burst=3))
    for i in range(3):  # the burst: one reply each
        await conv.text(f"t{i}")
        await conv.until(_replies(i + 1))
    held = [await conv.text(f"t{i}") for i in range(3, 6)]
    await h.settle()
    view = await conv.view()
    assert replies(view)[3:] == [RATE_LIMIT_MESSAGE]  # told once, not once a text
    assert len(h.stubs.generated) == 3  # and the model was not asked

    await h.skip(seconds=61)  # a token for the held texts' turn
    view = await conv.until(lambda v: len(replies(v)) == 5)
    assert replies(view)[-1] == "re: t5"
    assert h.stubs.sent[-1].answers == held
    assert len(h.stubs.generated) == 4
    assert view.status is ConversationStatus.AI


async def test_a_fast_texter_cannot_starve_continue_as_new(h: Harness) -> None:
    limit, texts = 1000, 2000
    conv = Conversation(h, config(max_history_events=limit, rate_per_minute=0))
    sending: list[asyncio.Task[str]] = []

    def reply(request: LLMRequest) -> str:
        # The customer writes again whenever the model starts answering: there is always a
        # text waiting when a turn ends, until the last one.
        if len(conv.sids) < texts:
            sending.append(asyncio.create_task(conv.text(f"text {len(conv.sids)}")))
        return reply_to(request)

    h.stubs.replies = reply
    await conv.text("text 0")
    first_run = conv.handle.result_run_id

    def answered() -> Counter[str]:
        return Counter(sid for sent in h.stubs.sent for sid in sent.answers)

    await h.stubs.wait_until(lambda: len(answered()) == texts, timeout=180)  # a busy CI host
    await asyncio.gather(*sending)
    assert set(answered()) == set(conv.sids)  # nothing lost
    assert max(answered().values()) == 1  # nothing answered twice

    runs, run_id = [], first_run
    while run_id:  # follow the chain of runs from the first
        handle = h.env.client.get_workflow_handle(conv.handle.id, run_id=run_id)
        events = [e async for e in handle.fetch_history_events()]
        runs.append(len(events))
        last = events[-1]
        run_id = ""
        if last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            run_id = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
        else:
            assert last.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED
    assert len(runs) >= 3, runs
    # Each run stopped at the limit, between turns, though a text was always waiting.
    assert max(runs) < limit + 50, runs
    assert (await conv.view()).status is ConversationStatus.AI
