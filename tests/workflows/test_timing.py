"""The conversation's timing rules, in skipped time, against stub activities.

Each test runs its own time-skipping test server (``tests.support.time_skipping``, the ``h``
fixture). Only the workflows' public surface is used: starting them the way the gateway does,
their signals and queries by method reference, their results, and what the stubs were asked.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import pytest

from switchboard.contract.addresses import Channel, conversation_id
from switchboard.contract.conversation import (
    ConversationStatus,
    Role,
)
from switchboard.contract.handoff import HandoffAccepted, HandoffRequest, HumanMessage
from switchboard.contract.outbound import CallbackInput, ScheduledCallback
from tests.support.stub_activities import TASK_SID
from tests.support.time_skipping import (
    CUSTOMER,
    Conversation,
    Harness,
    config,
    replies,
)
from workflows.callback import CallbackWorkflow
from workflows.conversation import ConversationWorkflow

pytestmark = pytest.mark.timeout(60)


# --- idle close -------------------------------------------------------------------------------


async def test_a_quiet_conversation_closes_after_the_idle_timeout(h: Harness) -> None:
    conv = Conversation(h, config(idle_timeout_seconds=3600))
    started = await h.now()
    await conv.text("hi")
    await conv.until(lambda v: replies(v) == ["re: hi"])

    await h.skip(minutes=59)
    assert (await conv.view()).status is ConversationStatus.AI
    assert not h.stubs.recorded

    closed = await conv.handle.result()  # time skips to the close
    assert closed.status is ConversationStatus.CLOSED
    assert [(e.role, e.text) for e in closed.transcript] == [
        (Role.CUSTOMER, "hi"),
        (Role.ASSISTANT, "re: hi"),
    ]
    [record] = h.stubs.recorded
    assert [(line.role, line.text) for line in record.transcript] == [
        ("customer", "hi"),
        ("assistant", "re: hi"),
    ]
    assert timedelta(minutes=60) <= record.closed_at - started < timedelta(minutes=61)


async def test_a_new_message_pushes_the_idle_close_back(h: Harness) -> None:
    conv = Conversation(h, config(idle_timeout_seconds=3600))
    started = await h.now()
    await conv.text("hi")
    await conv.until(lambda v: len(replies(v)) == 1)

    await h.skip(minutes=50)
    await conv.text("still there?")
    await conv.until(lambda v: replies(v) == ["re: hi", "re: still there?"])

    await h.skip(minutes=59)  # 109 minutes in: an hour after the first text, not the second
    assert (await conv.view()).status is ConversationStatus.AI
    assert not h.stubs.recorded

    closed = await conv.handle.result()
    assert closed.status is ConversationStatus.CLOSED
    [record] = h.stubs.recorded
    assert [line.text for line in record.transcript] == [
        "hi",
        "re: hi",
        "still there?",
        "re: still there?",
    ]
    assert timedelta(minutes=110) <= record.closed_at - started < timedelta(minutes=111)


# --- batch window -----------------------------------------------------------------------------


async def test_texts_within_the_batch_window_get_one_reply(h: Harness) -> None:
    conv = Conversation(h, config(batch_window_seconds=60, batch_window_cap_seconds=300))
    first = await conv.text("my order")
    await h.skip(seconds=30)
    second = await conv.text("is late")
    await h.skip(seconds=59)  # 89 s in: the window after the second text is still open
    assert not h.stubs.sent

    await h.skip(seconds=2)
    view = await conv.until(lambda v: len(replies(v)) == 1)
    [sent] = h.stubs.sent
    assert sent.answers == [first, second]
    assert sent.body == "re: is late"
    assert [e.text for e in view.transcript] == ["my order", "is late", "re: is late"]
    # The model saw both texts in the reply it was asked for.
    assert [m.content for m in h.stubs.generated[-1].messages] == ["my order", "is late"]


async def test_texts_further_apart_than_the_window_get_a_reply_each(h: Harness) -> None:
    conv = Conversation(h, config(batch_window_seconds=60, batch_window_cap_seconds=300))
    first = await conv.text("my order")
    await h.skip(seconds=61)
    await conv.until(lambda v: len(replies(v)) == 1)
    second = await conv.text("is late")
    await h.skip(seconds=61)
    view = await conv.until(lambda v: len(replies(v)) == 2)
    assert [s.answers for s in h.stubs.sent] == [[first], [second]]
    assert [e.text for e in view.transcript] == [
        "my order",
        "re: my order",
        "is late",
        "re: is late",
    ]


async def test_the_batch_window_cap_bounds_a_stream_of_texts(h: Harness) -> None:
    conv = Conversation(h, config(batch_window_seconds=60, batch_window_cap_seconds=150))
    started = await h.now()
    for body, wait in [("one", 50), ("two", 50), ("three", 40)]:  # each within the window
        await conv.text(body)
        await h.skip(seconds=wait)
    await conv.text("four")  # 140 s in
    await h.settle()
    assert not h.stubs.sent
    # The cap is 150 s after the first text; without it the window would run to 200 s.
    await h.skip(seconds=15)
    view = await conv.until(lambda v: len(replies(v)) == 1)
    [sent] = h.stubs.sent
    assert sent.answers == conv.sids
    [reply] = [e for e in view.transcript if e.role is Role.ASSISTANT]
    assert timedelta(seconds=150) <= reply.at - started < timedelta(seconds=155)


# --- handoff timeout --------------------------------------------------------------------------


HANDOFF = config(handoff_timeout_seconds=300, notify_human_side=True)


async def _handed_off(h: Harness) -> Conversation:
    conv = Conversation(h, HANDOFF)
    await conv.text("I want a person")
    await conv.until(lambda v: len(replies(v)) == 1)
    await conv.handle.signal(ConversationWorkflow.handoff, HandoffRequest(reason="VIP"))
    view = await conv.until(lambda v: v.handoff is not None and v.handoff.task_sid is not None)
    assert view.status is ConversationStatus.HANDOFF_PENDING
    [delivered] = h.stubs.delivered
    assert delivered.package.reason == "VIP" and delivered.create_task
    return conv


async def test_an_untaken_handoff_times_out_back_to_the_ai(h: Harness) -> None:
    conv = await _handed_off(h)
    requested = (await conv.view()).handoff
    assert requested is not None

    await h.skip(seconds=295)
    assert (await conv.view()).status is ConversationStatus.HANDOFF_PENDING
    assert len(h.stubs.sent) == 1 and not h.stubs.canceled_tasks and not h.stubs.notified

    await h.skip(seconds=10)
    view = await conv.until(lambda v: v.status is ConversationStatus.AI and len(h.stubs.sent) == 2)
    assert h.stubs.sent[-1].body == HANDOFF.handoff_timeout_message
    assert h.stubs.sent[-1].to == CUSTOMER
    assert view.handoff is not None and view.handoff.outcome == "timed_out"
    assert view.handoff.ended_at is not None
    waited = view.handoff.ended_at - requested.requested_at
    assert timedelta(seconds=300) <= waited < timedelta(seconds=305)
    [canceled] = h.stubs.canceled_tasks
    assert (canceled.task_sid, canceled.reason) == (TASK_SID, "timed_out")
    assert [e.event for e in h.stubs.notified] == ["handoff_timeout"]
    assert replies(view)[-1] == HANDOFF.handoff_timeout_message

    # The AI answers again.
    await conv.text("hello?")
    await conv.until(lambda v: replies(v)[-1] == "re: hello?")


async def _human_writes(conv: Conversation) -> None:
    message = HumanMessage(text="Dana here", author="Dana")
    await conv.handle.signal(ConversationWorkflow.human_message, message)


async def _human_accepts(conv: Conversation) -> None:
    await conv.handle.signal(ConversationWorkflow.handoff_accepted, HandoffAccepted(by="Dana"))


@pytest.mark.parametrize(
    ("take", "agent_lines"),
    [(_human_writes, ["Dana here"]), (_human_accepts, [])],
    ids=["human_message", "handoff_accepted"],
)
async def test_a_handoff_taken_in_time_stays_with_the_human(
    h: Harness, take: Callable[[Conversation], Awaitable[None]], agent_lines: list[str]
) -> None:
    conv = await _handed_off(h)
    await h.skip(seconds=200)
    await take(conv)
    await conv.until(lambda v: v.status is ConversationStatus.HUMAN)

    await h.skip(seconds=600)  # well past the handoff timeout
    view = await conv.view()
    assert view.status is ConversationStatus.HUMAN
    assert view.handoff is not None and view.handoff.outcome is None
    assert [s.body for s in h.stubs.sent] == ["re: I want a person", *agent_lines]
    assert [e.text for e in view.transcript if e.role is Role.AGENT] == agent_lines
    assert not h.stubs.canceled_tasks and not h.stubs.notified
    # Customer texts now go to the human side, never the model.
    generated = len(h.stubs.generated)
    await conv.text("thanks")
    await h.stubs.wait_until(lambda: [e.event for e in h.stubs.notified] == ["customer_message"])
    assert len(h.stubs.generated) == generated


# --- callbacks --------------------------------------------------------------------------------


def _callback(at: datetime) -> CallbackInput:
    workflow_id = f"callback-{CUSTOMER}-{uuid.uuid4().hex[:12]}"
    return CallbackInput(
        callback=ScheduledCallback(
            id="cb-7", workflow_id=workflow_id, at=at, channel=Channel.VOICE, note="billing"
        ),
        customer=CUSTOMER,
        conversation_id=conversation_id(CUSTOMER),
    )


async def test_a_callback_starts_the_call_when_it_is_due(h: Harness) -> None:
    due = await h.now() + timedelta(hours=2)
    input = _callback(due)
    handle = await h.env.client.start_workflow(
        CallbackWorkflow.run, input, id=input.callback.workflow_id, task_queue=h.task_queue
    )
    h.workflow_ids.append(handle.id)
    await h.skip(hours=1, minutes=59)
    assert not h.stubs.outbound

    assert await handle.result() == "started"
    [request] = h.stubs.outbound
    assert request.callback_id == "cb-7"
    assert request.request_id == input.callback.workflow_id
    assert (request.to, request.channel, request.purpose) == (CUSTOMER, Channel.VOICE, "billing")
    assert due <= request.requested_at < due + timedelta(seconds=5)


async def test_a_canceled_callback_never_calls(h: Harness) -> None:
    input = _callback(await h.now() + timedelta(hours=2))
    handle = await h.env.client.start_workflow(
        CallbackWorkflow.run, input, id=input.callback.workflow_id, task_queue=h.task_queue
    )
    h.workflow_ids.append(handle.id)
    await h.skip(hours=1)
    await handle.cancel()
    assert await handle.result() == "canceled"
    await h.skip(hours=2)
    assert not h.stubs.outbound
