"""Sending a message to a customer: the delivery activity's input and result."""

from __future__ import annotations

from pydantic import BaseModel, Field

from switchboard.contract.addresses import Channel


class SendMessageRequest(BaseModel):
    """Input of the delivery activity. ``idempotency_key`` names this reply uniquely."""

    idempotency_key: str
    conversation_id: str
    channel: Channel
    to: str
    from_: str
    body: str
    answers: list[str] = Field(default_factory=list, description="MessageSids this reply answers")
    content_sid: str | None = Field(default=None, description="a WhatsApp template instead")
    content_variables: dict[str, str] = Field(default_factory=dict)


class SendMessageResult(BaseModel):
    """A message Twilio accepted (or had already accepted, when ``deduplicated``).

    When ``deduplicated``, ``body`` and ``answers`` are those of the message that was
    actually sent under this key, which may differ from the request: a turn replayed after
    a crash can see texts the first attempt did not.
    """

    sid: str
    status: str
    deduplicated: bool = False
    body: str | None = None
    answers: list[str] = Field(default_factory=list)
