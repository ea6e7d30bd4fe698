"""Twilio Messaging webhooks: inbound messages and delivery status callbacks.

Twilio's signatures carry no time, so a captured webhook stays valid forever. Every
processed ``MessageSid`` is kept in the shared store for ``INBOUND_DEDUP_TTL`` (30 days), on
top of the process's own recent keys and the conversation's: a webhook replayed long after
its conversation closed is acknowledged and dropped, on any gateway host.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import structlog
from fastapi import APIRouter, BackgroundTasks, HTTPException, Request, Response
from pydantic import ValidationError

from gateway.conversations import TemporalUnavailable
from gateway.dependencies import (
    ConversationsDep,
    MetricsDep,
    RecentDep,
    SettingsDep,
    SignedForm,
    StoreDep,
)
from gateway.forms import InboundMessageForm, StatusCallbackForm
from switchboard.contract.addresses import InvalidAddress, to_e164

router = APIRouter()
log = structlog.get_logger(__name__)

INBOUND_SCOPE = "inbound-message"
"""The request-key scope of processed inbound ``MessageSid``s."""
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'


def _twiml_ok() -> Response:
    return Response(content=EMPTY_TWIML, media_type="text/xml")


def _bad_request(route: str, metrics: MetricsDep, exc: Exception) -> HTTPException:
    metrics.webhooks.labels(route, "invalid").inc()
    log.warning("webhook_invalid", route=route, problems=invalid_fields(exc))
    return HTTPException(status_code=400, detail=f"malformed Twilio request: {exc}")


def invalid_fields(exc: Exception) -> list[str]:
    """What was wrong with a webhook, by field and kind, without the values submitted.

    Pydantic's message quotes the input (a message body, a number), which must not reach
    the logs; the caller's 400 still carries the full message, since it is their own data.
    """
    if isinstance(exc, ValidationError):
        return [
            f"{'.'.join(str(part) for part in error['loc']) or 'form'}: {error['type']}"
            for error in exc.errors(include_url=False, include_input=False)
        ]
    if isinstance(exc, InvalidAddress):
        return ["address: not a phone number"]
    return [type(exc).__name__]


@router.post("/twilio/messaging")
async def inbound_message(
    request: Request,
    form: SignedForm,
    conversations: ConversationsDep,
    recent: RecentDep,
    metrics: MetricsDep,
    store: StoreDep,
    settings: SettingsDep,
    background: BackgroundTasks,
) -> Response:
    """An inbound SMS or WhatsApp message: hand it to the conversation, answer at once."""
    started = time.perf_counter()
    try:
        message = InboundMessageForm.from_form(form)
        inbound = message.to_inbound()
    except (ValidationError, InvalidAddress) as exc:
        raise _bad_request("messaging", metrics, exc) from exc
    token = request.headers.get("i-twilio-idempotency-token")
    structlog.contextvars.bind_contextvars(
        conversation_id=f"conv-{inbound.customer}", channel=str(inbound.channel)
    )
    now = datetime.now(UTC)
    if recent.seen(message.message_sid, token) or await store.request_key_seen(
        INBOUND_SCOPE, message.message_sid, now=now
    ):
        metrics.webhooks.labels("messaging", "duplicate").inc()
        log.info("webhook_duplicate", message_sid=message.message_sid)
        return _twiml_ok()
    try:
        await conversations.deliver_inbound(inbound)
    except TemporalUnavailable as exc:
        metrics.webhooks.labels("messaging", "unavailable").inc()
        log.error("temporal_unavailable", error=str(exc))
        raise HTTPException(status_code=503, detail="conversation service unavailable") from exc
    recent.add(message.message_sid, token)
    # After the signal: a retry of a message that never reached the conversation goes through
    # (two deliveries in between are told apart by the conversation's own processed ids).
    # And after the answer: the write can wait on another process's lock on the store, and
    # Twilio should not. Until it lands this process's recent keys and the conversation's
    # own processed ids catch a retry; if the process dies first, only a replay after the
    # conversation closed could get through (the conversation still ignores it while open).
    background.add_task(
        _remember_processed, store, message.message_sid, now, now + settings.inbound_dedup_ttl
    )
    metrics.webhooks.labels("messaging", "accepted").inc()
    metrics.webhook_seconds.labels("messaging").observe(time.perf_counter() - started)
    log.info("message_received", message_sid=message.message_sid, opt_out=message.opt_out_type)
    return _twiml_ok()


async def _remember_processed(
    store: StoreDep, message_sid: str, now: datetime, expires_at: datetime
) -> None:
    """Keep a processed ``MessageSid`` for ``INBOUND_DEDUP_TTL`` (after the answer)."""
    try:
        await store.claim_request_key(
            INBOUND_SCOPE, message_sid, "", now=now, expires_at=expires_at
        )
    except Exception as exc:  # the answer is gone: say so, do not raise
        log.warning("inbound_key_not_kept", error=type(exc).__name__)


@router.post("/twilio/messaging/status")
async def message_status(
    form: SignedForm, conversations: ConversationsDep, metrics: MetricsDep
) -> Response:
    """A delivery status callback for one of our messages."""
    try:
        callback = StatusCallbackForm.model_validate(form)
        customer = to_e164(callback.to)
    except (ValidationError, InvalidAddress) as exc:
        raise _bad_request("status", metrics, exc) from exc
    structlog.contextvars.bind_contextvars(conversation_id=f"conv-{customer}")
    try:
        delivered = await conversations.record_delivery_status(customer, callback.to_update())
    except TemporalUnavailable as exc:
        metrics.webhooks.labels("status", "unavailable").inc()
        raise HTTPException(status_code=503, detail="conversation service unavailable") from exc
    metrics.webhooks.labels("status", "accepted" if delivered else "no_conversation").inc()
    log.info(
        "message_status",
        message_sid=callback.message_sid,
        status=callback.message_status,
        error_code=callback.error_code,
    )
    return _twiml_ok()
