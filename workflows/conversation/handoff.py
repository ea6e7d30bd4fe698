"""The human side of the conversation: handoff as a state machine.

``ai → handoff_pending → human → ai``. A handoff is asked for by the model
(``handoff_to_human``), by an operator (``POST /api/conversations/{id}/handoff``) or by a
signal from the Temporal CLI or UI::

    temporal workflow signal -w conv-+14155550100 --name handoff --input '{"reason": "VIP"}'
    temporal workflow signal -w conv-+14155550100 --name human_message --input '{"text": "Hi"}'
    temporal workflow signal -w conv-+14155550100 --name resume --input '{}'

The status changes at once (the handlers only record); the run loop then builds the package
(profile, summary, transcript) and hands it to the configured targets: a TaskRouter task, a
signed webhook, and on a live call ConversationRelay ``end`` with ``handoffData``, after which
the ``<Connect action>`` callback enqueues the call. While a human has the conversation the
model never answers: customer messages go to the human side, a human's messages go to the
customer. If nobody takes it within ``handoff_timeout``, the customer is told and offered a
callback, and the AI carries on.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from switchboard.contract.addresses import Channel
    from switchboard.contract.conversation import ConversationStatus, InboundMessage, Role
    from switchboard.contract.handoff import (
        CancelTaskRequest,
        DeliverHandoffRequest,
        HandoffAccepted,
        HandoffPackage,
        HandoffReceipt,
        HandoffRequest,
        HandoffState,
        HumanMessage,
        HumanSideEvent,
        HumanSideEventKind,
        PackageLine,
        PrepareHandoffRequest,
        ResumeRequest,
    )
    from switchboard.contract.names import (
        CANCEL_HANDOFF_TASK_ACTIVITY,
        DELIVER_HANDOFF_ACTIVITY,
        NOTIFY_HUMAN_SIDE_ACTIVITY,
        PREPARE_HANDOFF_ACTIVITY,
    )
    from switchboard.contract.voice import VoiceAction
    from workflows.conversation.base import ACTIVITY_FAILURES, ConversationBase
    from workflows.conversation.calls import CallLegs
    from workflows.policies import (
        HANDOFF_TARGET_POLICY,
        HUMAN_SIDE_POLICY,
        PREPARE_HANDOFF_POLICY,
    )

_PACKAGE_LINES = 100
HANDOFF_REASONS_KEPT = 50
"""Handoff reasons a run keeps (the newest): for operators and the facts at close."""
_PACKAGE_WAIT = timedelta(seconds=8)  # the caller hears the reply meanwhile


class Handoffs:
    """The handoff state machine of one conversation run, and the human side's traffic."""

    def __init__(self, conv: ConversationBase, calls: CallLegs) -> None:
        self._conv = conv
        self._calls = calls
        self._requests: list[HandoffRequest] = []
        self._human_outbox: list[HumanMessage] = []
        self._watch: asyncio.Task[None] | None = None

    # --- what the handlers record (pure state) ----------------------------------------------

    def request(self, request: HandoffRequest) -> bool:
        """``ai → handoff_pending``; the run loop does the rest. False if a human has it."""
        state = self._conv.state
        if state.status is not ConversationStatus.AI:
            workflow.logger.info("handoff ignored: conversation is %s", state.status)
            return False
        state.handoffs += 1
        state.handoff_reasons.append(request.reason[:200])
        del state.handoff_reasons[:-HANDOFF_REASONS_KEPT]
        state.status = ConversationStatus.HANDOFF_PENDING
        state.handoff = HandoffState(
            seq=state.handoffs,
            reason=request.reason,
            source=request.source,
            requested_at=workflow.now(),
        )
        self._requests.append(request.model_copy(update={"seq": state.handoffs}))
        self._conv.note(f"handoff to a human requested ({request.source}): {request.reason}")
        self._conv.publish()
        return True

    def signalled(self, request: HandoffRequest) -> None:
        """A handoff asked for by signal (operator API, CLI, UI)."""
        if request.source == "tool":  # only the workflow's own tool path may claim it
            request = request.model_copy(update={"source": "signal"})
        self.request(request)

    def human_message(self, message: HumanMessage) -> None:
        """A human agent writes to the customer; the human has the conversation from now on."""
        if self._conv.state.status is ConversationStatus.CLOSED:
            return
        self._human_outbox.append(message)
        if self._conv.state.status is not ConversationStatus.HUMAN:
            self._accept(f"{message.author or 'a human agent'} joined")

    async def resume(self, request: ResumeRequest) -> None:
        """Hand the conversation back to the AI; the human part stays in the transcript."""
        if self._conv.state.status not in (
            ConversationStatus.HANDOFF_PENDING,
            ConversationStatus.HUMAN,
        ):
            return
        self._finish("resumed")
        self._conv.note("handed back to the AI" + (f": {request.note}" if request.note else ""))
        await self.withdraw("resumed")

    def accepted(self, accepted: HandoffAccepted) -> None:
        """A human took the conversation (TaskRouter: a reservation was accepted)."""
        if self._conv.state.status is ConversationStatus.HANDOFF_PENDING:
            self._accept(f"{accepted.by or 'a human agent'} accepted")

    def call_enqueued(self) -> None:
        """The ``<Connect action>`` callback put the call in the human queue."""
        if self._conv.state.status is ConversationStatus.HANDOFF_PENDING:
            self._accept("the call was enqueued for a human")

    def latest_package(self) -> HandoffPackage | None:
        """The package of the latest handoff (None before one was prepared)."""
        handoff = self._conv.state.handoff
        return handoff.package if handoff else None

    def _accept(self, what: str) -> None:
        state = self._conv.state
        if state.status is ConversationStatus.AI:  # an operator stepped in unasked
            state.handoffs += 1
            state.handoff_reasons.append(what[:200])
            del state.handoff_reasons[:-HANDOFF_REASONS_KEPT]
            state.handoff = HandoffState(
                seq=state.handoffs, reason=what, source="operator", requested_at=workflow.now()
            )
        state.status = ConversationStatus.HUMAN
        if state.handoff is not None and state.handoff.accepted_at is None:
            state.handoff.accepted_at = workflow.now()
        self._conv.note(f"human handoff accepted: {what}")
        self._conv.publish()

    def _finish(self, outcome: str) -> None:
        state = self._conv.state
        state.status = ConversationStatus.AI
        if state.handoff is not None:
            state.handoff.ended_at = workflow.now()
            state.handoff.outcome = outcome
        self._conv.publish()

    # --- what the run loop does -------------------------------------------------------------

    @property
    def has_work(self) -> bool:
        """Whether a handoff request or a human's message waits for the run loop."""
        return bool(self._requests or self._human_outbox)

    async def serve(self) -> None:
        """Handoff requests first (the package), then human agents' messages."""
        if self._requests:
            await self._hand_off(self._requests.pop(0))
        elif self._human_outbox:
            await self._send_human_message(self._human_outbox.pop(0))

    @property
    def has_human_messages(self) -> bool:
        """Whether a human agent's message waits to go out."""
        return bool(self._human_outbox)

    async def send_next_human_message(self) -> None:
        """Send the oldest human agent's message still waiting (closing: they still go out)."""
        await self._send_human_message(self._human_outbox.pop(0))

    async def close(self) -> None:
        """Closing with a handoff open: it is over, and the human side is told."""
        state = self._conv.state
        if state.status is not ConversationStatus.AI and state.handoff is not None:
            state.handoff.outcome = state.handoff.outcome or "closed"
            await self.withdraw("closed")

    def resume_watch(self) -> None:
        """A run that starts with a handoff pending (continue-as-new) keeps waiting for it."""
        handoff = self._conv.state.handoff
        if self._conv.state.status is ConversationStatus.HANDOFF_PENDING and handoff is not None:
            self._watch = asyncio.create_task(self._await_human(handoff.seq))

    async def _hand_off(self, request: HandoffRequest) -> None:
        """Build the package and hand it to the targets; then wait for a human, bounded."""
        handoff = self._conv.state.handoff
        if handoff is None or request.seq not in (None, handoff.seq) or self._over(handoff.seq):
            return  # resumed (or taken, or superseded) before we got here
        seq = handoff.seq
        self._watch = asyncio.create_task(self._await_human(seq))
        package = await self._package(request.reason)
        handoff.package = package
        if self._over(seq):
            return  # resumed while the package was being prepared: nothing to withdraw yet
        leg = self._calls.latest()
        enqueued = leg is not None or request.call_sid is not None
        if leg is not None and request.call_sid is None:
            # An operator's handoff during a call: end the relay session ourselves; the
            # ``<Connect action>`` callback then enqueues the call with this package.
            end = VoiceAction(kind="end", handoff_data=package.handoff_data(), reason="handoff")
            enqueued = await self._calls.perform(leg, [end])
        try:
            receipt: HandoffReceipt = await workflow.execute_activity(
                DELIVER_HANDOFF_ACTIVITY,
                DeliverHandoffRequest(
                    idempotency_key=self._conv.key(f"handoff:{seq}"),
                    package=package,
                    create_task=not enqueued,  # a call is enqueued by TwiML, not by REST
                ),
                result_type=HandoffReceipt,
                **HANDOFF_TARGET_POLICY,
                summary=f"handoff {seq} to humans",
            )
        except ACTIVITY_FAILURES as exc:
            workflow.logger.error("handoff %s not delivered: %s", seq, exc)
            self._conv.note(f"handoff not delivered to its target: {exc}")
            receipt = HandoffReceipt()
        handoff.task_sid = receipt.task_sid
        handoff.targets = receipt.targets
        if receipt.targets:
            self._conv.note(f"handoff {seq} sent to {', '.join(receipt.targets)}")
        if self._over(seq) and handoff.accepted_at is None:
            await self.withdraw(handoff.outcome or "resumed")  # resumed during delivery

    async def _package(self, reason: str) -> HandoffPackage:
        request = self._package_request(reason)
        try:
            package: HandoffPackage = await workflow.execute_activity(
                PREPARE_HANDOFF_ACTIVITY,
                request,
                result_type=HandoffPackage,
                **PREPARE_HANDOFF_POLICY,
                summary="handoff package",
            )
        except ACTIVITY_FAILURES as exc:
            workflow.logger.warning("handoff package without profile and summary: %s", exc)
            package = self.plain_package(reason)
        self._conv.state.model_tokens += package.tokens
        return package

    def _package_request(self, reason: str) -> PrepareHandoffRequest:
        state = self._conv.state
        lines = [
            PackageLine(role=str(e.role), text=e.text, channel=e.channel, at=e.at)
            for e in state.transcript
            if e.role is not Role.SYSTEM and e.text
        ][-_PACKAGE_LINES:]
        return PrepareHandoffRequest(
            conversation_id=workflow.info().workflow_id,
            customer=state.customer,
            channel=state.active_channel or Channel.SMS,
            reason=reason,
            transcript=lines,
        )

    def plain_package(self, reason: str) -> HandoffPackage:
        """The package without the model's summary or the profile (what the workflow knows)."""
        request = self._package_request(reason)
        said = [line.text for line in request.transcript if line.role == Role.CUSTOMER][-3:]
        summary = "Customer said: " + " / ".join(said) if said else reason
        return HandoffPackage(**request.model_dump(), summary=summary)

    async def package_for_call(self, seq: int) -> HandoffPackage | None:
        """Wait (bounded) for the package of handoff ``seq``, for the call's ``handoffData``."""
        try:
            await workflow.wait_condition(
                lambda: (
                    self._over(seq)
                    or (
                        self._conv.state.handoff is not None
                        and self._conv.state.handoff.package is not None
                    )
                ),
                timeout=_PACKAGE_WAIT,
                timeout_summary="handoff package",
            )
        except TimeoutError:
            return None
        handoff = self._conv.state.handoff
        return handoff.package if handoff is not None and handoff.seq == seq else None

    async def _await_human(self, seq: int) -> None:
        """If nobody takes handoff ``seq`` in time, tell the customer and let the AI go on."""
        conv = self._conv
        handoff = conv.state.handoff
        assert handoff is not None
        deadline = handoff.requested_at + timedelta(seconds=conv.cfg.handoff_timeout_seconds)
        try:
            await workflow.wait_condition(
                lambda: self._over(seq),
                timeout=max(deadline - workflow.now(), timedelta(seconds=1)),
                timeout_summary="waiting for a human",
            )
            return
        except TimeoutError:
            pass
        self._finish("timed_out")
        conv.note("no human took the conversation in time; back to the AI")
        await self.withdraw("timed_out")
        await conv.send_text(
            conv.cfg.handoff_timeout_message,
            conv.text_channel(),
            key=conv.key(f"handoff-timeout:{seq}"),
        )

    async def withdraw(self, outcome: str) -> None:
        """A handoff nobody took is over: cancel its task, tell the human side."""
        handoff = self._conv.state.handoff
        if handoff is None:
            return
        if handoff.task_sid and handoff.accepted_at is None:
            try:
                await workflow.execute_activity(
                    CANCEL_HANDOFF_TASK_ACTIVITY,
                    CancelTaskRequest(task_sid=handoff.task_sid, reason=outcome),
                    **HANDOFF_TARGET_POLICY,
                    summary=f"cancel task {handoff.task_sid}",
                )
            except ACTIVITY_FAILURES as exc:
                workflow.logger.warning("task %s not canceled: %s", handoff.task_sid, exc)
        event: HumanSideEventKind = "handoff_timeout" if outcome == "timed_out" else "resumed"
        if outcome == "closed":
            event = "closed"
        await self._tell_human_side(event, None, None, f"{event}:{handoff.seq}")

    def _over(self, seq: int) -> bool:
        handoff = self._conv.state.handoff
        return (
            handoff is None
            or handoff.seq != seq
            or self._conv.state.status is not ConversationStatus.HANDOFF_PENDING
        )

    async def _send_human_message(self, message: HumanMessage) -> None:
        """Send a human agent's message to the customer on their active text channel."""
        conv = self._conv
        conv.state.agent_messages += 1
        key = conv.key(f"agent:{conv.state.agent_messages}")
        await conv.send_text(message.text, conv.text_channel(), key=key, role=Role.AGENT)

    async def relay_to_human(self) -> None:
        """Customer messages while a human has the conversation: to the human, never the model."""
        messages: list[InboundMessage] = list(self._conv.state.pending)
        self._conv.state.pending.clear()
        for message in messages:
            await self._tell_human_side(
                "customer_message", message.body, message.channel, message.message_sid
            )

    async def _tell_human_side(
        self, event: HumanSideEventKind, text: str | None, channel: Channel | None, key: str
    ) -> None:
        conv = self._conv
        if not conv.cfg.notify_human_side:
            return  # operators read the transcript through the API
        handoff = conv.state.handoff
        request = HumanSideEvent(
            idempotency_key=conv.key(f"human-side:{key}"),
            event=event,
            conversation_id=workflow.info().workflow_id,
            customer=conv.state.customer,
            channel=channel,
            text=text,
            at=workflow.now(),
            task_sid=handoff.task_sid if handoff else None,
        )
        try:
            await workflow.execute_activity(
                NOTIFY_HUMAN_SIDE_ACTIVITY,
                request,
                **HUMAN_SIDE_POLICY,
                summary=f"to human: {event}",
            )
        except ACTIVITY_FAILURES as exc:
            workflow.logger.warning("human side not told of %s: %s", event, exc)
