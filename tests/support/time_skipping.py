"""A time-skipping Temporal test server with the conversation workflows and stub activities.

``time_skipping_harness`` starts one (in a tenth of a second) with a worker on a fresh task
queue running ``ConversationWorkflow`` and ``CallbackWorkflow``, and the stubs of
``tests.support.stub_activities`` registered under the real activity names. Time moves only
where a test says so (``Harness.skip``) or while it waits for a workflow's result; in between,
a test waits in real time (milliseconds) for the workflow to settle. ``Conversation`` opens
and feeds a customer's conversation the way the gateway does.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

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
from switchboard.contract.names import INBOUND_MESSAGE_SIGNAL
from switchboard.runtime.config import Settings
from tests.support.stub_activities import StubActivities
from worker import workflow_runner
from workflows.callback import CallbackWorkflow
from workflows.conversation import ConversationWorkflow

CUSTOMER = "+14155550123"
BUSINESS = "+15005550001"
SETTLE = 5.0
"""Real seconds a workflow gets to act on what it was just told (it takes milliseconds)."""


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


@contextlib.asynccontextmanager
async def time_skipping_harness() -> AsyncIterator[Harness]:
    """A fresh test server and worker (see the module docstring)."""
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
    """The assistant's lines of the transcript."""
    return [e.text for e in view.transcript if e.role is Role.ASSISTANT]
