"""The turn pipeline of one call: each thing the caller said, planned, spoken and reported.

Turns run one at a time, in the order the caller spoke: planning (the ``voice_prompt``
update, while knowledge is looked up and, on a good guess, the model has already started:
``gateway.voice.speculation``), streaming (tokens to the socket as they come), reporting
(the ``voice_reply`` update: what the caller was told; it answers with another generation
after tool calls, and with call actions to send once the reply has been heard).

An ``interrupt`` is acted on the moment the reader loop sees it, whatever the turn's stage:
a stream is cancelled locally and its talk cycle closed; a reply being reported is cut once
the report lands; an earlier reply is cut with the ``voice_interrupted`` signal.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from datetime import UTC, datetime

import structlog
from temporalio.client import RPCTimeoutOrCancelledError, WorkflowUpdateFailedError
from temporalio.service import RPCError

from gateway.conversations import ConversationGateway, TemporalUnavailable
from gateway.metrics import GatewayMetrics
from gateway.voice.call_actions import CallActions
from gateway.voice.frames import FrameWriter, InterruptFrame, text_json
from gateway.voice.llm_stream import ReplyStreamer, StreamedReply, TokenSink
from gateway.voice.speculation import KnownContext, Speculation
from gateway.voice.turn_knowledge import KnowledgeLookup, with_knowledge
from gateway.voice.turn_state import Stage, Turn, record_first_token
from switchboard.contract.addresses import conversation_id
from switchboard.contract.voice import (
    PromptKind,
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
REPORT_GRACE_SECONDS = 10.0
"""After a hang-up, how long the turn in hand may take to be recorded by the workflow."""
OPTIMISTIC_HEAD_START = 0.005
"""Optimistic release: at most this long the model's request may leave before the update."""
MAX_QUEUED_PROMPTS = 4
"""Prompts that may wait behind the turn in hand: each costs an update and a model request,
so a caller who keeps talking pushes out the oldest, and the turns answer what came last."""
_TEMPORAL_FAILURES = (
    TemporalUnavailable,
    WorkflowUpdateFailedError,
    RPCTimeoutOrCancelledError,
    RPCError,
)


