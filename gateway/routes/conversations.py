"""The operator API for conversations: list, read, hand off, write, resume, close, start.

Every action is a signal to the conversation's workflow (the very signals an operator can
send from the Temporal CLI or UI), followed by the ``snapshot`` update, so the 202 answer
shows the conversation with the action applied.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from gateway.conversations import TemporalUnavailable
from gateway.dependencies import ConversationsDep, SettingsDep, StoreDep, operator_auth
from switchboard.contract.addresses import (
    Channel,
    InvalidAddress,
    conversation_id,
    customer_of,
    to_e164,
)
from switchboard.contract.conversation import ConversationStatus, ConversationView
from switchboard.contract.handoff import HumanMessage
from switchboard.contract.intelligence import DO_NOT_CONTACT_TRAIT
from switchboard.contract.outbound import OutboundRequest
from switchboard.memory import MemoryStore

router = APIRouter(prefix="/api", dependencies=[Depends(operator_auth)], tags=["conversations"])


class HandoffBody(BaseModel):
    """``POST /api/conversations/{id}/handoff``."""

    reason: str = Field(default="handed off by an operator", max_length=500)


class MessageBody(BaseModel):
    """``POST /api/conversations/{id}/messages``: a human agent's message."""

    text: str = Field(min_length=1, max_length=1600)
    author: str | None = Field(default=None, max_length=100)


class AcceptBody(BaseModel):
    """``POST /api/conversations/{id}/accept``: who takes the conversation."""

    by: str | None = Field(default=None, max_length=100)


class CloseBody(BaseModel):
    """``POST /api/conversations/{id}/close``."""

    reason: str = Field(default="closed by an operator", max_length=500)


class OutboundBody(BaseModel):
    """``POST /api/conversations``: start a message or call to a customer."""

    model_config = ConfigDict(extra="forbid")

    to: str
    channel: Literal["sms", "whatsapp", "voice"]
    text: str | None = Field(default=None, min_length=1, max_length=1600)
    purpose: str | None = Field(default=None, max_length=1000)
    template_sid: str | None = Field(
        default=None, pattern=r"^HX[0-9a-fA-F]{32}$", description="WhatsApp Content SID"
    )
    template_variables: dict[str, str] = Field(default_factory=dict)


def _conversation_json(view: ConversationView) -> dict[str, Any]:
    return view.model_dump(mode="json")


def _accepted(view: ConversationView) -> JSONResponse:
    return JSONResponse(_conversation_json(view), status_code=202)


def _customer(conversation: str) -> str:
    try:
        return customer_of(conversation)
    except InvalidAddress as exc:
        raise HTTPException(status_code=404, detail=f"no conversation {conversation!r}") from exc


def _unavailable(exc: TemporalUnavailable) -> HTTPException:
    return HTTPException(status_code=503, detail=f"Temporal unavailable: {exc}")


async def _act(
    conversation: str, action: Coroutine[Any, Any, ConversationView | None]
) -> JSONResponse:
    """Act on an open conversation: 202 with it, 404 if none is open, 503 without Temporal."""
    try:
        view = await action
    except TemporalUnavailable as exc:
        raise _unavailable(exc) from exc
    if view is None:
        raise HTTPException(status_code=404, detail=f"no open conversation {conversation!r}")
    return _accepted(view)


@router.get("/conversations")
async def list_conversations(
    conversations: ConversationsDep,
    status: ConversationStatus | None = None,
    channel: Channel | None = None,
    customer: str | None = None,
    limit: int = Query(default=100, ge=1, le=1000),
) -> dict[str, Any]:
    """Open conversations (``?status=closed``: the latest closed run of each), filterable."""
    number = None
    if customer is not None:
        try:
            number = to_e164(customer)
        except InvalidAddress as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from exc
    try:
        found = await conversations.list_conversations(
            closed=status is ConversationStatus.CLOSED,
            status=status,
            channel=channel,
            customer=number,
            limit=limit,
        )
    except TemporalUnavailable as exc:
        raise _unavailable(exc) from exc
    return {"conversations": [c.model_dump(mode="json") for c in found]}


@router.get("/conversations/{conversation}")
async def get_conversation(conversation: str, conversations: ConversationsDep) -> dict[str, Any]:
    """Status, channels, customer, handoff, callbacks and the transcript (404 if unknown)."""
    number = _customer(conversation)
    try:
        view = await conversations.describe(conversation_id(number))
    except TemporalUnavailable as exc:
        raise _unavailable(exc) from exc
    if view is None:
        raise HTTPException(status_code=404, detail=f"no conversation {conversation!r}")
    return _conversation_json(view)


@router.post("/conversations/{conversation}/handoff")
async def hand_off(
    conversation: str, conversations: ConversationsDep, body: HandoffBody | None = None
) -> JSONResponse:
    """Hand the conversation to a human: the package goes to the configured targets."""
    reason = (body or HandoffBody()).reason
    return await _act(conversation, conversations.hand_off(_customer(conversation), reason))


