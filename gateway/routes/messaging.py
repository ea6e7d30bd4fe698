"""Twilio Messaging webhooks: inbound messages and delivery status callbacks."""

from __future__ import annotations

import time

import structlog
from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import ValidationError

from gateway.conversations import TemporalUnavailable
from gateway.dependencies import ConversationsDep, MetricsDep, RecentDep, SignedForm
from gateway.forms import InboundMessageForm, StatusCallbackForm
from switchboard.contract.addresses import InvalidAddress, to_e164

router = APIRouter()
log = structlog.get_logger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'


def _twiml_ok() -> Response:
    return Response(content=EMPTY_TWIML, media_type="text/xml")


def _bad_request(route: str, metrics: MetricsDep, exc: Exception) -> HTTPException:
    metrics.webhooks.labels(route, "invalid").inc()
    log.warning("webhook_invalid", route=route, error=str(exc))
    return HTTPException(status_code=400, detail=f"malformed Twilio request: {exc}")


@router.post("/twilio/messaging")
async def inbound_message(
    request: Request,
    form: SignedForm,
    conversations: ConversationsDep,
    recent: RecentDep,
    metrics: MetricsDep,
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
    if recent.seen(message.message_sid, token):
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
    metrics.webhooks.labels("messaging", "accepted").inc()
    metrics.webhook_seconds.labels("messaging").observe(time.perf_counter() - started)
    log.info("message_received", message_sid=message.message_sid, opt_out=message.opt_out_type)
    return _twiml_ok()


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
