"""Conversations we start: outbound requests, placed calls, and callbacks the customer asked for.

An ``OutboundRequest`` reaches the customer's conversation as the ``outbound`` signal (from the
operator API or a due ``CallbackWorkflow``); a call is placed with ``PlaceCallRequest``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from switchboard.contract.addresses import Channel


class OutboundRequest(BaseModel):
    """Start a conversation from our side (operator API ``POST /api/conversations``, callbacks).

    ``text`` is sent as is; without it the model writes the opening from ``purpose``. On
    WhatsApp outside the 24-hour window only a template may be sent: ``template_sid`` (a
    Content SID) with ``template_variables``.
    """

    to: str = Field(description="the customer's E.164 number")
    channel: Channel
    text: str | None = Field(default=None, max_length=1600)
    purpose: str | None = Field(default=None, max_length=1000)
    template_sid: str | None = None
    template_variables: dict[str, str] = Field(default_factory=dict)
    request_id: str = Field(description="names this request uniquely; a repeat is a no-op")
    callback_id: str | None = None
    requested_at: datetime


class PlaceCallRequest(BaseModel):
    """Input of ``place_call``: an outbound call answered by our ConversationRelay socket."""

    idempotency_key: str
    conversation_id: str
    to: str
    from_: str
    purpose: str | None = None


class PlacedCall(BaseModel):
    """A call Twilio accepted."""

    sid: str
    status: str
    deduplicated: bool = False


class ScheduledCallback(BaseModel):
    """A callback the customer asked for; fires by its own durable timer workflow."""

    id: str
    workflow_id: str
    at: datetime
    channel: Channel
    note: str = ""
    status: Literal["scheduled", "done", "canceled"] = "scheduled"


class CallbackInput(BaseModel):
    """The argument of ``CallbackWorkflow``: at ``at``, start an outbound conversation."""

    callback: ScheduledCallback
    customer: str
    conversation_id: str


class CancelCallbackRequest(BaseModel):
    """Cancel one scheduled callback (by id), or every pending one when ``callback_id`` is None."""

    callback_id: str | None = None
