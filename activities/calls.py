"""Outbound calls: ``place_call`` places a call answered by our ConversationRelay socket.

Exactly once works like the message outbox: the call is claimed under its idempotency key
(prefixed, so a call's key never meets a message's in the shared outbox) before the request
leaves; a retry that finds it placed returns the recorded SID, and one that finds it begun
without an answer asks Twilio (``find_call``) before placing it again. Twilio's refusals
are classed by :func:`switchboard.twilio.failures.classify_twilio_error`.
"""

from __future__ import annotations

import dataclasses

import httpx
import structlog
from temporalio import activity

from activities.heartbeat import heartbeating
from switchboard.agent import Agent
from switchboard.contract.names import PLACE_CALL_ACTIVITY
from switchboard.contract.outbound import PlaceCallRequest, PlacedCall
from switchboard.runtime.config import Settings
from switchboard.runtime.outbox import Outbox
from switchboard.twilio.failures import classify_twilio_error, outbox_note, twilio_unreachable
from switchboard.twilio.relay_token import RELAY_TOKEN_PARAMETER, RelayBinding, RelayTokens
from switchboard.twilio.rest import TwilioError, TwilioRestClient, utc_from_timestamp
from switchboard.twilio.twiml import VoiceOptions, connect_relay_twiml

log = structlog.get_logger(__name__)

OUTBOUND_GREETING = "Hello! This is a call about {purpose}. Is now a good time?"
"""What an outbound call (a callback, an operator's call) opens with."""

_CALL_PREFIX = "call:"


class CallActivities:
    """Activities that place outbound calls, over one worker's REST client and outbox.

    The call's TwiML connects it to ``{PUBLIC_BASE_URL}``'s ConversationRelay socket with
    the agent's voice (``VoiceOptions``), opening with why we are calling, and carries the
    relay token that admits the callee's socket (``switchboard.twilio.relay_token``).
    """

    def __init__(
        self,
        settings: Settings,
        rest: TwilioRestClient,
        outbox: Outbox,
        agent: Agent | None = None,
    ) -> None:
        self._rest = rest
        self._outbox = outbox
        self._public_base_url = settings.public_base_url
        self._voice = VoiceOptions.from_settings(settings, agent)
        self._tokens = RelayTokens.from_settings(settings)

    @activity.defn(name=PLACE_CALL_ACTIVITY)
    async def place_call(self, request: PlaceCallRequest) -> PlacedCall:
        """Place an outbound call answered by our ConversationRelay; never twice per key."""
        key = _CALL_PREFIX + request.idempotency_key
        bound = log.bind(conversation_id=request.conversation_id, key=request.idempotency_key)
        record = await self._outbox.claim(
            key, request.conversation_id, request.to, request.from_, request.purpose or ""
        )
        if record.state == "sent" and record.sid:
            bound.info("call_deduplicated", sid=record.sid)
            return PlacedCall(
                sid=record.sid, status=record.twilio_status or "queued", deduplicated=True
            )
        try:
            if record.state == "sending":
                # An earlier attempt left without an answer: did Twilio place the call?
                found = await self._rest.find_call(
                    request.to, request.from_, utc_from_timestamp(record.claimed_at)
                )
                if found is not None:
                    await self._outbox.mark_sent(key, found.sid, found.status)
                    bound.info("call_recovered", sid=found.sid)
                    return PlacedCall(sid=found.sid, status=found.status, deduplicated=True)
            async with heartbeating(1.0):
                call = await self._rest.create_call(
                    {"To": request.to, "From": request.from_, "Twiml": self._twiml(request)}
                )
        except TwilioError as exc:
            error = classify_twilio_error(exc)
            if error.non_retryable:
                await self._outbox.mark_failed(key, outbox_note(exc))
            raise error from exc
        except httpx.TransportError as exc:
            raise twilio_unreachable(exc) from exc
        await self._outbox.mark_sent(key, call.sid, call.status)
        bound.info("call_placed", sid=call.sid, attempt=activity.info().attempt)
        return PlacedCall(sid=call.sid, status=call.status)

    def _twiml(self, request: PlaceCallRequest) -> str:
        # No CallSid before Twilio places the call: the token is bound to a nonce and the
        # callee, and each attempt's TwiML carries its own.
        token = self._tokens.mint(RelayBinding(call_sid=None, customer=request.to, outbound=True))
        parameters = {RELAY_TOKEN_PARAMETER: token}
        if request.purpose:
            parameters["purpose"] = request.purpose
        # Our call, not theirs: open with why we are calling, not "how can I help?".
        greeting = OUTBOUND_GREETING.format(purpose=request.purpose or "your request")
        voice = dataclasses.replace(self._voice, welcome_greeting=greeting)
        return connect_relay_twiml(self._public_base_url, voice, parameters)
