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
    from switchboard.contract import errors
    from switchboard.contract import search_attributes as sa
    from switchboard.contract.addresses import Channel, channel_address
    from switchboard.contract.conversation import (
        CloseRequest,
        ConversationInput,
        ConversationState,
        ConversationStatus,
        ConversationView,
        DeliveryFailure,
        DeliveryStatusUpdate,
        InboundMessage,
        Role,
    )
    from switchboard.contract.handoff import HandoffRequest, HumanMessage
    from switchboard.contract.llm import ChatMessage, LLMReply, LLMRequest
    from switchboard.contract.messaging import SendMessageRequest, SendMessageResult
    from switchboard.contract.names import (
        DELIVERY_STATUS_SIGNAL,
        INBOUND_MESSAGE_SIGNAL,
        SNAPSHOT_UPDATE,
    )
    from switchboard.contract.outbound import OutboundRequest
    from switchboard.contract.voice import VoiceLeg
    from workflows import state_ops
    from workflows.callbacks import Callbacks
    from workflows.handoff import Handoffs
    from workflows.memory import ConversationMemory
    from workflows.outbound import Outbound
    from workflows.policies import (
        DELIVERY_ACTIVITY,
        DELIVERY_LOCAL_ACTIVITY,
        LLM_ACTIVITY,
        LLM_LOCAL_ACTIVITY,
    )
    from workflows.tools import ToolCalls
    from workflows.voice_legs import VoiceLegs


ACTIVITY_FAILURES = (ActivityError, ApplicationError)
"""How a failed activity surfaces: regular ones wrap the cause, local ones raise it as is."""

FALLBACK_REPLY = "Sorry, I'm having trouble answering right now. Please try again in a moment."


