"""One ConversationRelay call: the socket, from ``setup`` to the close handshake.

The reader loop never waits on the model or on Temporal for anything but ``setup``, so an
``interrupt`` is acted on the moment it arrives: the stream is cancelled locally, the talk
cycle closed with an empty ``last`` token, and only then is the workflow told what the caller
heard. The session routes each frame to the part of the call that owns it:

- ``gateway.voice.turns`` — the turn pipeline: prompts planned, spoken and reported, one at
  a time in their own task, in the order the caller spoke;
- ``gateway.voice.keypad`` — keys gathered into one input before they become a prompt;
- ``gateway.voice.call_actions`` — call actions held until the caller has heard the reply.

Nothing reaches Temporal before ``setup`` is admitted (``gateway.voice.admission``: the
call's own relay token, our account); a refused ``setup`` closes the socket with 1008.

Frames are read and written as ``gateway.voice.frames`` defines them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import structlog
from fastapi import WebSocket

from gateway.conversations import ConversationGateway, TemporalUnavailable
from gateway.metrics import GatewayMetrics
from gateway.voice.admission import RelayAdmission
from gateway.voice.call_actions import CallActions
from gateway.voice.calls import LiveCalls
from gateway.voice.frames import (
    DtmfFrame,
    EndFrame,
    ErrorFrame,
    FrameWriter,
    InboundFrame,
    InfoFrame,
    InterruptFrame,
    PromptFrame,
    SetupFrame,
    parse_frame,
)
from gateway.voice.keypad import KeypadBuffer
from gateway.voice.llm_stream import ReplyStreamer
from gateway.voice.turn_knowledge import KnowledgeLookup
from gateway.voice.turns import TurnPipeline
from switchboard.contract.addresses import InvalidAddress, conversation_id, to_e164
from switchboard.contract.voice import LegEndReason, PromptKind, VoiceAction, VoiceLeg

log = structlog.get_logger(__name__)

UNAVAILABLE = "Sorry, we can't take your call right now. Please try again later."

_NORMAL_CLOSE = frozenset({1000, 1001})
_POLICY_VIOLATION = 1008


SETUP_DEADLINE = 10.0
"""Seconds a socket may stay open before its ``setup`` frame (Twilio sends it at once)."""


class RelaySession:
    """The state of one live ConversationRelay socket."""

    def __init__(
        self,
        ws: WebSocket,
        conversations: ConversationGateway,
        streamer: ReplyStreamer,
        calls: LiveCalls,
        gateway_queue: str,
        metrics: GatewayMetrics,
        admission: RelayAdmission,
        *,
        speculate: bool = True,
        knowledge: KnowledgeLookup | None = None,
        optimistic: bool = False,
    ) -> None:
        self._ws = ws
        self._admission = admission
        self._writer = FrameWriter(ws)
        self._calls = calls
        self._conversations = conversations
        self._streamer = streamer
        self._gateway_queue = gateway_queue
        self._metrics = metrics
        self._speculate = speculate
        self._optimistic = optimistic
        self._knowledge = knowledge
        self.leg: VoiceLeg | None = None
        self.ended: asyncio.Future[LegEndReason] = asyncio.get_running_loop().create_future()
        self._actions = CallActions(self._writer)
        self._keypad = KeypadBuffer(self._keyed)
        self._turns: TurnPipeline | None = None  # once the call is attached
        self.refused: str | None = None
        """Why ``setup`` was refused admission (the socket is then closed), if it was."""

    @property
    def call_sid(self) -> str | None:
        """The call this socket carries, once ``setup`` arrived."""
        return self.leg.call_sid if self.leg else None

    async def run(self) -> LegEndReason:
        """Serve the socket until it closes; returns how the leg ended."""
        reason = LegEndReason.DROPPED
        try:
            while True:
                if self.leg is None:  # a socket that never says who it is holds no slot long
                    try:
                        message = await asyncio.wait_for(self._ws.receive(), SETUP_DEADLINE)
                    except TimeoutError:
                        self.refused = "no setup in time"
                        log.warning("relay_setup_missing", seconds=SETUP_DEADLINE)
                        with contextlib.suppress(Exception):
                            await self._ws.close(code=_POLICY_VIOLATION)
                        break
                else:
                    message = await self._ws.receive()
                if message["type"] == "websocket.disconnect":
                    reason = _end_reason(message)
                    break
                raw = message.get("text")
                if raw is None and message.get("bytes") is not None:
                    raw = message["bytes"].decode("utf-8", "replace")
                frame = parse_frame(raw or "")
                self._metrics.relay_frames.labels(frame.type if frame else "invalid").inc()
                if frame is not None:
                    await self._on_frame(frame)
                if self.refused is not None:
                    break  # closed: not one more frame from whoever sent that setup
        except Exception:
            log.exception("relay_session_failed", call_sid=self.call_sid)
        finally:
            await self._wind_down()
            if not self.ended.done():
                self.ended.set_result(reason)
            if self.leg is not None:
                self._calls.remove(self.leg.call_sid, self, reason)
        log.info("call_ended", call_sid=self.call_sid, reason=str(reason))
        return reason

    async def perform(self, actions: list[VoiceAction]) -> None:
        """Send call actions now (the workflow's decision)."""
        await self._actions.perform(actions)

    async def _wind_down(self) -> None:
        """The socket closed: stop talking, but record the turn in hand and what was said.

        Keys not yet sent become a last prompt, recorded without an answer like the prompts
        still queued (see ``TurnPipeline.wind_down``).
        """
        self._writer.close()
        self._keypad.cancel()
        self._actions.cancel_pending()
        if self._turns is not None:
            self._keypad.flush()
            await self._turns.wind_down()

    async def _on_frame(self, frame: InboundFrame) -> None:
        if isinstance(frame, SetupFrame):
            await self._setup(frame)
        elif self._turns is None:
            log.warning("relay_frame_before_setup", type=frame.type)
        elif isinstance(frame, PromptFrame):
            if frame.last and frame.voice_prompt.strip():
                self._turns.queue_prompt(frame.voice_prompt, PromptKind.SPEECH, frame.lang)
        elif isinstance(frame, InterruptFrame):
            await self._turns.interrupt(frame)
        elif isinstance(frame, DtmfFrame):
            self._keypad.press(frame.digit)
        elif isinstance(frame, InfoFrame):
            self._actions.on_info(frame)
        elif isinstance(frame, ErrorFrame):
            log.warning("relay_error_from_twilio", call_sid=self.call_sid, error=frame.description)

    def _keyed(self, digits: str) -> None:
        assert self._turns is not None  # keys are taken only once the call is attached
        self._turns.queue_prompt(digits, PromptKind.DTMF)

    async def _setup(self, frame: SetupFrame) -> None:
        if self.leg is not None:
            log.info("relay_setup_repeated", call_sid=frame.call_sid)
            return
        refusal = self._admission.refusal(frame)
        if refusal is not None:
            self.refused = refusal
            with contextlib.suppress(Exception):  # the socket may already be gone
                await self._ws.close(code=_POLICY_VIOLATION)
            return
        try:
            customer = to_e164(frame.caller)
        except InvalidAddress:
            log.warning("relay_caller_unroutable", call_sid=frame.call_sid)
            await self._refuse()
            return
        ours = frame.business_number
        with contextlib.suppress(InvalidAddress):
            ours = to_e164(ours)
        leg = VoiceLeg(
            call_sid=frame.call_sid,
            session_id=frame.session_id,
            customer=customer,
            business_number=ours,
            gateway_queue=self._gateway_queue,
            direction=frame.direction.lower(),
            started_at=datetime.now(UTC),
        )
        structlog.contextvars.bind_contextvars(
            conversation_id=conversation_id(customer), call_sid=frame.call_sid
        )
        self.leg = leg
        self._calls.add(leg.call_sid, self)  # before the workflow's watcher can look for it
        try:
            await self._conversations.attach_call(leg)
        except TemporalUnavailable as exc:
            log.error("call_not_attached", error=str(exc))
            self._calls.remove(leg.call_sid, self, LegEndReason.UNKNOWN)
            self.leg = None
            await self._refuse()
            return
        log.info("call_attached", customer=customer, direction=leg.direction)
        self._turns = TurnPipeline(
            leg,
            self._writer,
            self._conversations,
            self._streamer,
            self._actions,
            self._metrics,
            speculate=self._speculate,
            knowledge=self._knowledge,
            optimistic=self._optimistic,
        )
        self._turns.start()

    async def _refuse(self) -> None:
        """Tell the caller we cannot take the call, and end the session."""
        await self._writer.say(UNAVAILABLE)
        await self._writer.send(EndFrame())


def _end_reason(disconnect: Mapping[str, Any]) -> LegEndReason:
    """A close handshake is a hang-up; a connection that just broke is a dropped leg.

    ASGI servers report a connection lost without a close frame as 1006, or as 1005 with no
    ``reason`` key (uvicorn's default protocol); a received close frame always carries one.
    """
    code = int(disconnect.get("code") or 1005)
    if code in _NORMAL_CLOSE or (code == 1005 and "reason" in disconnect):
        return LegEndReason.HANGUP
    return LegEndReason.DROPPED
