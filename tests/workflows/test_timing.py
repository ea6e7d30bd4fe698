"""The conversation's timing rules, in skipped time, against stub activities.

Each test runs its own time-skipping test server (it starts in a tenth of a second), a
worker with ``ConversationWorkflow`` and ``CallbackWorkflow`` and the stubs of
``tests.support.stub_activities`` registered under the real activity names. Time moves only
where a test says so (``env.sleep``) or while it waits for a workflow's result; in between,
the test waits in real time (milliseconds) for the workflow to settle.

Only the workflows' public surface is used: starting them the way the gateway does, their
signals and queries by method reference, their results, and what the stubs were asked.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType, IndexedValueType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from switchboard.contract import search_attributes as sa
from switchboard.contract.addresses import Channel, conversation_id
from switchboard.contract.conversation import (
    ConversationConfig,
    ConversationInput,
    ConversationStatus,
    ConversationView,
    InboundMessage,
    Role,
)
from switchboard.contract.handoff import HandoffAccepted, HandoffRequest, HumanMessage
from switchboard.contract.names import INBOUND_MESSAGE_SIGNAL
from switchboard.contract.outbound import CallbackInput, ScheduledCallback
from switchboard.runtime.config import Settings
from tests.support.stub_activities import TASK_SID, StubActivities
from worker import workflow_runner
from workflows.callback import CallbackWorkflow
from workflows.conversation import ConversationWorkflow

CUSTOMER = "+14155550123"
BUSINESS = "+15005550001"
SETTLE = 5.0
"""Real seconds a workflow gets to act on what it was just told (it takes milliseconds)."""

pytestmark = pytest.mark.timeout(60)


def _test_server() -> str:
    return str(Path(__file__).parents[2] / ".venv" / "bin" / "temporal-test-server")


@dataclass
class Harness:
    """A time-skipping server, a worker on a fresh task queue, and the stubs it calls."""

    env: WorkflowEnvironment
    task_queue: str
    stubs: StubActivities
    workflow_ids: list[str] = field(default_factory=list)

    async def now(self) -> datetime:
        """The test server's clock (the workflows' ``workflow.now()``)."""
        return await self.env.get_current_time()

    async def skip(self, **duration: float) -> None:
        """Let ``timedelta(**duration)`` of Temporal time pass at once, then settle.

        Every workflow settles first too: time that jumps in the middle of a workflow task
        (local activities run inside one) would start that task's timers late.
        """
        await self.settle()
        await self.env.sleep(timedelta(**duration))
        await self.settle()

    async def settle(self) -> None:
        """Wait (in real time) until no workflow of the test has a task or activity open."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SETTLE
        for workflow_id in self.workflow_ids:
            handle = self.env.client.get_workflow_handle(workflow_id)
            while _busy([event async for event in handle.fetch_history_events()]):
                assert loop.time() < deadline, f"{workflow_id} never settled"
                await asyncio.sleep(0.01)


def _busy(history: list[HistoryEvent]) -> bool:
    """Whether a workflow task or an activity is open (and the workflow is not closed)."""
    task_open, activities = False, set[int]()
    for event in history:
        if event.event_type in _CLOSED:
            return False
        if event.event_type in _TASK_OPENED:
            task_open = True
        elif event.event_type in _TASK_CLOSED:
            task_open = False
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            activities.add(event.event_id)
        elif event.event_type in _ACTIVITY_CLOSED:
            attributes = getattr(event, event.WhichOneof("attributes") or "")
            activities.discard(attributes.scheduled_event_id)
    return task_open or bool(activities)


_TASK_OPENED = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
}
_TASK_CLOSED = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
}
_ACTIVITY_CLOSED = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
    EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED,
}
_CLOSED = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
}


@dataclass
class Conversation:
    """One customer's conversation, opened and fed the way the gateway does it."""

    h: Harness
    config: ConversationConfig
    customer: str = CUSTOMER
    sids: list[str] = field(default_factory=list)
    started: WorkflowHandle[ConversationWorkflow, ConversationView] | None = None

    @property
    def handle(self) -> WorkflowHandle[ConversationWorkflow, ConversationView]:
        # The client's own handle: on the test server, awaiting its result skips time.
        assert self.started is not None, "the customer has not written yet"
        return self.started

    async def text(self, body: str) -> str:
        """The customer texts ``body`` now (signal-with-start); returns its MessageSid."""
        sid = f"SM{uuid.uuid4().hex}"
        self.sids.append(sid)
        message = InboundMessage(
            message_sid=sid,
            customer=self.customer,
            channel=Channel.SMS,
            from_address=self.customer,
            to_address=BUSINESS,
            body=body,
            received_at=await self.h.now(),
        )
        self.started = await self.h.env.client.start_workflow(
            ConversationWorkflow.run,
            ConversationInput(customer=self.customer, config=self.config),
            id=conversation_id(self.customer),
            task_queue=self.h.task_queue,
            start_signal=INBOUND_MESSAGE_SIGNAL,
            start_signal_args=[message],
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(sa.CUSTOMER_ID, self.customer),
                    SearchAttributePair(sa.CONVERSATION_CHANNELS, [str(Channel.SMS)]),
                    SearchAttributePair(sa.CONVERSATION_STATUS, str(ConversationStatus.AI)),
                ]
            ),
        )
        if self.started.id not in self.h.workflow_ids:
            self.h.workflow_ids.append(self.started.id)
        return sid

    async def view(self) -> ConversationView:
        return await self.handle.query(ConversationWorkflow.describe)

    async def until(self, predicate: Callable[[ConversationView], bool]) -> ConversationView:
        """Poll ``describe`` (in real time) until ``predicate`` holds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SETTLE
        while not predicate(view := await self.view()):
            assert loop.time() < deadline, f"never happened; the conversation is {view}"
            await asyncio.sleep(0.01)
        return view


@pytest.fixture
async def h() -> AsyncIterator[Harness]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=_test_server(), data_converter=pydantic_data_converter
    )
    try:
        await env.client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace="default",
                search_attributes={
                    sa.CUSTOMER_ID.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
                    sa.CONVERSATION_STATUS.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
                    sa.CONVERSATION_CHANNELS.name: (
                        IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST
                    ),
                },
            )
        )
        harness = Harness(env, f"timing-{uuid.uuid4().hex[:8]}", StubActivities())
        async with Worker(
            env.client,
            task_queue=harness.task_queue,
            workflows=[ConversationWorkflow, CallbackWorkflow],
            activities=harness.stubs.all(),
            workflow_runner=workflow_runner(Settings(_env_file=None, workflow_sandbox=True)),
        ):
            yield harness
    finally:
        await env.shutdown()


def config(**overrides: Any) -> ConversationConfig:
    """The defaults, without the batch window unless a test asks for one."""
    return ConversationConfig(**{"batch_window_seconds": 0.0, **overrides})


def replies(view: ConversationView) -> list[str]:
    return [e.text for e in view.transcript if e.role is Role.ASSISTANT]


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
