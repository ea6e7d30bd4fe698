"""Boundary models of human handoff.

Handoff is a state machine on the conversation (``ai → handoff_pending → human → ai``);
what travels to a human is a ``HandoffPackage`` (CONTRACT.md, "Handoff package"), whatever
the target: a TaskRouter task (Flex), a signed webhook, or on a call the ``<Enqueue>`` TwiML
that the ``<Connect action>`` callback answers with.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from switchboard.contract.addresses import Channel

TASK_CHANNELS: dict[Channel, str] = {
    Channel.VOICE: "voice",
    Channel.SMS: "sms",
    Channel.WHATSAPP: "chat",
}
"""TaskRouter ``TaskChannel`` of each conversation channel."""


class HandoffRequest(BaseModel):
    """Ask for a human. ``source`` says who asked: ``tool``, ``operator`` or ``signal``."""

    reason: str = "handoff requested"
    source: str = "signal"
    call_sid: str | None = Field(
        default=None, description="set when the call's own reply ends the relay session"
    )
    seq: int | None = Field(default=None, description="the handoff it became (set by the workflow)")


class HumanMessage(BaseModel):
    """A human agent's message to the customer (sent on the customer's active channel)."""

    text: str = Field(min_length=1, max_length=1600)
    author: str | None = None


class HandoffAccepted(BaseModel):
    """A human took the conversation."""

    by: str | None = None


class ResumeRequest(BaseModel):
    """Hand the conversation back to the AI."""

    note: str | None = None


class PackageLine(BaseModel):
    """One transcript line of a handoff package."""

    role: str
    text: str
    channel: Channel
    at: datetime


class HandoffPackage(BaseModel):
    """What a human receives: the conversation's context, whatever the target.

    ``tokens`` travels only back to the workflow, which counts it for insights; a human's
    side gets ``delivered()``, without it.
    """

    conversation_id: str
    customer: str
    channel: Channel
    reason: str
    summary: str
    profile: dict[str, Any] = Field(default_factory=dict)
    transcript: list[PackageLine] = Field(default_factory=list)
    tokens: int = Field(default=0, description="what the summary's model call used")

    def delivered(self) -> dict[str, Any]:
        """The package as a human's side receives it (JSON-ready)."""
        return self.model_dump(mode="json", exclude=_KEPT_BACK)

    def delivered_json(self) -> bytes:
        """``delivered()`` as the webhook's body."""
        return self.model_dump_json(exclude=_KEPT_BACK).encode()

    def task_attributes(self) -> dict[str, Any]:
        """TaskRouter task attributes: the package plus what Flex reads (name, from, type)."""
        attributes = self.delivered()
        attributes.update(
            name=self.profile.get("traits", {}).get("name") or self.customer,
            channelType=_FLEX_CHANNEL_TYPES[self.channel],
            customerAddress=self.customer,
            direction="inbound",
            type="handoff",
            **{"from": self.customer},
        )
        return attributes

    def handoff_data(self) -> str:
        """The ConversationRelay ``end`` frame's ``handoffData``: a JSON string, kept small."""
        return json.dumps(
            {
                "reason": self.reason,
                "conversation_id": self.conversation_id,
                "summary": self.summary,
            }
        )


_KEPT_BACK = {"tokens"}  # the workflow's accounting, not the human's business
_FLEX_CHANNEL_TYPES = {Channel.VOICE: "voice", Channel.SMS: "sms", Channel.WHATSAPP: "whatsapp"}


class PrepareHandoffRequest(BaseModel):
    """Input of ``prepare_handoff``: the conversation as it stands.

    The activity adds the summary (the model's, else a plain one) and the customer's profile.
    """

    conversation_id: str
    customer: str
    channel: Channel
    reason: str
    transcript: list[PackageLine]


class DeliverHandoffRequest(BaseModel):
    """Input of ``deliver_handoff``.

    ``create_task`` is False on a live call: the call itself is enqueued by the
    ``<Connect action>`` TwiML, so no separate REST task is created.
    """

    idempotency_key: str
    package: HandoffPackage
    create_task: bool = True


class HandoffReceipt(BaseModel):
    """Where a handoff went: the TaskRouter task and the webhook's answer, when configured."""

    task_sid: str | None = None
    webhook_status: int | None = None
    targets: list[str] = Field(default_factory=list, description="taskrouter, webhook")


HumanSideEventKind = Literal["customer_message", "handoff_timeout", "resumed", "closed"]


class HumanSideEvent(BaseModel):
    """Input of ``notify_human_side``: news for the human side, POSTed to the webhook.

    A customer's message while a human has the conversation; the end of a handoff.
    """

    idempotency_key: str
    event: HumanSideEventKind
    conversation_id: str
    customer: str
    channel: Channel | None = None
    text: str | None = None
    at: datetime
    task_sid: str | None = None


class CancelTaskRequest(BaseModel):
    """Input of ``cancel_handoff_task``: nobody took the task in time."""

    task_sid: str
    reason: str


class HandoffState(BaseModel):
    """The latest handoff of a conversation, as operators see it."""

    seq: int
    reason: str
    source: str
    requested_at: datetime
    package: HandoffPackage | None = None
    task_sid: str | None = None
    targets: list[str] = Field(default_factory=list)
    accepted_at: datetime | None = None
    ended_at: datetime | None = None
    outcome: str | None = Field(default=None, description="resumed, timed_out, closed")