class TurnPipeline:
    """The turns of one attached call leg, from the caller's prompt to the workflow's record.

    Prompts are queued by the session (speech) and the keypad buffer (keys); ``start``
    runs them. Everything the caller hears goes through ``writer``; once it is closed the
    call is over, and queued prompts are still recorded, but not answered.
    """

    def __init__(
        self,
        leg: VoiceLeg,
        writer: FrameWriter,
        conversations: ConversationGateway,
        streamer: ReplyStreamer,
        actions: CallActions,
        metrics: GatewayMetrics,
        *,
        speculate: bool,
        knowledge: KnowledgeLookup | None,
        optimistic: bool = False,
    ) -> None:
        """Nothing runs before ``start``.

        Args:
            leg: The call leg, attached to its conversation.
            writer: The call's socket.
            conversations: The workflow's side of every turn.
            streamer: The model.
            actions: Where a follow-up's call actions go.
            metrics: Turn counts and time to first token.
            speculate: Start the model on a guessed plan (see ``gateway.voice.speculation``).
            knowledge: Knowledge lookup for what the caller says, if there is a store.
            optimistic: Speak a guessed reply at once, before the workflow confirms the
                plan (``VOICE_RELEASE=optimistic``); a wrong guess is cut as on an interrupt.
        """
        self._leg = leg
        self._writer = writer
        self._conversations = conversations
        self._streamer = streamer
        self._actions = actions
        self._metrics = metrics
        self._speculate = speculate
        self._optimistic = optimistic
        self._knowledge = knowledge
        self._prompts: asyncio.Queue[Turn] = asyncio.Queue()
        self._turn: Turn | None = None
        self._last_spoken: Turn | None = None
        self._context: KnownContext | None = None
        self._turns_started = 0
        self._runner: asyncio.Task[None] | None = None
        self._prefetch: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Run turns as prompts come; prefetch the model's view for a speculative start."""
        self._runner = asyncio.create_task(self._run_turns())
        if self._speculate:  # so that even the first prompt can start the model at once
            self._prefetch = asyncio.create_task(self._prefetch_context())

    def queue_prompt(self, text: str, kind: PromptKind, lang: str | None = None) -> None:
        """Queue what the caller said (or keyed) as the next turn.

        At most ``MAX_QUEUED_PROMPTS`` wait: a prompt over the cap pushes out the oldest
        waiting one, which is never planned, answered or recorded (logged and counted).
        """
        prompt = VoicePrompt(
            call_sid=self._leg.call_sid,
            text=text,
            kind=kind,
            lang=lang,
            received_at=datetime.now(UTC),
        )
        if self._prompts.qsize() >= MAX_QUEUED_PROMPTS:
            dropped = self._prompts.get_nowait().prompt
            self._metrics.voice_turns.labels("dropped").inc()
            # Its kind and size only: the words are the caller's.
            log.warning("voice_prompt_dropped", kind=dropped.kind, size=len(dropped.text))
        self._prompts.put_nowait(
            Turn(prompt=prompt, prompt_id=uuid.uuid4().hex, received=time.perf_counter())
        )

    async def wind_down(self) -> None:
        """The socket closed: stop talking, but record the turn in hand and what was said.

        Prompts still queued are recorded without an answer, so a dropped call loses no word
        of the caller's; the workflow's follow-up can refer to it. Call ``writer.close()``
        first: a closed writer is what tells the turns the caller is gone.
        """
        if self._prefetch is not None:
            self._prefetch.cancel()
        if self._runner is None:
            return
        if self._turn is None and self._prompts.empty():
            self._runner.cancel()
        elif self._turn is not None and self._turn.stream is not None:
            self._turn.stream.cancel()
        done, _ = await asyncio.wait({self._runner}, timeout=REPORT_GRACE_SECONDS)
        if not done:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner

    async def _prefetch_context(self) -> None:
        try:
            plan = await self._conversations.voice_context(self._leg.customer)
        except Exception as exc:  # only an optimisation: the first turn just starts later
            log.info("voice_context_unavailable", error=str(exc))
            return
        if plan.respond and self._turns_started == 0:
            self._context = KnownContext(
                messages=list(plan.messages), tools=list(plan.tools), context=plan.context
            )

    # --- one turn at a time ---------------------------------------------------------------

    async def _run_turns(self) -> None:
        while not (self._writer.closed and self._prompts.empty()):
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

    async def _take_turn(self, turn: Turn) -> None:
        """Plan with the workflow, speak the reply, report what the caller heard."""
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
            if follow_up.next is None or self._writer.closed:
                break
            # The workflow ran the model's tools: generate again with their results.
            plan, speculation, rounds = follow_up.next, None, rounds + 1
            turn.text, turn.heard = "", None
            self._context = None  # the next prompt's guess would miss the tool exchange
        if follow_up.actions and not self._writer.closed:
            self._actions.after_speech(turn, follow_up.actions)

    async def _speak_and_report(
        self, turn: Turn, plan: VoiceTurnPlan, speculation: Speculation | None, rounds: int
    ) -> VoiceFollowUp | None:
        """Speak one generation and tell the workflow; None if it could not be told."""
        streamed, failed = await self._speak(turn, plan, speculation)
        turn.stage = Stage.REPORTING
        heard_whole = turn.heard is None and not self._writer.closed
        outcome = VoiceOutcome(
            call_sid=self._leg.call_sid,
            turn=plan.turn,
            text=turn.text,
            interrupted=turn.heard is not None,
            heard=turn.heard,
            tool_calls=streamed.tool_calls if heard_whole else [],
            failed=failed,
            tokens=streamed.usage,
        )
        report_id = f"{turn.prompt_id}-reply" + (f"-{rounds}" if rounds else "")
        try:
            follow_up = await self._conversations.report_voice_reply(
                self._leg.customer, outcome, report_id
            )
        except _TEMPORAL_FAILURES as exc:
            log.error("voice_reply_not_recorded", error=str(exc), turn=plan.turn)
            return None
        finally:
            turn.stage = Stage.DONE
            self._last_spoken = turn
        if not failed and rounds == 0:
            self._context = KnownContext.after_turn(plan, turn.text, turn.heard)
        return follow_up

    async def _plan(self, turn: Turn) -> tuple[VoiceTurnPlan, Speculation | None, str] | None:
        """Record the prompt and get the turn's plan; start the model early on a good guess.

        Knowledge for what the caller said is looked up meanwhile; it is returned beside the
        workflow's plan. None when there is nothing to say (the workflow said so, Temporal is
        unreachable, or the caller is gone).
        """
        customer = self._leg.customer
        self._turns_started += 1
        context, self._context = self._context, None  # valid again only once this turn lands
        lookup = asyncio.create_task(self._lookup(spoken_text(turn.prompt)))
        speculation = None
        if self._speculate and context is not None and not self._writer.closed:
            speculation = Speculation(
                self._streamer,
                conversation_id(customer),
                context.guess_with_knowledge(turn.prompt, lookup),
            )
        turn.planning = time.perf_counter()
        if speculation is not None and self._optimistic:
            # The caller hears the guess while the update records the prompt and decides.
            turn.stage, turn.stream = Stage.STREAMING, speculation.task
            await speculation.adopt(self._token_sink(turn, None, speculative=True))
            # Let the model's request leave before the update's own work (ms at most).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(speculation.requesting.wait(), OPTIMISTIC_HEAD_START)
        try:
            plan = await self._conversations.plan_voice_turn(customer, turn.prompt, turn.prompt_id)
            knowledge = await lookup
        except _TEMPORAL_FAILURES as exc:
            log.error("voice_turn_not_planned", error=str(exc))
            lookup.cancel()
            if speculation is not None:
                speculation.abandon()
                await self._retract(turn)
            await self._writer.say(SORRY)
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
            await self._retract(turn)
        else:
            self._metrics.voice_turns.labels("speculative" if speculation else "plain").inc()
        if not plan.respond or self._writer.closed:
            if speculation is not None:
                speculation.abandon()
                await self._retract(turn)
            return None  # recorded; nobody to answer
        return plan, speculation, knowledge

    async def _retract(self, turn: Turn) -> None:
        """Stop a guess already being spoken (optimistic release): close its talk cycle.

        What the caller heard of it stays in ``turn.text``; when the workflow's plan has a
        reply it follows, and the turn is recorded with both, as they were heard.
        """
        turn.stage, turn.stream = Stage.PLANNING, None
        if turn.text and turn.heard is None and not self._writer.closed:
            self._metrics.voice_turns.labels("retracted").inc()
            log.info("optimistic_reply_retracted", size=len(turn.text))
            await self._writer.send(text_json("", last=True))

    async def _lookup(self, text: str) -> str:
        return await self._knowledge.block(text) if self._knowledge is not None else ""

    async def _speak(
        self, turn: Turn, plan: VoiceTurnPlan, speculation: Speculation | None
    ) -> tuple[StreamedReply, bool]:
        """Stream the reply into the socket; returns what the model gave and whether it failed."""
        turn.number = plan.turn
        turn.stage = Stage.STREAMING
        on_token = self._token_sink(turn, plan, speculative=speculation is not None)
        if speculation is not None:
            turn.stream = speculation.task  # an interrupt during the release cancels it
            await speculation.adopt(on_token)
        else:
            turn.stream = asyncio.create_task(
                self._streamer.stream(conversation_id(self._leg.customer), plan, on_token)
            )
        streamed, failed = StreamedReply(), False
        try:
            streamed = await turn.stream
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # this turn itself is being stopped, not just its stream
        except Exception as exc:
            log.error("voice_stream_failed", error=str(exc), turn=plan.turn)
            failed = True
            if not turn.text:
                turn.text = SORRY
                await self._writer.send(text_json(SORRY))
        if turn.heard is None:  # an interrupt closed the cycle already
            await self._writer.send(text_json("", last=True))
        return streamed, failed

    def _token_sink(
        self, turn: Turn, plan: VoiceTurnPlan | None, *, speculative: bool
    ) -> TokenSink:
        """Where the reply's tokens go: the socket, and ``turn.text`` (what was said)."""

        async def on_token(token: str) -> None:
            if turn.heard is not None:
                return  # interrupted: not one more token for this reply
            if not turn.text:
                record_first_token(self._metrics, turn, plan, speculative)
            turn.text += token
            turn.last_token_at = time.monotonic()
            await self._writer.send(text_json(token))

        return on_token

    # --- interruptions --------------------------------------------------------------------

    async def interrupt(self, frame: InterruptFrame) -> None:
        """The caller barged in: stop or cut the reply they talked over, whatever its stage."""
        heard = frame.utterance_until_interrupt
        self._actions.cancel_pending()  # actions of a reply the caller talked over
        turn = self._turn
        if turn is not None and turn.stage is Stage.STREAMING and turn.stream is not None:
            turn.heard = heard
            turn.stream.cancel()
            await self._writer.send(text_json("", last=True))
            log.info("reply_interrupted", turn=turn.number, heard=heard)
        elif turn is not None and turn.stage is Stage.REPORTING:
            turn.late_heard = heard  # told to the workflow right after the report lands
        elif self._last_spoken is not None:
            await self._report_interrupt(self._last_spoken, heard)

    async def _report_interrupt(self, turn: Turn, heard: str) -> None:
        assert turn.number is not None
        if self._context is not None:
            self._context = self._context.cut_last_reply(turn.text, heard)
        interrupt = VoiceInterrupt(call_sid=self._leg.call_sid, turn=turn.number, heard=heard)
        try:
            await self._conversations.report_interrupt(self._leg.customer, interrupt)
        except TemporalUnavailable as exc:
            log.error("interrupt_not_recorded", error=str(exc), turn=turn.number)
