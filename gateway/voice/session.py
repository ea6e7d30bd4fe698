"""One ConversationRelay call: frames in, turns to the workflow, tokens out.

The reader loop never waits on the model or on Temporal for anything but ``setup``, so an
``interrupt`` is acted on the moment it arrives: the stream is cancelled locally, the talk
cycle closed with an empty ``last`` token, and only then is the workflow told what the caller
heard. Turns run one at a time in their own task, in the order the caller spoke.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import structlog
from fastapi import WebSocket
from temporalio.client import RPCTimeoutOrCancelledError, WorkflowUpdateFailedError
from temporalio.service import RPCError

from gateway.conversations import ConversationGateway, TemporalUnavailable
from gateway.metrics import GatewayMetrics
from gateway.voice.calls import LiveCalls
from gateway.voice.frames import (
    DtmfFrame,
    EndFrame,
    ErrorFrame,
    InboundFrame,
    InfoFrame,
    InterruptFrame,
    LanguageFrame,
    OutboundFrame,
    PromptFrame,
    SendDigitsFrame,
    SetupFrame,
    TextFrame,
    dump_frame,
    parse_frame,
)
from gateway.voice.knowledge import KnowledgeLookup, with_knowledge
from gateway.voice.llm_stream import ReplyStreamer, StreamedReply
from gateway.voice.speculation import KnownContext, Speculation
from switchboard.contract.addresses import InvalidAddress, conversation_id, to_e164
from switchboard.contract.llm import ToolCall
from switchboard.contract.voice import (
    LegEndReason,
    PromptKind,
    VoiceAction,
    VoiceFollowUp,
    VoiceInterrupt,
    VoiceLeg,
    VoiceOutcome,
    VoicePrompt,
    VoiceTurnPlan,
    spoken_text,
)

log = structlog.get_logger(__name__)

SORRY = "Sorry, I'm having trouble right now. Please bear with me and try again."
UNAVAILABLE = "Sorry, we can't take your call right now. Please try again later."

DTMF_QUIET_SECONDS = 1.2
"""Keys pressed within this long of each other are one input ('#' sends at once)."""
SPEECH_CHARS_PER_SECOND = 15.0
"""Estimated speaking rate, to hold ``end`` or digits until the caller has heard the reply."""
MAX_SPEECH_WAIT_SECONDS = 15.0
REPORT_GRACE_SECONDS = 10.0
"""After a hang-up, how long the turn in hand may take to be recorded by the workflow."""
_TEMPORAL_FAILURES = (
    TemporalUnavailable,
    WorkflowUpdateFailedError,
    RPCTimeoutOrCancelledError,
    RPCError,
)
_NORMAL_CLOSE = frozenset({1000, 1001})


class _Stage(Enum):
    PLANNING = "planning"
    STREAMING = "streaming"
    REPORTING = "reporting"
    DONE = "done"


@dataclass
class _Turn:
    prompt: VoicePrompt
    prompt_id: str
    received: float
    stage: _Stage = _Stage.PLANNING
    number: int | None = None
    text: str = ""
    heard: str | None = None
    late_heard: str | None = None
    stream: asyncio.Task[StreamedReply] | None = None
    last_token_at: float = field(default_factory=time.monotonic)
    planning: float = 0.0
    planned: float = 0.0


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
        *,
        speculate: bool = True,
        knowledge: KnowledgeLookup | None = None,
    ) -> None:
        self._ws = ws
        self._calls = calls
        self._conversations = conversations
        self._streamer = streamer
        self._gateway_queue = gateway_queue
        self._metrics = metrics
        self.leg: VoiceLeg | None = None
        self.ended: asyncio.Future[LegEndReason] = asyncio.get_running_loop().create_future()
        self._prompts: asyncio.Queue[_Turn] = asyncio.Queue()
        self._turn: _Turn | None = None
        self._last_spoken: _Turn | None = None
        self._digits = ""
        self._dtmf_flush: asyncio.Task[None] | None = None
        self._pending_actions: asyncio.Task[None] | None = None
        self._agent_quiet = asyncio.Event()
        self._speaking_events = False
        self._closing = False
        self._speculate = speculate
        self._knowledge = knowledge
        self._context: KnownContext | None = None
        self._turns_started = 0
        self._prefetch: asyncio.Task[None] | None = None

    @property
    def call_sid(self) -> str | None:
        """The call this socket carries, once ``setup`` arrived."""
        return self.leg.call_sid if self.leg else None

    # --- the socket -----------------------------------------------------------------------

    async def run(self) -> LegEndReason:
        """Serve the socket until it closes; returns how the leg ended."""
        turns = asyncio.create_task(self._run_turns())
        reason = LegEndReason.DROPPED
        try:
            while True:
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
        except Exception:
            log.exception("relay_session_failed", call_sid=self.call_sid)
        finally:
            await self._wind_down(turns)
            if not self.ended.done():
                self.ended.set_result(reason)
            if self.leg is not None:
                self._calls.remove(self.leg.call_sid, self, reason)
        log.info("call_ended", call_sid=self.call_sid, reason=str(reason))
        return reason

    async def _wind_down(self, turns: asyncio.Task[None]) -> None:
        """The socket closed: stop talking, but record the turn in hand and what was said.

        Prompts still queued (and keys not yet sent) are recorded without an answer, so a
        dropped call loses no word of the caller's; the workflow's follow-up can refer to it.
        """
        self._closing = True
        for task in (self._dtmf_flush, self._pending_actions, self._prefetch):
            if task is not None:
                task.cancel()
        if self.leg is not None:
            self._flush_digits()
        if self._turn is None and self._prompts.empty():
            turns.cancel()
        elif self._turn is not None and self._turn.stream is not None:
            self._turn.stream.cancel()
        done, _ = await asyncio.wait({turns}, timeout=REPORT_GRACE_SECONDS)
        if not done:
            turns.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await turns

    async def _send(self, frame: OutboundFrame | str) -> None:
        if self._closing:
            return  # nobody is listening any more
        await self._ws.send_text(frame if isinstance(frame, str) else dump_frame(frame))

    async def _say(self, text: str) -> None:
        with contextlib.suppress(Exception):  # the socket may already be gone
            await self._send(TextFrame(token=text, last=True))

    async def _on_frame(self, frame: InboundFrame) -> None:
        if isinstance(frame, SetupFrame):
            await self._setup(frame)
        elif self.leg is None:
            log.warning("relay_frame_before_setup", type=frame.type)
        elif isinstance(frame, PromptFrame):
            if frame.last and frame.voice_prompt.strip():
                self._queue_prompt(frame.voice_prompt, PromptKind.SPEECH, frame.lang)
        elif isinstance(frame, InterruptFrame):
            await self._interrupt(frame)
        elif isinstance(frame, DtmfFrame):
            self._key(frame.digit)
        elif isinstance(frame, InfoFrame):
            self._info(frame)
        elif isinstance(frame, ErrorFrame):
            log.warning("relay_error_from_twilio", call_sid=self.call_sid, error=frame.description)

    async def _setup(self, frame: SetupFrame) -> None:
        if self.leg is not None:
            log.info("relay_setup_repeated", call_sid=frame.call_sid)
            return
        try:
            customer = to_e164(frame.caller)
        except InvalidAddress:
            log.warning("relay_caller_unroutable", caller=frame.caller, call_sid=frame.call_sid)
            await self._say(UNAVAILABLE)
            await self._send(EndFrame())
            return
        ours = frame.from_ if frame.direction.lower().startswith("outbound") else frame.to
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
            await self._say(UNAVAILABLE)
            await self._send(EndFrame())
            return
        log.info("call_attached", customer=customer, direction=leg.direction)
        if self._speculate:  # so that even the first prompt can start the model at once
            self._prefetch = asyncio.create_task(self._prefetch_context(customer))

    async def _prefetch_context(self, customer: str) -> None:
        try:
            plan = await self._conversations.voice_context(customer)
        except Exception as exc:  # only an optimisation: the first turn just starts later
            log.info("voice_context_unavailable", error=str(exc))
            return
        if plan.respond and self._turns_started == 0:
            self._context = KnownContext(
                messages=list(plan.messages), tools=list(plan.tools), context=plan.context
            )

    # --- turns ----------------------------------------------------------------------------

    def _queue_prompt(self, text: str, kind: PromptKind, lang: str | None = None) -> None:
        assert self.leg is not None
        prompt = VoicePrompt(
            call_sid=self.leg.call_sid,
            text=text,
            kind=kind,
            lang=lang,
            received_at=datetime.now(UTC),
        )
        self._prompts.put_nowait(
            _Turn(prompt=prompt, prompt_id=uuid.uuid4().hex, received=time.perf_counter())
        )

    async def _run_turns(self) -> None:
        while not (self._closing and self._prompts.empty()):
            turn = await self._prompts.get()
            self._turn = turn
            try:
                await self._take_turn(turn)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("voice_turn_failed", prompt_id=turn.prompt_id)
            finally:
                self._turn = None

    async def _take_turn(self, turn: _Turn) -> None:
        """Plan with the workflow, speak the reply, report what the caller heard."""
        assert self.leg is not None
        planned = await self._plan(turn)
        if planned is None:
            return
        plan, speculation, knowledge = planned
        rounds = 0
        while True:
            follow_up = await self._speak_and_report(
                turn, with_knowledge(plan, knowledge), speculation, rounds
            )
            if follow_up is None:
                return
            if turn.late_heard is not None:
                await self._report_interrupt(turn, turn.late_heard)
                return
            if follow_up.next is None or self._closing:
                break
            # The workflow ran the model's tools: generate again with their results.
            plan, speculation, rounds = follow_up.next, None, rounds + 1
            turn.text, turn.heard = "", None
            self._context = None  # the next prompt's guess would miss the tool exchange
        if follow_up.actions and not self._closing:
            self._pending_actions = asyncio.create_task(
                self._perform_after_speech(turn, follow_up.actions)
            )

    async def _speak_and_report(
        self, turn: _Turn, plan: VoiceTurnPlan, speculation: Speculation | None, rounds: int
    ) -> VoiceFollowUp | None:
        """Speak one generation and tell the workflow; None if it could not be told."""
        assert self.leg is not None
        tool_calls, failed = await self._speak(turn, plan, speculation)
        turn.stage = _Stage.REPORTING
        outcome = VoiceOutcome(
            call_sid=self.leg.call_sid,
            turn=plan.turn,
            text=turn.text,
            interrupted=turn.heard is not None,
            heard=turn.heard,
            tool_calls=tool_calls if turn.heard is None and not self._closing else [],
            failed=failed,
        )
        report_id = f"{turn.prompt_id}-reply" + (f"-{rounds}" if rounds else "")
        try:
            follow_up = await self._conversations.report_voice_reply(
                self.leg.customer, outcome, report_id
            )
        except _TEMPORAL_FAILURES as exc:
            log.error("voice_reply_not_recorded", error=str(exc), turn=plan.turn)
            return None
        finally:
            turn.stage = _Stage.DONE
            self._last_spoken = turn
        if not failed and rounds == 0:
            self._context = KnownContext.after_turn(plan, turn.text, turn.heard)
        return follow_up

    async def _plan(self, turn: _Turn) -> tuple[VoiceTurnPlan, Speculation | None, str] | None:
        """Record the prompt and get the turn's plan; start the model early on a good guess.

        Knowledge for what the caller said is looked up meanwhile; it is returned beside the
        workflow's plan. None when there is nothing to say (the workflow said so, Temporal is
        unreachable, or the caller is gone).
        """
        assert self.leg is not None
        customer = self.leg.customer
        self._turns_started += 1
        context, self._context = self._context, None  # valid again only once this turn lands
        lookup = asyncio.create_task(self._lookup(spoken_text(turn.prompt)))
        speculation = None
        if self._speculate and context is not None and not self._closing:
            speculation = Speculation(
                self._streamer, conversation_id(customer), _guess(context, turn.prompt, lookup)
            )
        turn.planning = time.perf_counter()
        try:
            plan = await self._conversations.plan_voice_turn(customer, turn.prompt, turn.prompt_id)
            knowledge = await lookup
        except _TEMPORAL_FAILURES as exc:
            log.error("voice_turn_not_planned", error=str(exc))
            lookup.cancel()
            if speculation is not None:
                speculation.abandon()
            await self._say(SORRY)
            return None
        except asyncio.CancelledError:
            lookup.cancel()
            if speculation is not None:
                speculation.abandon()
            raise
        turn.planned = time.perf_counter()
        if speculation is not None and not speculation.confirmed_by(
            with_knowledge(plan, knowledge)
        ):
            log.info("speculation_abandoned", turn=plan.turn)
            self._metrics.voice_turns.labels("abandoned").inc()
            speculation.abandon()
            speculation = None
        else:
            self._metrics.voice_turns.labels("speculative" if speculation else "plain").inc()
        if not plan.respond or self._closing:
            if speculation is not None:
                speculation.abandon()
            return None  # recorded; nobody to answer
        return plan, speculation, knowledge

    async def _lookup(self, text: str) -> str:
        return await self._knowledge.block(text) if self._knowledge is not None else ""

    async def _speak(
        self, turn: _Turn, plan: VoiceTurnPlan, speculation: Speculation | None
    ) -> tuple[list[ToolCall], bool]:
        """Stream the reply into the socket; returns the tool calls and whether it failed."""
        assert self.leg is not None
        turn.number = plan.turn
        turn.stage = _Stage.STREAMING

        async def on_token(token: str) -> None:
            if turn.heard is not None:
                return  # interrupted: not one more token for this reply
            if not turn.text:
                self._first_token(turn, plan, speculative=speculation is not None)
            turn.text += token
            turn.last_token_at = time.monotonic()
            await self._send(_text_json(token))

        if speculation is not None:
            turn.stream = speculation.task  # an interrupt during the release cancels it
            await speculation.adopt(on_token)
        else:
            turn.stream = asyncio.create_task(
                self._streamer.stream(conversation_id(self.leg.customer), plan, on_token)
            )
        tool_calls: list[ToolCall] = []
        failed = False
        try:
            tool_calls = (await turn.stream).tool_calls
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # this turn itself is being stopped, not just its stream
        except Exception as exc:
            log.error("voice_stream_failed", error=str(exc), turn=plan.turn)
            failed = True
            if not turn.text:
                turn.text = SORRY
                await self._send(_text_json(SORRY))
        if turn.heard is None:  # an interrupt closed the cycle already
            await self._send(_text_json("", last=True))
        return tool_calls, failed

    def _first_token(self, turn: _Turn, plan: VoiceTurnPlan, *, speculative: bool) -> None:
        """Measure the turn: the caller waited from the prompt until now."""
        first = time.perf_counter()
        self._metrics.first_token_seconds.observe(first - turn.received)
        log.info(
            "voice_first_token",
            turn=plan.turn,
            total_ms=round((first - turn.received) * 1000, 2),
            queued_ms=round((turn.planning - turn.received) * 1000, 2),
            plan_update_ms=round((turn.planned - turn.planning) * 1000, 2),
            workflow_task_at_ms=_ms_between(turn.prompt.received_at, plan.decided_at),
            model_first_token_ms=round((first - turn.planned) * 1000, 2),
            speculative=speculative,
        )

    # --- interruptions --------------------------------------------------------------------

    async def _interrupt(self, frame: InterruptFrame) -> None:
        heard = frame.utterance_until_interrupt
        if self._pending_actions is not None:
            self._pending_actions.cancel()  # actions of a reply the caller talked over
        turn = self._turn
        if turn is not None and turn.stage is _Stage.STREAMING and turn.stream is not None:
            turn.heard = heard
            turn.stream.cancel()
            await self._send(_text_json("", last=True))
            log.info("reply_interrupted", turn=turn.number, heard=heard)
        elif turn is not None and turn.stage is _Stage.REPORTING:
            turn.late_heard = heard  # told to the workflow right after the report lands
        elif self._last_spoken is not None:
            await self._report_interrupt(self._last_spoken, heard)

    async def _report_interrupt(self, turn: _Turn, heard: str) -> None:
        assert self.leg is not None and turn.number is not None
        if self._context is not None:
            self._context = self._context.cut_last_reply(turn.text, heard)
        interrupt = VoiceInterrupt(call_sid=self.leg.call_sid, turn=turn.number, heard=heard)
        try:
            await self._conversations.report_interrupt(self.leg.customer, interrupt)
        except TemporalUnavailable as exc:
            log.error("interrupt_not_recorded", error=str(exc), turn=turn.number)

    # --- keypad and call actions ----------------------------------------------------------

    def _key(self, digit: str) -> None:
        self._digits += digit
        if self._dtmf_flush is not None:
            self._dtmf_flush.cancel()
        if digit == "#":
            self._flush_digits()
        else:
            self._dtmf_flush = asyncio.create_task(self._flush_digits_later())

    async def _flush_digits_later(self) -> None:
        await asyncio.sleep(DTMF_QUIET_SECONDS)
        self._flush_digits()

    def _flush_digits(self) -> None:
        digits, self._digits = self._digits, ""
        if digits:
            self._queue_prompt(digits, PromptKind.DTMF)

    def _info(self, frame: InfoFrame) -> None:
        if frame.name == "agentSpeaking":
            self._speaking_events = True
            if frame.value == "on":
                self._agent_quiet.clear()
            else:
                self._agent_quiet.set()

    async def _perform_after_speech(self, turn: _Turn, actions: list[VoiceAction]) -> None:
        """Hold digits and ``end`` until the caller has heard the reply, then send them.

        Words the workflow says itself (``say``, e.g. "connecting you" when the model handed
        off without a word) are spoken first, as part of the reply.
        """
        for action in [a for a in actions if a.kind == "say" and a.text]:
            assert action.text is not None
            await self._send(_text_json(action.text, last=True))
            turn.text += action.text
            turn.last_token_at = time.monotonic()
        actions = [a for a in actions if a.kind != "say"]
        estimate = min(MAX_SPEECH_WAIT_SECONDS, len(turn.text) / SPEECH_CHARS_PER_SECOND)
        await asyncio.sleep(max(0.0, turn.last_token_at + estimate - time.monotonic()))
        if self._speaking_events:  # Twilio reports playback: wait for the real end of it
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(MAX_SPEECH_WAIT_SECONDS):
                    await self._agent_quiet.wait()
        await self.perform(actions)

    async def perform(self, actions: list[VoiceAction]) -> None:
        """Send call actions now (the workflow's decision)."""
        for action in actions:
            if action.kind == "language" and action.language:
                language = action.language
                await self._send(
                    LanguageFrame(tts_language=language, transcription_language=language)
                )
            elif action.kind == "send_digits" and action.digits:
                await self._send(SendDigitsFrame(digits=action.digits))
            elif action.kind == "end":
                await self._send(EndFrame(handoff_data=action.handoff_data))
            log.info("call_action", kind=action.kind)


def _end_reason(disconnect: Mapping[str, Any]) -> LegEndReason:
    """A close handshake is a hang-up; a connection that just broke is a dropped leg.

    ASGI servers report a connection lost without a close frame as 1006, or as 1005 with no
    ``reason`` key (uvicorn's default protocol); a received close frame always carries one.
    """
    code = int(disconnect.get("code") or 1005)
    if code in _NORMAL_CLOSE or (code == 1005 and "reason" in disconnect):
        return LegEndReason.HANGUP
    return LegEndReason.DROPPED


def _ms_between(start: datetime, end: datetime | None) -> float | None:
    return round((end - start).total_seconds() * 1000, 2) if end else None


def _text_json(token: str, last: bool = False) -> str:
    # Built by hand: this is on every token's path and needs no validation.
    return json.dumps({"type": "text", "token": token, "last": last})


async def _guess(
    context: KnownContext, prompt: VoicePrompt, knowledge: Awaitable[str]
) -> VoiceTurnPlan:
    """The plan the workflow will most likely decide, with this prompt's knowledge."""
    return with_knowledge(context.guess(prompt), await knowledge)