@router.post("/conversations/{conversation}/accept")
async def accept(
    conversation: str, conversations: ConversationsDep, body: AcceptBody | None = None
) -> JSONResponse:
    """A human takes a handed-off conversation (the signal TaskRouter's accept sends).

    409 while the AI has it: hand it off first (or write to the customer, which takes it).
    Taking one a human already holds changes nothing.
    """
    customer = _customer(conversation)
    try:
        view = await conversations.describe(conversation_id(customer))
    except TemporalUnavailable as exc:
        raise _unavailable(exc) from exc
    if view is None or view.status is ConversationStatus.CLOSED:
        raise HTTPException(status_code=404, detail=f"no open conversation {conversation!r}")
    if view.status is ConversationStatus.AI:
        raise HTTPException(
            status_code=409, detail="the AI has this conversation: hand it off first"
        )
    by = (body or AcceptBody()).by
    return await _act(conversation, conversations.accept(customer, by))


@router.post("/conversations/{conversation}/messages")
async def send_message(
    conversation: str, body: MessageBody, conversations: ConversationsDep
) -> JSONResponse:
    """A human agent's message to the customer, on their active channel (a human takes over)."""
    message = HumanMessage(text=body.text, author=body.author)
    return await _act(
        conversation, conversations.send_human_message(_customer(conversation), message)
    )


@router.post("/conversations/{conversation}/resume")
async def resume(conversation: str, conversations: ConversationsDep) -> JSONResponse:
    """Hand the conversation back to the AI."""
    return await _act(conversation, conversations.resume(_customer(conversation)))


@router.post("/conversations/{conversation}/close")
async def close(
    conversation: str, conversations: ConversationsDep, body: CloseBody | None = None
) -> JSONResponse:
    """Close the conversation now (its summary and transcript go to memory first)."""
    reason = (body or CloseBody()).reason
    return await _act(conversation, conversations.close(_customer(conversation), reason))


@router.post("/conversations")
async def start_conversation(
    body: OutboundBody,
    conversations: ConversationsDep,
    settings: SettingsDep,
    store: StoreDep,
    idempotency_key: str | None = Header(default=None),
) -> JSONResponse:
    """Start an outbound conversation: a text, a WhatsApp template, or a call.

    An ``Idempotency-Key`` header makes a retried request start it once: the key is kept
    for 24 hours in the shared store, a repeat with the same body answers the conversation
    without starting anything, one with another body is refused with 422. A customer who
    asked not to be contacted (the ``do_not_contact`` trait) is refused with 409.
    """
    try:
        number = to_e164(body.to)
    except InvalidAddress as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    channel = Channel(body.channel)
    if channel is Channel.VOICE and not (settings.twilio_phone_number or settings.sandbox):
        raise HTTPException(status_code=409, detail="set TWILIO_PHONE_NUMBER to place calls")
    if channel is Channel.WHATSAPP and not (settings.twilio_whatsapp_number or settings.sandbox):
        raise HTTPException(status_code=409, detail="set TWILIO_WHATSAPP_NUMBER for WhatsApp")
    if channel is not Channel.VOICE and not (body.text or body.purpose or body.template_sid):
        raise HTTPException(status_code=422, detail="give text, purpose or template_sid")
    if await _asked_not_to_be_contacted(store, number):
        raise HTTPException(status_code=409, detail="the customer asked not to be contacted")
    if idempotency_key is not None:
        repeat = await _repeated_request(store, idempotency_key, body)
        if repeat:
            view = await _described(conversations, conversation_id(number))
            if view is not None:
                return _accepted(view)
            return JSONResponse({"id": conversation_id(number), "duplicate": True}, status_code=202)
    request = OutboundRequest(
        to=number,
        channel=channel,
        text=body.text,
        purpose=body.purpose,
        template_sid=body.template_sid,
        template_variables=body.template_variables,
        request_id=f"api:{idempotency_key or uuid.uuid4().hex}",
        requested_at=datetime.now(UTC),
    )
    try:
        view = await conversations.start_outbound(request)
    except TemporalUnavailable as exc:
        if idempotency_key is not None:  # nothing started: a retry may go through
            await store.release_request_key(IDEMPOTENCY_SCOPE, idempotency_key)
        raise _unavailable(exc) from exc
    return _accepted(view)


IDEMPOTENCY_SCOPE = "outbound"
IDEMPOTENCY_TTL = timedelta(hours=24)


async def _repeated_request(store: MemoryStore, key: str, body: OutboundBody) -> bool:
    """Claim ``key`` for this body: False when new, True for a repeat (422: another body)."""
    if not key or len(key) > 255:
        raise HTTPException(status_code=422, detail="Idempotency-Key must be 1 to 255 characters")
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    now = datetime.now(UTC)
    earlier = await store.claim_request_key(
        IDEMPOTENCY_SCOPE, key, digest, now=now, expires_at=now + IDEMPOTENCY_TTL
    )
    if earlier is not None and earlier != digest:
        raise HTTPException(
            status_code=422, detail="this Idempotency-Key was used with another request body"
        )
    return earlier is not None


async def _described(conversations: ConversationsDep, cid: str) -> ConversationView | None:
    try:
        return await conversations.describe(cid)
    except TemporalUnavailable as exc:
        raise _unavailable(exc) from exc


async def _asked_not_to_be_contacted(store: MemoryStore, customer: str) -> bool:
    profile = await store.get_profile(customer, limit=1)
    if profile is None:
        return False
    return profile.traits.get(DO_NOT_CONTACT_TRAIT) is True
