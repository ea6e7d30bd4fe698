"""Twilio Voice: the incoming-call webhook, the ConversationRelay socket, the action callback."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import structlog
from fastapi import APIRouter, Response, WebSocket

from gateway.dependencies import (
    AgentDep,
    ConversationsDep,
    MetricsDep,
    RelaySlotsDep,
    SettingsDep,
    SignedForm,
    StoreDep,
)
from gateway.signature import SignatureValidator
from gateway.voice.admission import RelayAdmission
from gateway.voice.calls import RelaySlots
from gateway.voice.session import RelaySession
from switchboard.contract.addresses import InvalidAddress, to_e164
from switchboard.contract.handoff import HandoffPackage
from switchboard.runtime.config import Settings
from switchboard.twilio.relay_token import RELAY_TOKEN_PARAMETER, RelayBinding, RelayTokens
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

CALL_SCOPE = "inbound-call"
"""The request-key scope of answered ``/twilio/voice`` ``CallSid``s."""
SESSION_SCOPE = "relay-session"
"""The request-key scope of broken relay sessions answered with a reconnect."""


def _twiml(document: str) -> Response:
    return Response(content=document, media_type="text/xml")


@router.post("/twilio/voice")
async def incoming_call(
    form: SignedForm,
    settings: SettingsDep,
    metrics: MetricsDep,
    agent: AgentDep,
    slots: RelaySlotsDep,
    store: StoreDep,
) -> Response:
    """An incoming call: connect it to our ConversationRelay socket (or say we are busy).

    Each ``CallSid`` is answered once (kept in the shared store for ``INBOUND_DEDUP_TTL``):
    a captured webhook replayed later would otherwise mint a fresh relay token for that
    call's caller. A repeat is hung up.
    """
    if slots.full:
        return _lines_busy(form, "voice", metrics, slots)
    call_sid = form.get("CallSid", "")
    now = datetime.now(UTC)
    repeated = (
        call_sid
        and await store.claim_request_key(
            CALL_SCOPE, call_sid, "", now=now, expires_at=now + settings.inbound_dedup_ttl
        )
        is not None
    )
    if repeated:
        metrics.webhooks.labels("voice", "duplicate").inc()
        log.warning("call_webhook_repeated", call_sid=call_sid)
        return _twiml(hangup_twiml())
    metrics.webhooks.labels("voice", "accepted").inc()
    log.info("call_incoming", call_sid=form.get("CallSid"), direction=form.get("Direction"))
    return _twiml(_relay_twiml(form, settings, VoiceOptions.from_settings(settings, agent)))


def _relay_twiml(form: dict[str, str], settings: Settings, options: VoiceOptions) -> str:
    """The call's ConversationRelay TwiML, with the token that admits its socket's ``setup``.

    Minted here because this request is signed: the ``CallSid`` and numbers are Twilio's,
    so the socket can be held to them (``gateway.voice.admission``).
    """
    outbound = _outbound(form)
    binding = RelayBinding(
        call_sid=form.get("CallSid", ""),
        customer=form.get("To" if outbound else "From", ""),
        outbound=outbound,
    )
    token = RelayTokens.from_settings(settings).mint(binding)
    return connect_relay_twiml(settings.public_base_url, options, {RELAY_TOKEN_PARAMETER: token})


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
    slots: RelaySlotsDep,
    store: StoreDep,
) -> Response:
    """The ``<Connect action>`` callback: the relay session is over.

    After a handoff (``HandoffData``) the call goes to a human: ``<Enqueue>`` into the
    TaskRouter workflow with the handoff package as the task. If the session broke while the
    caller is still connected (a gateway died, the socket dropped), answer with fresh
    ConversationRelay TwiML: the call comes back on a live gateway, on the same
    conversation. Otherwise the call ends. A gateway with no call to spare says so and
    ends the call rather than send it back to a socket it would turn away.
    """
    if form.get("HandoffData"):
        metrics.webhooks.labels("voice_action", "handoff").inc()
        return _twiml(await _enqueue_for_human(form, settings, conversations))
    reconnect = _session_broke(form)
    if reconnect and slots.full:
        return _lines_busy(form, "voice_action", metrics, slots)
    metrics.webhooks.labels("voice_action", "reconnect" if reconnect else "accepted").inc()
    log.info(
        "relay_session_finished",
        call_sid=form.get("CallSid"),
        session_status=form.get("SessionStatus"),
        error_code=form.get("ErrorCode"),
        handoff=bool(form.get("HandoffData")),
        reconnect=reconnect,
    )
    if reconnect and await _repeated_session(form, settings, store):
        metrics.webhooks.labels("voice_action", "duplicate").inc()
        log.warning("relay_action_repeated", call_sid=form.get("CallSid"))
        return _twiml(hangup_twiml())
    if reconnect:
        options = VoiceOptions.from_settings(settings, agent)
        options = replace(options, welcome_greeting=settings.voice_reconnect_greeting or None)
        return _twiml(_relay_twiml(form, settings, options))  # a fresh token for the new socket
    return _twiml(hangup_twiml())


async def _repeated_session(form: dict[str, str], settings: Settings, store: StoreDep) -> bool:
    """Whether this broken session's callback was answered before (a replay: no new token).

    A session ends once, so its ``CallSid`` and ``SessionId`` are answered once; a captured
    callback replayed later would otherwise mint a fresh relay token for the caller.
    """
    session = f"{form.get('CallSid', '')}/{form.get('SessionId', '')}"
    now = datetime.now(UTC)
    earlier = await store.claim_request_key(
        SESSION_SCOPE, session, "", now=now, expires_at=now + settings.inbound_dedup_ttl
    )
    return earlier is not None


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
LINES_BUSY = "Sorry, all our lines are busy right now. Please call again in a few minutes."


def _lines_busy(
    form: dict[str, str], route: str, metrics: MetricsDep, slots: RelaySlots
) -> Response:
    """Every call this gateway may hold is up: tell the caller, instead of a socket refused."""
    metrics.webhooks.labels(route, "busy").inc()
    log.warning("call_turned_away", call_sid=form.get("CallSid"), calls=slots.in_use)
    return _twiml(say_and_hang_up_twiml(LINES_BUSY))


def _outbound(form: dict[str, str]) -> bool:
    """A call we placed (``outbound-api``, ``outbound-dial``): the customer is ``To``."""
    return form.get("Direction", "").lower().startswith("outbound")


def _caller(form: dict[str, str]) -> str | None:
    """The customer on the call: the caller, or the callee of an outbound call."""
    raw = form.get("To") if _outbound(form) else form.get("From")
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
        except (ValueError, RecursionError):  # RecursionError: nested deeper than json goes
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
    """The ConversationRelay WebSocket (``/twilio/relay``).

    A bad upgrade signature gets 403; a socket over ``GATEWAY_MAX_CALLS`` gets 503 (both
    before the upgrade is accepted). Frames over ``RELAY_FRAME_LIMIT`` are refused by the
    server itself, which closes the socket with 1009. A ``setup`` without its call's relay
    token (or for another account) closes the socket with 1008 before anything reaches
    Temporal (``gateway.voice.admission``).
    """
    state = websocket.app.state
    validator: SignatureValidator = state.validator
    if not validator.valid_relay(
        websocket.url.path, websocket.url.query, websocket.headers.get("x-twilio-signature")
    ):
        state.metrics.relay_sessions.labels("refused").inc()
        log.warning("relay_signature_invalid", path=websocket.url.path)
        await websocket.close(code=1008)  # before accept: the upgrade is answered 403
        return
    slots: RelaySlots = state.relay_slots
    if not slots.take():
        state.metrics.relay_sessions.labels("busy").inc()
        log.warning("relay_turned_away", calls=slots.in_use)
        await _turn_away(websocket)
        return
    try:
        await websocket.accept()
        state.metrics.relay_sessions.labels("accepted").inc()
        session = RelaySession(
            websocket, state.conversations, state.streamer, state.calls, state.gateway_queue,
            state.metrics, _admission(websocket),
            speculate=state.settings.voice_speculative_start, knowledge=state.knowledge,
            optimistic=state.settings.voice_release == "optimistic",
        )  # fmt: skip
        reason = await session.run()
        outcome = "unauthorized" if session.refused is not None else str(reason)
        state.metrics.relay_sessions.labels(outcome).inc()
    finally:
        slots.give_back()


def _admission(websocket: WebSocket) -> RelayAdmission:
    """The process's admission (its used tokens), made on the first socket."""
    state = websocket.app.state
    admission = getattr(state, "relay_admission", None)
    if not isinstance(admission, RelayAdmission):
        admission = state.relay_admission = RelayAdmission.from_settings(state.settings)
    return admission


async def _turn_away(websocket: WebSocket) -> None:
    """Refuse an upgrade with 503; where the server cannot, close with 1013 (try again later)."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        busy = Response(status_code=503, headers={"Retry-After": "5"})
        await websocket.send_denial_response(busy)
    else:
        await websocket.close(code=1013)  # before accept: the server answers 403
