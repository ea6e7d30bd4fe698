"""Twilio Voice: the incoming-call webhook, the ConversationRelay socket, the action callback."""

from __future__ import annotations

from dataclasses import replace

import structlog
from fastapi import APIRouter, Response, WebSocket

from gateway.dependencies import MetricsDep, SettingsDep, SignedForm
from gateway.signature import SignatureValidator
from gateway.voice.session import RelaySession
from gateway.voice.twiml import RELAY_PATH, VoiceOptions, connect_relay_twiml, hangup_twiml

router = APIRouter()
log = structlog.get_logger(__name__)


def _twiml(document: str) -> Response:
    return Response(content=document, media_type="text/xml")


@router.post("/twilio/voice")
async def incoming_call(form: SignedForm, settings: SettingsDep, metrics: MetricsDep) -> Response:
    """An incoming call: connect it to our ConversationRelay socket."""
    metrics.webhooks.labels("voice", "accepted").inc()
    log.info("call_incoming", call_sid=form.get("CallSid"), direction=form.get("Direction"))
    return _twiml(
        connect_relay_twiml(settings.public_base_url, VoiceOptions.from_settings(settings))
    )


def _session_broke(form: dict[str, str]) -> bool:
    """The relay session failed (the socket broke) while the caller is still on the line."""
    failed = bool(form.get("ErrorCode")) or "fail" in form.get("SessionStatus", "").lower()
    return failed and form.get("CallStatus") == "in-progress" and not form.get("HandoffData")


@router.post("/twilio/voice/action")
async def relay_session_ended(
    form: SignedForm, settings: SettingsDep, metrics: MetricsDep
) -> Response:
    """The ``<Connect action>`` callback: the relay session is over.

    If it broke while the caller is still connected (a gateway died, the socket dropped),
    answer with fresh ConversationRelay TwiML: the call comes back on a live gateway, on the
    same conversation. Otherwise the call ends.
    """
    reconnect = _session_broke(form)
    metrics.webhooks.labels("voice_action", "reconnect" if reconnect else "accepted").inc()
    log.info(
        "relay_session_finished",
        call_sid=form.get("CallSid"),
        session_status=form.get("SessionStatus"),
        error_code=form.get("ErrorCode"),
        handoff=bool(form.get("HandoffData")),
        reconnect=reconnect,
    )
    if reconnect:
        options = VoiceOptions.from_settings(settings)
        options = replace(options, welcome_greeting=settings.voice_reconnect_greeting or None)
        return _twiml(connect_relay_twiml(settings.public_base_url, options))
    return _twiml(hangup_twiml())


@router.websocket(RELAY_PATH)
async def relay(websocket: WebSocket) -> None:
    """The ConversationRelay WebSocket. A bad signature on the upgrade is refused (403)."""
    state = websocket.app.state
    validator: SignatureValidator = state.validator
    if not validator.valid_relay(
        websocket.url.path, websocket.url.query, str(websocket.url),
        websocket.headers.get("x-twilio-signature"),
    ):  # fmt: skip
        state.metrics.relay_sessions.labels("refused").inc()
        log.warning("relay_signature_invalid", path=websocket.url.path)
        await websocket.close(code=1008)  # before accept: the upgrade is answered 403
        return
    await websocket.accept()
    state.metrics.relay_sessions.labels("accepted").inc()
    session = RelaySession(
        websocket, state.conversations, state.streamer, state.calls, state.gateway_queue,
        state.metrics, speculate=state.settings.voice_speculative_start,
        knowledge=state.knowledge,
    )  # fmt: skip
    reason = await session.run()
    state.metrics.relay_sessions.labels(str(reason)).inc()
