"""``ConversationWorkflow``: one long-running workflow per customer, across channels.

The story of a run: customer messages arrive as signals and are recorded at once
(deduplicated by ``MessageSid``); the run loop takes one thing at a time — the human side's
work, a conversation we start, a text turn — and waits otherwise. Calls are driven by the
gateway through updates, beside the loop. After ``idle_timeout`` without activity, or when
closed, the run hangs up, lets the handlers finish, sends what operators asked for, records
the conversation in memory and returns its final view. Handlers only record; ``run`` and the
parts it calls act.

A run continues as new between turns once its history is long (Temporal's suggestion,
``CONVERSATION_MAX_HISTORY_EVENTS`` or the transcript's length), even while texts keep
arriving: the pending texts go with the state and are answered by the next run.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from switchboard.contract.conversation import (
        CloseRequest,
        ConversationInput,
        ConversationStatus,
        ConversationView,
        DeliveryStatusUpdate,
        InboundMessage,
    )
    from switchboard.contract.errors import TWILIO_OPTED_OUT
    from switchboard.contract.handoff import (
        HandoffAccepted,
        HandoffPackage,
        HandoffRequest,
        HumanMessage,
        ResumeRequest,
    )
    from switchboard.contract.outbound import CancelCallbackRequest, OutboundRequest
    from switchboard.contract.voice import (
        VoiceFollowUp,
        VoiceInterrupt,
        VoiceLeg,
        VoiceOutcome,
        VoicePrompt,
        VoiceTurnPlan,
    )
    from workflows.conversation import state_ops
    from workflows.conversation.base import ConversationBase
    from workflows.conversation.callbacks import Callbacks
    from workflows.conversation.calls import CallLegs
    from workflows.conversation.handoff import Handoffs
    from workflows.conversation.intelligence import Intelligence
    from workflows.conversation.memory import FORGET_PATCH, Memory
    from workflows.conversation.outbound import Outbound
    from workflows.conversation.tools import ToolRunner
    from workflows.conversation.turns import TextTurns
    from workflows.conversation.voice_turns import VoiceTurns

HISTORY_EVENTS_LIMIT = 10_000
"""A run's history length past which it continues as new, when no other limit is set (the
server's own limit, where it terminates the workflow, is 51,200 events)."""


