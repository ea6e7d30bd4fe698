"""``ConversationWorkflow``: one long-running workflow per customer, across channels.

The story of a run: customer messages arrive as signals and are recorded at once (deduplicated
by ``MessageSid``); the main loop takes one turn at a time — generate a reply, send it — and
waits otherwise. Texts that arrive within the batch window of each other are answered by one
turn: a draft reply is generated as soon as the first text arrives and regenerated if another
text follows before the window is quiet, so batching costs nothing when the model is slower
than the window. After ``idle_timeout`` without activity the conversation closes. Handlers
only record; all side effects happen in ``run``.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.delivery import DeliveryActivities
    from activities.llm import LLMActivities
    from switchboard import errors
    from switchboard.addresses import Channel, channel_address
    from switchboard.models import (
        ChatMessage,
        CloseRequest,
        ConversationInput,
        ConversationState,
        ConversationStatus,
        ConversationView,
        DeliveryFailure,
        DeliveryStatusUpdate,
        InboundMessage,
        LLMReply,
        LLMRequest,
        Role,
        SendMessageRequest,
        SendMessageResult,
    )
    from switchboard.tools import TEXT_TOOLS
    from switchboard.voice import VoiceLeg
    from workflows import search_attributes as sa
    from workflows import state_ops
    from workflows.memory import ConversationMemory
    from workflows.policies import (
        DELIVERY_ACTIVITY,
        DELIVERY_LOCAL_ACTIVITY,
        LLM_ACTIVITY,
        LLM_LOCAL_ACTIVITY,
    )
    from workflows.voice_legs import VoiceLegs

INBOUND_MESSAGE_SIGNAL = "inbound_message"
"""Name of the signal that carries a customer message (used by signal-with-start)."""

ACTIVITY_FAILURES = (ActivityError, ApplicationError)
"""How a failed activity surfaces: regular ones wrap the cause, local ones raise it as is."""

MAX_TOOL_ROUNDS = 3
"""Model calls per turn that may use tools; the last call must answer in words."""

FALLBACK_REPLY = "Sorry, I'm having trouble answering right now. Please try again in a moment."


@workflow.defn
class ConversationWorkflow(ConversationMemory, VoiceLegs):
    """A customer's conversation. Signals: ``inbound_message``, ``delivery_status``, ``close``.

    Voice (see ``workflows.voice_legs``): signals ``voice_call_started`` and
    ``voice_interrupted``, updates ``voice_prompt`` and ``voice_reply``.
    Query ``describe`` for status, channels and transcript. From the Temporal CLI::

        temporal workflow signal -w conv-+14155550100 --name close --input '{"reason": "done"}'
    """

    @workflow.init
    def __init__(self, input: ConversationInput) -> None:
        self._cfg = input.config
        self._state = input.state or ConversationState(customer=input.customer)
        self._close_reason: str | None = None
        self._inbound_seq = 0
        self._idle = False
        self._published: tuple[object, ...] | None = None
        self._legs: dict[str, VoiceLeg] = {}
        self._ended_calls: list[str] = []
        self._sessions: list[str] = []
        self._leg_recalls = 0

    # --- the story ----------------------------------------------------------------------

    @workflow.run
    async def run(self, input: ConversationInput) -> ConversationView:
        """Answer the customer turn by turn until the conversation goes idle or is closed."""
        if self._state.started_at is None:
            self._state.started_at = workflow.now()
        self._publish()
        idle_watch = asyncio.create_task(self._watch_idle())
        while True:
            await workflow.wait_condition(
                lambda: (
                    bool(self._state.pending)
                    or self._close_reason is not None
                    or self._idle
                    or self._should_continue_as_new()
                )
            )
            if self._state.pending and self._close_reason is None:
                await self._take_turn()
            elif self._close_reason is not None:
                break
            elif self._idle:
                if self._idle_remaining() <= timedelta(0):
                    break
                # The idle timer fired as a text arrived: the conversation lives on.
                self._idle = False
                idle_watch = asyncio.create_task(self._watch_idle())
            elif self._should_continue_as_new():
                await self._continue_as_new()
        idle_watch.cancel()
        await self._end_calls(self._close_reason or "idle")
        await workflow.wait_condition(workflow.all_handlers_finished)
        if self._state.pending:
            # A text arrived while we were closing: it starts the next run, not the void.
            await self._continue_as_new()
        if self._memory_enabled():
            await self._record_conversation()
        return self._close()

    async def _watch_idle(self) -> None:
        # One timer per idle period, not one per turn: when it fires early because the
        # conversation moved on, it sleeps again for what is left.
        while (remaining := self._idle_remaining()) > timedelta(0):
            await workflow.sleep(remaining, summary="idle timeout")
        self._idle = True

    async def _take_turn(self) -> None:
        self._state.turn += 1
        turn = self._state.turn
        first_at = workflow.now()
        while True:
            answering = list(self._state.pending)
            seq = self._inbound_seq
            draft = asyncio.create_task(self._generate(turn, answering))
            await asyncio.sleep(0)  # the draft schedules its first activity before any timer
            if await self._quiet_since(seq, first_at):
                break
            draft.cancel()  # a newer text arrived: this draft answers a stale question
            with contextlib.suppress(asyncio.CancelledError):
                await draft
        reply = await draft
        await self._deliver(turn, reply, answering[-1].channel, [m.message_sid for m in answering])
        self._publish()

    async def _generate(self, turn: int, answering: list[InboundMessage]) -> str:
        """Recall for what the customer wrote, then the model, running its tool calls."""
        channel = answering[-1].channel
        memory = self._memory_enabled()
        if memory:
            await self._refresh_memory("\n".join(m.body for m in answering))
        exchange: list[ChatMessage] = []  # this turn's tool calls and their results
        for round_ in range(MAX_TOOL_ROUNDS + 1):
            request = LLMRequest(
                conversation_id=workflow.info().workflow_id,
                channel=channel,
                turn=turn,
                messages=[*state_ops.chat_history(self._state), *exchange],
                context=self._state.memory if memory else "",
                tools=list(TEXT_TOOLS) if memory and round_ < MAX_TOOL_ROUNDS else [],
            )
            try:
                reply = await self._llm(request, f"turn {turn}" + (f".{round_}" if round_ else ""))
            except ACTIVITY_FAILURES as exc:
                workflow.logger.warning("reply generation failed: %s", exc)
                return FALLBACK_REPLY
            if not reply.tool_calls:
                return reply.text or FALLBACK_REPLY
            exchange.append(
                ChatMessage(role="assistant", content=reply.text, tool_calls=reply.tool_calls)
            )
            for call in reply.tool_calls:
                result = await self._run_tool(call)
                exchange.append(ChatMessage(role="tool", content=result, tool_call_id=call.id))
        return FALLBACK_REPLY  # the model kept calling tools when offered none

    async def _llm(self, request: LLMRequest, summary: str) -> LLMReply:
        if self._cfg.local_activities:
            return await workflow.execute_local_activity_method(
                LLMActivities.generate_reply, request, **LLM_LOCAL_ACTIVITY, summary=summary
            )
        return await workflow.execute_activity_method(
            LLMActivities.generate_reply, request, **LLM_ACTIVITY, summary=summary
        )

    async def _send(self, request: SendMessageRequest, summary: str) -> SendMessageResult:
        if self._cfg.local_activities:
            return await workflow.execute_local_activity_method(
                DeliveryActivities.send_message, request, **DELIVERY_LOCAL_ACTIVITY,
                summary=summary,
            )  # fmt: skip
        return await workflow.execute_activity_method(
            DeliveryActivities.send_message, request, **DELIVERY_ACTIVITY, summary=summary
        )

    async def _quiet_since(self, seq: int, first_at: datetime) -> bool:
        """Wait until the batch window passes with no new text. False if one arrived."""
        window = timedelta(seconds=self._cfg.batch_window_seconds)
        if window <= timedelta(0):
            return True
        cap = timedelta(seconds=self._cfg.batch_window_cap_seconds)
        remaining = min(window, first_at + cap - workflow.now())
        if remaining <= timedelta(0):
            return True
        try:
            await workflow.wait_condition(
                lambda: self._inbound_seq != seq, timeout=remaining, timeout_summary="batch window"
            )
        except TimeoutError:
            return True
        return False

    def _mark_answered(self, sids: list[str]) -> None:
        answered = set(sids)
        self._state.pending = [m for m in self._state.pending if m.message_sid not in answered]

    async def _deliver(self, turn: int, text: str, channel: Channel, answering: list[str]) -> None:
        now = workflow.now()
        if self._state.opted_out:
            self._mark_answered(answering)
            state_ops.record_reply(
                self._state, Role.SYSTEM, "reply withheld: customer opted out", channel, now
            )
            return
        request = SendMessageRequest(
            idempotency_key=f"{workflow.info().first_execution_run_id}:{turn}",
            conversation_id=workflow.info().workflow_id,
            channel=channel,
            to=channel_address(self._state.customer, channel),
            from_=self._state.business_addresses[channel],
            body=text,
            answers=answering,
        )
        try:
            sent = await self._send(request, f"reply {turn} by {channel}")
        except ACTIVITY_FAILURES as exc:
            self._mark_answered(answering)
            self._record_delivery_failure(turn, text, channel, exc)
            return
        if sent.deduplicated and sent.body is not None and sent.answers:
            # This turn was first played before a crash or a refused completion, with fewer
            # texts: the customer got that reply. Record it; texts it did not answer stay
            # pending and get the next turn.
            text, answering = sent.body, sent.answers
        self._mark_answered(answering)
        state_ops.record_reply(
            self._state,
            Role.ASSISTANT,
            text,
            channel,
            workflow.now(),
            message_sid=sent.sid,
            delivery_status=sent.status,
            turn=turn,
        )

    def _record_delivery_failure(
        self, turn: int, text: str, channel: Channel, exc: Exception
    ) -> None:
        cause = exc.cause if isinstance(exc, ActivityError) else exc
        error_type = cause.type if isinstance(cause, ApplicationError) else None
        code = None
        if isinstance(cause, ApplicationError) and cause.details:
            detail = cause.details[0]
            code = detail if isinstance(detail, int) else None
        now = workflow.now()
        self._state.delivery_failures.append(
            DeliveryFailure(
                turn=turn,
                channel=channel,
                error_code=code,
                error_type=error_type or "ActivityError",
                message=str(cause or exc),
                at=now,
            )
        )
        if code == errors.TWILIO_OPTED_OUT:
            self._state.opted_out = True
        state_ops.record_reply(
            self._state,
            Role.ASSISTANT,
            text,
            channel,
            now,
            delivery_status="failed",
            turn=turn,
        )
        workflow.logger.warning("reply %s not delivered: %s (code %s)", turn, error_type, code)

    # --- lifecycle ----------------------------------------------------------------------

    def _idle_remaining(self) -> timedelta:
        if self._legs:  # a quiet caller is still on the line
            return timedelta(seconds=self._cfg.idle_timeout_seconds)
        last = self._state.last_activity or self._state.started_at or workflow.now()
        return last + timedelta(seconds=self._cfg.idle_timeout_seconds) - workflow.now()

    def _should_continue_as_new(self) -> bool:
        if self._legs:  # never mid-call: the leg watchers live in this run
            return False
        info = workflow.info()
        return info.is_continue_as_new_suggested() or (
            self._cfg.max_history_events is not None
            and info.get_current_history_length() >= self._cfg.max_history_events
        )

    async def _continue_as_new(self) -> None:
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(
            ConversationInput(
                customer=self._state.customer,
                config=self._cfg,
                state=state_ops.trimmed_for_carry(self._state, self._cfg),
            )
        )

    def _close(self) -> ConversationView:
        self._state.status = ConversationStatus.CLOSED
        self._publish()
        workflow.logger.info("conversation closed: %s", self._close_reason or "idle")
        return self.describe()

    def _publish(self) -> None:
        """Keep search attributes and the UI's current details in step with the state."""
        channels = [str(c) for c in self._state.channels]
        published = (self._state.customer, tuple(channels), self._state.status)
        if published != self._published:  # an upsert is a history event: only on change
            workflow.upsert_search_attributes(
                [
                    sa.CUSTOMER_ID.value_set(self._state.customer),
                    sa.CONVERSATION_CHANNELS.value_set(channels),
                    sa.CONVERSATION_STATUS.value_set(str(self._state.status)),
                ]
            )
            self._published = published
        last = self._state.transcript[-1] if self._state.transcript else None
        details = f"**status** {self._state.status} · **turns** {self._state.turn}"
        if last is not None:
            details += f"\n\n**last** ({last.role}, {last.channel}): {last.text[:200]}"
        workflow.set_current_details(details)

    # --- handlers -----------------------------------------------------------------------

    @workflow.signal(name=INBOUND_MESSAGE_SIGNAL)
    def inbound_message(self, message: InboundMessage) -> None:
        """A customer's SMS or WhatsApp message (duplicates by ``MessageSid`` are ignored)."""
        new_channel = message.channel not in self._state.channels
        if not state_ops.record_inbound(self._state, message, self._cfg):
            workflow.logger.info("duplicate message %s ignored", message.message_sid)
            return
        self._inbound_seq += 1
        if new_channel:
            self._publish()

    @workflow.signal
    def delivery_status(self, update: DeliveryStatusUpdate) -> None:
        """A Twilio status callback for one of our messages."""
        state_ops.record_delivery_status(self._state, update)
        if update.error_code == errors.TWILIO_OPTED_OUT:
            self._state.opted_out = True

    @workflow.signal
    def close(self, request: CloseRequest) -> None:
        """Close the conversation now."""
        self._close_reason = request.reason

    @workflow.query
    def describe(self) -> ConversationView:
        """Status, channels and transcript."""
        return ConversationView(
            id=workflow.info().workflow_id,
            customer=self._state.customer,
            status=self._state.status,
            channels=list(self._state.channels),
            active_channel=self._state.active_channel,
            turn=self._state.turn,
            opted_out=self._state.opted_out,
            last_activity=self._state.last_activity,
            transcript=list(self._state.transcript),
            delivery_failures=list(self._state.delivery_failures),
        )
