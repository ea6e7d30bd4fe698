"""Twilio Voice: the incoming-call webhook, the ConversationRelay socket, the action callback."""

from __future__ import annotations

import json
from dataclasses import replace

import structlog
from fastapi import APIRouter, Response, WebSocket

from gateway.dependencies import AgentDep, ConversationsDep, MetricsDep, SettingsDep, SignedForm
from gateway.signature import SignatureValidator
from gateway.voice.session import RelaySession
from switchboard.contract.addresses import InvalidAddress, to_e164
from switchboard.contract.handoff import HandoffPackage
from switchboard.twilio.twiml import (
    RELAY_PATH,
    VoiceOptions,
    connect_relay_twiml,
    enqueue_twiml,
    hangup_twiml,
    say_and_hang_up_twiml,
)

router = APIRouter()
log = structlog.get_logger(__name__)


def _twiml(document: str) -> Response:
    return Response(content=document, media_type="text/xml")


@router.post("/twilio/voice")
async def incoming_call(
    form: SignedForm, settings: SettingsDep, metrics: MetricsDep, agent: AgentDep
) -> Response:
    """An incoming call: connect it to our ConversationRelay socket."""
    metrics.webhooks.labels("voice", "accepted").inc()
    log.info("call_incoming", call_sid=form.get("CallSid"), direction=form.get("Direction"))
    return _twiml(
        connect_relay_twiml(settings.public_base_url, VoiceOptions.from_settings(settings, agent))
    )


def _session_broke(form: dict[str, str]) -> bool:
    """The relay session failed (the socket broke) while the caller is still on the line."""
    failed = bool(form.get("ErrorCode")) or "fail" in form.get("SessionStatus", "").lower()
    return failed and form.get("CallStatus") == "in-progress" and not form.get("HandoffData")


@router.post("/twilio/voice/action")
async def relay_session_ended(
    form: SignedForm,
    settings: SettingsDep,
    metrics: MetricsDep,
    conversations: ConversationsDep,
    agent: AgentDep,
) -> Response:
    """The ``<Connect action>`` callback: the relay session is over.

    After a handoff (``HandoffData``) the call goes to a human: ``<Enqueue>`` into the
    TaskRouter workflow with the handoff package as the task. If the session broke while the
    caller is still connected (a gateway died, the socket dropped), answer with fresh
    ConversationRelay TwiML: the call comes back on a live gateway, on the same
    conversation. Otherwise the call ends.
    """
    if form.get("HandoffData"):
        metrics.webhooks.labels("voice_action", "handoff").inc()
        return _twiml(await _enqueue_for_human(form, settings, conversations))
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
        options = VoiceOptions.from_settings(settings, agent)
        options = replace(options, welcome_greeting=settings.voice_reconnect_greeting or None)
        return _twiml(connect_relay_twiml(settings.public_base_url, options))
    return _twiml(hangup_twiml())


async def _enqueue_for_human(
    form: dict[str, str], settings: SettingsDep, conversations: ConversationsDep
) -> str:
    customer = _caller(form)
    package = await conversations.voice_handoff_package(customer) if customer else None
    workflow_sid = settings.twilio_taskrouter_workflow_sid
    log.info(
        "call_handoff",
        call_sid=form.get("CallSid"),
        package=package is not None,
        enqueue=bool(workflow_sid),
    )
    if not workflow_sid:
        # No human queue for calls: say so; the conversation offers a callback by text
        # when its handoff times out.
        return say_and_hang_up_twiml(NO_HUMAN_ON_CALLS)
    attributes = _call_attributes(form, package)
    if customer:
        await conversations.call_enqueued(customer)
    return enqueue_twiml(workflow_sid, json.dumps(attributes))


NO_HUMAN_ON_CALLS = "Sorry, no one from our team can take your call right now. We'll be in touch."


def _caller(form: dict[str, str]) -> str | None:
    """The customer on the call: the caller, or the callee of an outbound call."""
    raw = form.get("To") if form.get("Direction", "").startswith("outbound") else form.get("From")
    try:
        return to_e164(raw or "")
    except InvalidAddress:
        return None


def _call_attributes(form: dict[str, str], package: HandoffPackage | None) -> dict[str, object]:
    """The ``<Task>`` of an enqueued call: the handoff package and the call's own facts."""
    if package is not None:
        attributes = package.task_attributes()
        attributes["transcript"] = attributes["transcript"][-_TASK_LINES:]
    else:  # the conversation could not be asked: what the relay session handed over
        try:
            data = json.loads(form["HandoffData"])
        except ValueError:
            data = {"reason": form["HandoffData"]}
        attributes = {**(data if isinstance(data, dict) else {}), "channelType": "voice"}
        attributes.setdefault("name", form.get("From", ""))
        attributes.setdefault("from", form.get("From", ""))
    attributes.update(
        call_sid=form.get("CallSid"),
        to=form.get("To"),
        sessionId=form.get("SessionId"),
        sessionDuration=form.get("SessionDuration"),
    )
    return attributes


_TASK_LINES = 30  # a task's attributes stay small; the full transcript is in the API


@router.websocket(RELAY_PATH)
async def relay(websocket: WebSocket) -> None:
    """The ConversationRelay WebSocket (``/twilio/relay``); a bad upgrade signature gets 403."""
    state = websocket.app.state
    validator: SignatureValidator = state.validator
    if not validator.valid_relay(
        websocket.url.path, websocket.url.query, websocket.headers.get("x-twilio-signature")
    ):
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