@workflow.defn
class ConversationWorkflow(ConversationBase):
    """A customer's conversation; the messages it takes, by name, are indexed below.

    Customer and Twilio (gateway):
        signal ``inbound_message`` — an SMS or WhatsApp message (signal-with-start).
        signal ``delivery_status`` — a Twilio status callback for one of our messages.
    Calls (gateway, ``workflows.conversation.calls`` and ``voice_turns``):
        signal ``voice_call_started`` — a relay session connected (signal-with-start).
        update ``voice_prompt`` — the caller finished speaking: record it, plan the reply.
        update ``voice_reply`` — what the caller was told: the approved call actions.
        signal ``voice_interrupted`` — the caller cut a reply short.
        query ``voice_context`` — the plan as it would be now (a speculative start's guess).
    The human side (operator API, TaskRouter, CLI; ``workflows.conversation.handoff``):
        signal ``handoff`` — hand the conversation to a human.
        signal ``human_message`` — a human agent's message to the customer.
        signal ``resume`` — hand the conversation back to the AI.
        signal ``handoff_accepted`` — a human took it (a TaskRouter reservation).
        signal ``voice_handed_off`` — the ``<Connect action>`` callback enqueued the call.
        query ``handoff_package`` — the latest handoff's package.
    Conversations we start (``workflows.conversation.outbound`` and ``callbacks``):
        signal ``outbound`` — start a message or call (signal-with-start).
        signal ``cancel_callback`` — cancel a scheduled callback.
    Operators:
        signal ``close`` — close the conversation now.
        signal ``forget`` — the customer was forgotten: drop what was said, cancel callbacks.
        query ``describe`` — status, channels and transcript.
        update ``snapshot`` — ``describe`` after every earlier signal has been applied.

    Each handler's name is its method name (Temporal's default, so clients call handlers by
    method reference with their types); ``switchboard.contract.names`` spells them for code
    that needs a string (signal-with-start, the CLI), and a test proves the two agree and
    that this index lists every handler. From the Temporal CLI::

        temporal workflow signal -w conv-+14155550100 --name close --input '{"reason": "done"}'
        temporal workflow signal -w conv-+14155550100 --name handoff --input '{"reason": "VIP"}'
        temporal workflow query -w conv-+14155550100 --type describe
    """

    @workflow.init
    def __init__(self, input: ConversationInput) -> None:
        super().__init__(input)
        self._close_reason: str | None = None
        self._idle = False
        self._memory = Memory(self)
        self._calls = CallLegs(self, self._memory)
        self._handoffs = Handoffs(self, self._calls)
        self._callbacks = Callbacks(self)
        self._outbound = Outbound(self, self._callbacks)
        self._tools = ToolRunner(self, self._memory, self._handoffs, self._callbacks)
        self._intelligence = Intelligence(self, self._handoffs)
        self._turns = TextTurns(self, self._memory, self._tools, self._intelligence)
        self._voice = VoiceTurns(self, self._calls, self._tools, self._handoffs, self._intelligence)

    # --- the story ----------------------------------------------------------------------

    @workflow.run
    async def run(self, input: ConversationInput) -> ConversationView:
        """Answer the customer turn by turn until the conversation goes idle or is closed."""
        self.bounded()  # decided once, before any query asks
        if self.state.started_at is None:
            self.state.started_at = workflow.now()
        self.publish()
        self._handoffs.resume_watch()
        idle_watch = asyncio.create_task(self._watch_idle())
        while True:
            await workflow.wait_condition(
                lambda: (
                    bool(self.state.pending)
                    or self._handoffs.has_work
                    or self._outbound.pending
                    or self._close_reason is not None
                    or self._idle
                    or self._should_continue_as_new()
                )
            )
            if self._close_reason is None and self._handoffs.has_work:
                await self._handoffs.serve()
            elif self._close_reason is None and self._outbound.pending:
                await self._outbound.start_next()
            elif self._close_reason is None and self.bounded() and self._should_continue_as_new():
                # Between turns, even with texts waiting: they go to the next run in the state.
                await self._continue_as_new()
            elif self.state.pending and self._close_reason is None:
                if self.state.status is ConversationStatus.AI:
                    if not await self._turns.held_back(self._interrupts_a_hold):
                        await self._take_turn()
                else:
                    await self._handoffs.relay_to_human()
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
        await self._calls.end_all(self._close_reason or "idle")
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._finish_operator_work()
        if self.state.pending:
            # A text arrived while we were closing: it starts the next run, not the void.
            await self._continue_as_new()
        if not self._memory.forgotten_completely():
            await self._intelligence.at_close()
        if self._memory.enabled():
            await self._memory.record_conversation()
        return self._close()

    def _interrupts_a_hold(self) -> bool:
        """What may not wait for texts over the rate limit to get their turn."""
        return (
            self._close_reason is not None
            or self._handoffs.has_work
            or bool(self._outbound.pending)
            or self._should_continue_as_new()
        )

    async def _take_turn(self) -> None:
        ended = await self._turns.take()
        if ended is not None and self._close_reason is None:
            self._close_reason = ended  # end_conversation: after the goodbye went out

    async def _watch_idle(self) -> None:
        # One timer per idle period, not one per turn: when it fires early because the
        # conversation moved on, it sleeps again for what is left.
        while (remaining := self._idle_remaining()) > timedelta(0):
            await workflow.sleep(remaining, summary="idle timeout")
        self._idle = True

    def _idle_remaining(self) -> timedelta:
        idle_timeout = timedelta(seconds=self.cfg.idle_timeout_seconds)
        if self._calls.live:  # a quiet caller is still on the line
            return idle_timeout
        last = self.state.last_activity or self.state.started_at or workflow.now()
        return last + idle_timeout - workflow.now()

    async def _finish_operator_work(self) -> None:
        """Before closing: what operators and callbacks asked for still goes out."""
        while self._handoffs.has_human_messages or self._outbound.pending:
            if self._handoffs.has_human_messages:
                await self._handoffs.send_next_human_message()
            else:
                await self._outbound.start_next()
        await self._handoffs.close()

    def _should_continue_as_new(self) -> bool:
        if self._calls.live:  # never mid-call: the leg watchers live in this run
            return False
        info = workflow.info()
        if self.bounded():
            return (
                info.is_continue_as_new_suggested()
                or info.get_current_history_length()
                >= (self.cfg.max_history_events or HISTORY_EVENTS_LIMIT)
                or len(self.state.transcript)
                >= self.cfg.max_transcript_entries + self.cfg.run_transcript_lines
            )
        return info.is_continue_as_new_suggested() or (
            self.cfg.max_history_events is not None
            and info.get_current_history_length() >= self.cfg.max_history_events
        )

    async def _continue_as_new(self) -> None:
        await self._intelligence.settle()
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(
            ConversationInput(
                customer=self.state.customer,
                config=self.cfg,
                state=state_ops.trimmed_for_carry(self.state, self.cfg),
            )
        )

    def _close(self) -> ConversationView:
        self.state.status = ConversationStatus.CLOSED
        self.publish()
        workflow.logger.info("conversation closed: %s", self._close_reason or "idle")
        return self.view()

    # --- customer and Twilio --------------------------------------------------------------

    @workflow.signal
    def inbound_message(self, message: InboundMessage) -> None:
        """A customer's SMS or WhatsApp message (duplicates by ``MessageSid`` are ignored)."""
        new_channel = message.channel not in self.state.channels
        if not state_ops.record_inbound(self.state, message, self.cfg):
            workflow.logger.info("duplicate message %s ignored", message.message_sid)
            return
        self._turns.arrived(message)
        if new_channel:
            self.publish()

    @workflow.signal
    def delivery_status(self, update: DeliveryStatusUpdate) -> None:
        """A Twilio status callback for one of our messages."""
        state_ops.record_delivery_status(self.state, update)
        if update.error_code == TWILIO_OPTED_OUT:
            self.state.opted_out = True

    # --- calls ----------------------------------------------------------------------------

    @workflow.signal
    async def voice_call_started(self, leg: VoiceLeg) -> None:
        """A ConversationRelay session connected (``setup``); lives until the leg ends."""
        await self._calls.started(leg)

    @workflow.update
    async def voice_prompt(self, prompt: VoicePrompt) -> VoiceTurnPlan:
        """The caller finished speaking (or keying): record it and plan the spoken reply."""
        return await self._voice.prompt(prompt)

    @workflow.update
    async def voice_reply(self, outcome: VoiceOutcome) -> VoiceFollowUp:
        """What the caller was told; answers with the approved call actions."""
        return await self._voice.reply(outcome)

    @workflow.signal
    def voice_interrupted(self, interrupt: VoiceInterrupt) -> None:
        """The caller cut a reply short: keep only what they heard."""
        self._voice.interrupted(interrupt)

    @workflow.query
    def voice_context(self) -> VoiceTurnPlan:
        """What the model would see now, less the next prompt (lets a gateway start early)."""
        return self._voice.plan()

    # --- the human side -------------------------------------------------------------------

    @workflow.signal
    def handoff(self, request: HandoffRequest) -> None:
        """Hand the conversation to a human (``{"reason": "..."}``)."""
        self._handoffs.signalled(request)

    @workflow.signal
    def human_message(self, message: HumanMessage) -> None:
        """A human agent writes to the customer; the human has the conversation from now on."""
        self._handoffs.human_message(message)

    @workflow.signal
    async def resume(self, request: ResumeRequest) -> None:
        """Hand the conversation back to the AI; the human part stays in the transcript."""
        await self._handoffs.resume(request)

    @workflow.signal
    def handoff_accepted(self, accepted: HandoffAccepted) -> None:
        """A human took the conversation (TaskRouter: a reservation was accepted)."""
        self._handoffs.accepted(accepted)

    @workflow.signal
    def voice_handed_off(self) -> None:
        """The ``<Connect action>`` callback put the call in the human queue."""
        self._handoffs.call_enqueued()

    @workflow.query
    def handoff_package(self) -> HandoffPackage | None:
        """The package of the latest handoff (None before one was prepared)."""
        return self._handoffs.latest_package()

    # --- conversations we start -----------------------------------------------------------

    @workflow.signal
    def outbound(self, request: OutboundRequest) -> None:
        """Start a message or call to the customer (a repeated ``request_id`` is ignored)."""
        self._outbound.request(request)

    @workflow.signal
    async def cancel_callback(self, request: CancelCallbackRequest) -> None:
        """Cancel a scheduled callback (every one when ``callback_id`` is empty)."""
        await self._callbacks.cancel(request.callback_id)

    # --- operators ------------------------------------------------------------------------

    @workflow.signal
    def close(self, request: CloseRequest) -> None:
        """Close the conversation now."""
        self._close_reason = request.reason

    @workflow.signal
    async def forget(self) -> None:
        """The customer was forgotten: drop what was recalled and said; cancel callbacks."""
        complete = workflow.patched(FORGET_PATCH)
        self._memory.forget(redact=complete)
        if complete:
            # The run ends too: a forgotten customer's payloads are encrypted with a key that
            # is destroyed once this run is over; their next message starts afresh.
            self._close_reason = self._close_reason or "forgotten"
            if self._callbacks.any_scheduled:
                await self._callbacks.cancel(None)

    @workflow.query
    def describe(self) -> ConversationView:
        """Status, channels and transcript."""
        return self.view()

    @workflow.update
    def snapshot(self) -> ConversationView:
        """``describe``, answered after every signal sent before it has been applied."""
        return self.view()
