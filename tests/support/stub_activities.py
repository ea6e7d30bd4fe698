"""Stub activities under the real activity names, for workflow tests on the test server.

They answer at once with fixed results and record every input, so a test can check what the
workflow asked for. Nothing here sleeps or does I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from temporalio import activity

from switchboard.contract.handoff import (
    CancelTaskRequest,
    DeliverHandoffRequest,
    HandoffPackage,
    HandoffReceipt,
    HumanSideEvent,
    PrepareHandoffRequest,
)
from switchboard.contract.llm import LLMReply, LLMRequest
from switchboard.contract.messaging import SendMessageRequest, SendMessageResult
from switchboard.contract.names import (
    CANCEL_HANDOFF_TASK_ACTIVITY,
    DELIVER_HANDOFF_ACTIVITY,
    GENERATE_REPLY_ACTIVITY,
    NOTIFY_HUMAN_SIDE_ACTIVITY,
    PREPARE_HANDOFF_ACTIVITY,
    RECALL_ACTIVITY,
    RECORD_CONVERSATION_ACTIVITY,
    REMEMBER_ACTIVITY,
    SEARCH_KNOWLEDGE_ACTIVITY,
    SEND_MESSAGE_ACTIVITY,
    START_OUTBOUND_ACTIVITY,
)
from switchboard.contract.outbound import OutboundRequest
from switchboard.memory.models import (
    CloseRecordRequest,
    KnowledgeSearchRequest,
    RecallRequest,
    RecallResult,
    RememberRequest,
)
from tests.support.waiting import Changes

T = TypeVar("T")

STUB_MODEL = "stub-model"
TASK_SID = "WT" + "0" * 32


def reply_to(request: LLMRequest) -> str:
    """The stub model's answer: it echoes the customer's latest message."""
    said = [m.content for m in request.messages if m.role == "user"]
    return f"re: {said[-1]}" if said else "hello"


@dataclass
class StubActivities:
    """Every conversation activity as an instant stub that records its calls."""

    replies: Callable[[LLMRequest], str] = reply_to
    changes: Changes = field(default_factory=Changes)
    generated: list[LLMRequest] = field(default_factory=list)
    sent: list[SendMessageRequest] = field(default_factory=list)
    recalled: list[RecallRequest] = field(default_factory=list)
    remembered: list[RememberRequest] = field(default_factory=list)
    searched: list[KnowledgeSearchRequest] = field(default_factory=list)
    recorded: list[CloseRecordRequest] = field(default_factory=list)
    prepared: list[PrepareHandoffRequest] = field(default_factory=list)
    delivered: list[DeliverHandoffRequest] = field(default_factory=list)
    notified: list[HumanSideEvent] = field(default_factory=list)
    canceled_tasks: list[CancelTaskRequest] = field(default_factory=list)
    outbound: list[OutboundRequest] = field(default_factory=list)

    def _record(self, calls: list[T], request: T) -> None:
        calls.append(request)
        self.changes.notify()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait (in real time) until ``predicate()`` holds; fail the test if it never does."""
        assert await self.changes.wait_until(predicate, timeout), "timed out waiting"

    def all(self) -> Sequence[Callable[..., Any]]:
        """The activities to register on a worker."""
        return [
            self.generate_reply,
            self.send_message,
            self.recall_context,
            self.remember,
            self.search_knowledge,
            self.record_conversation,
            self.prepare_handoff,
            self.deliver_handoff,
            self.notify_human_side,
            self.cancel_handoff_task,
            self.start_outbound,
        ]

    @activity.defn(name=GENERATE_REPLY_ACTIVITY)
    async def generate_reply(self, request: LLMRequest) -> LLMReply:
        """A fixed reply (by default an echo of the customer's latest message).

        A request that asks to recall first is recalled for here too, as the worker does.
        """
        recalled = None
        if request.recall is not None:
            ask = RecallRequest(customer=request.recall.customer, query=request.recall.query)
            recalled = (await self.recall_context(ask)).context
        self._record(self.generated, request)
        return LLMReply(text=self.replies(request), model=STUB_MODEL, recalled=recalled)

    @activity.defn(name=SEND_MESSAGE_ACTIVITY)
    async def send_message(self, request: SendMessageRequest) -> SendMessageResult:
        """Accepted at once, with a fresh MessageSid."""
        self._record(self.sent, request)
        return SendMessageResult(sid=f"SM{len(self.sent):032d}", status="queued")

    @activity.defn(name=RECALL_ACTIVITY)
    async def recall_context(self, request: RecallRequest) -> RecallResult:
        """Nothing is known about anyone."""
        self._record(self.recalled, request)
        return RecallResult(context="", known=False)

    @activity.defn(name=REMEMBER_ACTIVITY)
    async def remember(self, request: RememberRequest) -> str:
        """Stored."""
        self._record(self.remembered, request)
        return "Remembered."

    @activity.defn(name=SEARCH_KNOWLEDGE_ACTIVITY)
    async def search_knowledge(self, request: KnowledgeSearchRequest) -> str:
        """No passages."""
        self._record(self.searched, request)
        return "Nothing found."

    @activity.defn(name=RECORD_CONVERSATION_ACTIVITY)
    async def record_conversation(self, request: CloseRecordRequest) -> bool:
        """Stored."""
        self._record(self.recorded, request)
        return True

    @activity.defn(name=PREPARE_HANDOFF_ACTIVITY)
    async def prepare_handoff(self, request: PrepareHandoffRequest) -> HandoffPackage:
        """The package with a fixed summary and no profile."""
        self._record(self.prepared, request)
        return HandoffPackage(**request.model_dump(), summary="stub summary")

    @activity.defn(name=DELIVER_HANDOFF_ACTIVITY)
    async def deliver_handoff(self, request: DeliverHandoffRequest) -> HandoffReceipt:
        """A TaskRouter task was created (``TASK_SID``)."""
        self._record(self.delivered, request)
        return HandoffReceipt(task_sid=TASK_SID, targets=["taskrouter"])

    @activity.defn(name=NOTIFY_HUMAN_SIDE_ACTIVITY)
    async def notify_human_side(self, event: HumanSideEvent) -> None:
        """Told."""
        self._record(self.notified, event)

    @activity.defn(name=CANCEL_HANDOFF_TASK_ACTIVITY)
    async def cancel_handoff_task(self, request: CancelTaskRequest) -> None:
        """Canceled."""
        self._record(self.canceled_tasks, request)

    @activity.defn(name=START_OUTBOUND_ACTIVITY)
    async def start_outbound(self, request: OutboundRequest) -> None:
        """Started (no conversation is actually opened)."""
        self._record(self.outbound, request)