@workflow.defn
class ConversationWorkflow(ConversationMemory, Handoffs, Callbacks, Outbound, ToolCalls, VoiceLegs):
    """A customer's conversation. Signals: ``inbound_message``, ``delivery_status``, ``close``.

    Handoff (see ``workflows.handoff``): signals ``handoff``, ``human_message``, ``resume``.
    Outbound and callbacks: signals ``outbound``, ``cancel_callback``. Voice (see
    ``workflows.voice_legs``): signals ``voice_call_started`` and ``voice_interrupted``,
    updates ``voice_prompt`` and ``voice_reply``. Query ``describe`` for status, channels and
    transcript; update ``snapshot`` for the same after earlier signals are applied. From the
    Temporal CLI::

        temporal workflow signal -w conv-+14155550100 --name close --input '{"reason": "done"}'
        temporal workflow signal -w conv-+14155550100 --name handoff --input '{"reason": "VIP"}'
        temporal workflow query -w conv-+14155550100 --type describe
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
        self._handoff_requests: list[HandoffRequest] = []
        self._human_outbox: list[HumanMessage] = []
        self._outbound: list[OutboundRequest] = []
        self._turn_end: str | None = None
        self._handoff_watch: asyncio.Task[None] | None = None
        self._voice_rounds: dict[int, int] = {}

    # --- the story ----------------------------------------------------------------------

    @workflow.run
    async def run(self, input: ConversationInput) -> ConversationView:
        """Answer the customer turn by turn until the conversation goes idle or is closed."""
        if self._state.started_at is None:
            self._state.started_at = workflow.now()
        self._publish()
        self._resume_handoff_watch()
        idle_watch = asyncio.create_task(self._watch_idle())
        while True:
            await workflow.wait_condition(
                lambda: (
                    bool(self._state.pending)
                    or bool(self._handoff_requests or self._human_outbox or self._outbound)
                    or self._close_reason is not None
                    or self._idle
                    or self._should_continue_as_new()
                )
            )
            if self._close_reason is None and (self._handoff_requests or self._human_outbox):
                await self._serve_humans()
            elif self._close_reason is None and self._outbound:
                await self._start_outbound(self._outbound.pop(0))
            elif self._state.pending and self._close_reason is None:
                if self._state.status is ConversationStatus.AI:
                    await self._take_turn()
                else:
                    await self._relay_to_human()
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
        await self._finish_operator_work()
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
            self._turn_end = None
            draft = asyncio.create_task(self._generate(turn, answering))
            await asyncio.sleep(0)  # the draft schedules its first activity before any timer
            if await self._quiet_since(seq, first_at):
                break
            draft.cancel()  # a newer text arrived: this draft answers a stale question
            with contextlib.suppress(asyncio.CancelledError):
                await draft
        reply = await draft
        ended_by, self._turn_end = self._turn_end, None
        if self._state.status is not ConversationStatus.AI and ended_by != "handoff":
            handoff = self._state.handoff
            if handoff is None or handoff.source != "tool" or handoff.requested_at < first_at:
                return  # a human took over while the model was writing: texts go to them
            # A draft of this turn handed off, then a newer text replaced it: say so.
            reply, ended_by = self._cfg.handoff_message, "handoff"
        await self._deliver(turn, reply, answering[-1].channel, [m.message_sid for m in answering])
        if ended_by is not None and ended_by != "handoff" and self._close_reason is None:
            self._close_reason = ended_by  # end_conversation: after the goodbye went out
        self._publish()

    async def _generate(self, turn: int, answering: list[InboundMessage]) -> str:
        """Recall for what the customer wrote, then the model, running its tool calls."""
        channel = answering[-1].channel
        memory = self._memory_enabled()
        if memory:
            await self._refresh_memory("\n".join(m.body for m in answering))
        exchange: list[ChatMessage] = []  # this turn's tool calls and their results
        rounds = self._cfg.max_tool_rounds
        for round_ in range(rounds + 1):
            request = LLMRequest(
                conversation_id=workflow.info().workflow_id,
                channel=channel,
                turn=turn,
                messages=[*state_ops.chat_history(self._state), *exchange],
                context=self._context() if memory else "",
                tools=self._offered_tools(channel) if memory and round_ < rounds else [],
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
            results = await self._run_tool_calls(reply.tool_calls, channel)
            exchange += [
                ChatMessage(role="tool", content=result, tool_call_id=call.id)
                for call, result in zip(reply.tool_calls, results, strict=True)
            ]
            if self._turn_end == "handoff":
                return reply.text or self._cfg.handoff_message
        return FALLBACK_REPLY  # the model kept calling tools when offered none

    def _context(self) -> str:
        """What the model is told besides the conversation: memory, and why we reached out."""
        context = self._state.memory
        if self._state.purpose:
            why = f"You started this conversation yourself. Its purpose: {self._state.purpose}"
            context = f"{context}\n\n{why}" if context else why
        return context

    async def _opening(self, purpose: str, channel: Channel) -> str:
        """The first message of a conversation we start, written by the model."""
        self._state.turn += 1
        request = LLMRequest(
            conversation_id=workflow.info().workflow_id,
            channel=channel,
            turn=self._state.turn,
            messages=state_ops.chat_history(self._state),
            context=self._context() + "\n\nWrite the first message to the customer now.",
        )
        try:
            reply = await self._llm(request, f"opening {self._state.turn}")
        except ACTIVITY_FAILURES as exc:
            workflow.logger.warning("opening not written: %s", exc)
            return f"Hello! We're getting in touch about: {purpose}" if purpose else "Hello!"
        return reply.text or f"Hello! We're getting in touch about: {purpose}"

    async def _finish_operator_work(self) -> None:
        """Before closing: what operators and callbacks asked for still goes out."""
        while self._human_outbox or self._outbound:
            if self._human_outbox:
                await self._send_human_message(self._human_outbox.pop(0))
            else:
                await self._start_outbound(self._outbound.pop(0))
        if self._state.status is not ConversationStatus.AI and self._state.handoff is not None:
            self._state.handoff.outcome = self._state.handoff.outcome or "closed"
            await self._withdraw("closed")

    async def _serve_humans(self) -> None:
        """Handoff requests first (the package), then human agents' messages."""
        if self._handoff_requests:
            await self._hand_off(self._handoff_requests.pop(0))
        elif self._human_outbox:
            await self._send_human_message(self._human_outbox.pop(0))

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
        key = f"{workflow.info().first_execution_run_id}:{turn}"
        await self._send_text(text, channel, key=key, answering=answering, turn=turn)

    async def _send_text(
        self,
        text: str,
        channel: Channel,
        *,
        key: str,
        role: Role = Role.ASSISTANT,
        answering: list[str] | None = None,
        turn: int | None = None,
        content_sid: str | None = None,
        content_variables: dict[str, str] | None = None,
        sender: str | None = None,
    ) -> None:
        """Send one message to the customer (exactly once per ``key``) and record it.

        ``sender``: our address to send from; by default the one the customer wrote to.
        """
        answering = answering or []
        now = workflow.now()
        sender = sender or self._business_address(channel)
        if self._state.opted_out or sender is None:
            self._mark_answered(answering)
            why = "customer opted out" if self._state.opted_out else f"no {channel} number set"
            state_ops.record_reply(self._state, Role.SYSTEM, f"reply withheld: {why}", channel, now)
            return
        request = SendMessageRequest(
            idempotency_key=key,
            conversation_id=workflow.info().workflow_id,
            channel=channel,
            to=channel_address(self._state.customer, channel),
            from_=sender,
            body=text,
            answers=answering,
            content_sid=content_sid,
            content_variables=content_variables or {},
        )
        label = f"reply {turn} by {channel}" if turn is not None else f"{role} message by {channel}"
        try:
            sent = await self._send(request, label)
        except ACTIVITY_FAILURES as exc:
            self._mark_answered(answering)
            self._record_delivery_failure(turn or 0, text, channel, exc, role)
            return
        if sent.deduplicated and sent.body is not None and sent.answers:
            # This turn was first played before a crash or a refused completion, with fewer
            # texts: the customer got that reply. Record it; texts it did not answer stay
            # pending and get the next turn.
            text, answering = sent.body, sent.answers
        self._mark_answered(answering)
        state_ops.record_reply(
            self._state,
            role,
            text,
            channel,
            workflow.now(),
            message_sid=sent.sid,
            delivery_status=sent.status,
            turn=turn,
        )

    def _business_address(self, channel: Channel) -> str | None:
        """Our address on ``channel``: the one the customer wrote to, else the configured one."""
        known = self._state.business_addresses.get(channel)
        if known is not None:
            return known
        if channel is Channel.WHATSAPP:
            number = self._cfg.whatsapp_number
            return channel_address(number, channel) if number else None
        return self._cfg.callback_number or self._state.business_addresses.get(
            Channel.VOICE if channel is Channel.SMS else Channel.SMS
        )

    def _outbound_sender(self, channel: Channel) -> str | None:
        """Our sender for conversations we start: the configured number, else the known one."""
        if channel is Channel.WHATSAPP and self._cfg.whatsapp_number:
            return channel_address(self._cfg.whatsapp_number, channel)
        if channel is not Channel.WHATSAPP and self._cfg.callback_number:
            return self._cfg.callback_number
        return self._business_address(channel)

    def _text_channel(self) -> Channel:
        """Where to write to the customer: the active channel, or their text channel on a call."""
        active = self._state.active_channel
        if active is not None and active is not Channel.VOICE:
            return active
        for entry in reversed(self._state.transcript):
            if entry.role is Role.CUSTOMER and entry.channel is not Channel.VOICE:
                return entry.channel
        return Channel.SMS

    def _record_delivery_failure(
        self, turn: int, text: str, channel: Channel, exc: Exception, role: Role = Role.ASSISTANT
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
            role,
            text,
            channel,
            now,
            delivery_status="failed",
            turn=turn or None,
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
        if self._state.status is not ConversationStatus.AI and self._state.handoff is not None:
            details += (
                f"\n\n**handoff** ({self._state.handoff.source}): {self._state.handoff.reason}"
            )
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

    @workflow.signal(name=DELIVERY_STATUS_SIGNAL)
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
            handoff=self._state.handoff,
            callbacks=list(self._state.callbacks),
        )

    @workflow.update(name=SNAPSHOT_UPDATE)
    def snapshot(self) -> ConversationView:
        """``describe``, answered after every signal sent before it has been applied."""
        return self.describe()
