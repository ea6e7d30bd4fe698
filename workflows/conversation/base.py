"""The conversation's state, and the helpers every part of the workflow uses.

``ConversationBase`` holds what a run knows — ``state``, carried whole through
continue-as-new, and ``cfg``, the behaviour settings the run was started with — and does
what every part needs: note an event in the transcript, keep the Temporal UI in step, call
the model, send a text exactly once and record how that went. ``ConversationWorkflow``
extends it; each part (handoff, calls, tools, ...) is a helper object handed the workflow as
a ``ConversationBase``, so a part sees these helpers and, of the other parts, only what it
is given in its constructor.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.delivery import DeliveryActivities
    from activities.llm import LLMActivities
    from switchboard.contract import errors
    from switchboard.contract import search_attributes as sa
    from switchboard.contract.addresses import Channel, channel_address
    from switchboard.contract.conversation import (
        ConversationInput,
        ConversationState,
        ConversationStatus,
        ConversationView,
        DeliveryFailure,
        Role,
    )
    from switchboard.contract.llm import ChatMessage, LLMReply, LLMRequest, join_context
    from switchboard.contract.messaging import SendMessageRequest, SendMessageResult
    from workflows.conversation import budget, state_ops
    from workflows.policies import (
        DELIVERY_ACTIVITY,
        DELIVERY_LOCAL_ACTIVITY,
        LLM_ACTIVITY,
        LLM_LOCAL_ACTIVITY,
    )

ACTIVITY_FAILURES = (ActivityError, ApplicationError)
"""How a failed activity surfaces: regular ones wrap the cause, local ones raise it as is."""

BOUNDED_PATCH = "bounded-costs"
"""Runs from before it send the model the whole transcript, answer every text at once, wait
for Temporal to suggest continue-as-new, and send a long reply as one message."""


class ConversationBase:
    """A conversation run's state and shared helpers (see the module docstring)."""

    def __init__(self, input: ConversationInput) -> None:
        self.cfg = input.config
        self.state = input.state or ConversationState(customer=input.customer)
        self._published: tuple[object, ...] | None = None
        self._bounded: bool | None = None
        self._chat_lines = state_ops.ChatLines()  # each transcript line made a message once

    def bounded(self) -> bool:
        """Whether this run bounds its costs (the ``bounded-costs`` patch; see ``budget``).

        Remembered for queries, which may not mark a patch: the run asks at its start.
        """
        if self._bounded is None:
            if workflow.unsafe.is_read_only():
                return False
            self._bounded = workflow.patched(BOUNDED_PATCH)
        return self._bounded

    # --- identity -------------------------------------------------------------------------

    @staticmethod
    def key(what: str) -> str:
        """An idempotency key for ``what``, stable across this conversation's retries.

        Keyed by the first run of the chain, so a send retried after continue-as-new or a
        crash is still recognised by the outbox as the same send.
        """
        return f"{workflow.info().first_execution_run_id}:{what}"

    # --- what operators see ---------------------------------------------------------------

    def note(self, text: str) -> None:
        """A system line in the transcript (never shown to the model), on the active channel."""
        channel = self.state.active_channel
        if channel is not None:
            self.state.transcript.append(state_ops.system_note(text, channel, workflow.now()))

    def call_note(self, text: str) -> None:
        """A system line about a call."""
        self.state.transcript.append(state_ops.system_note(text, Channel.VOICE, workflow.now()))

    def publish(self) -> None:
        """Keep search attributes and the UI's current details in step with the state.

        Details and summaries are Temporal metadata, readable by anyone who can list
        workflows: they say who spoke on which channel and when, never what was said.
        """
        state = self.state
        channels = [str(c) for c in state.channels]
        published = (state.customer, tuple(channels), state.status)
        if published != self._published:  # an upsert is a history event: only on change
            workflow.upsert_search_attributes(
                [
                    sa.CUSTOMER_ID.value_set(state.customer),
                    sa.CONVERSATION_CHANNELS.value_set(channels),
                    sa.CONVERSATION_STATUS.value_set(str(state.status)),
                ]
            )
            self._published = published
        last = state.transcript[-1] if state.transcript else None
        details = f"**status** {state.status} · **turns** {state.turn}"
        if state.status is not ConversationStatus.AI and state.handoff is not None:
            details += f"\n\n**handoff** ({state.handoff.source})"
        if last is not None:
            details += f"\n\n**last** {last.role} on {last.channel} at {last.at:%H:%M:%S} UTC"
        workflow.set_current_details(details)

    def view(self) -> ConversationView:
        """Status, channels and transcript, as the ``describe`` query answers them."""
        state = self.state
        return ConversationView(
            id=workflow.info().workflow_id,
            customer=state.customer,
            status=state.status,
            channels=list(state.channels),
            active_channel=state.active_channel,
            turn=state.turn,
            opted_out=state.opted_out,
            last_activity=state.last_activity,
            transcript=list(state.transcript),
            delivery_failures=list(state.delivery_failures),
            handoff=state.handoff,
            callbacks=list(state.callbacks),
            tags=list(state.tags),
            tool_calls=list(state.tool_log),
            handoff_reasons=list(state.handoff_reasons),
            profile_name=state.profile_name,
        )

    # --- the model ------------------------------------------------------------------------

    def context(self) -> str:
        """What the model is told besides the conversation: memory, and why we reached out."""
        return join_context(self.state.memory, self.context_tail())

    def context_tail(self) -> str:
        """The context after the recalled memory: why we reached out, if we did."""
        if not self.state.purpose:
            return ""
        return f"You started this conversation yourself. Its purpose: {self.state.purpose}"

    def chat_history(self, exchange: list[ChatMessage] | None = None) -> list[ChatMessage]:
        """The transcript as the model sees it, then ``exchange`` (this turn's tool rounds).

        The transcript is windowed to ``LLM_HISTORY_TOKENS``, less what the exchange takes;
        the exchange is kept whole, and the newest line always.
        """
        exchange = exchange or []
        limit = None
        if self.bounded():
            limit = self.cfg.history_tokens - sum(budget.estimate_tokens(m) for m in exchange)
        return [*self._chat_lines.window(self.state, limit), *exchange]

    async def llm(self, request: LLMRequest, summary: str) -> LLMReply:
        """One model call: a local activity by default, a regular one when configured.

        Its tokens are counted, whether the reply is used or not: a draft a newer text
        replaced cost as much as the one sent.
        """
        reply: LLMReply
        if self.cfg.local_activities:
            reply = await workflow.execute_local_activity_method(
                LLMActivities.generate_reply, request, **LLM_LOCAL_ACTIVITY, summary=summary
            )
        else:
            reply = await workflow.execute_activity_method(
                LLMActivities.generate_reply, request, **LLM_ACTIVITY, summary=summary
            )
        self.state.model_tokens += reply.tokens
        return reply

    # --- sending --------------------------------------------------------------------------

    async def send(self, request: SendMessageRequest, summary: str) -> SendMessageResult:
        """One send through the delivery activity (exactly once per idempotency key)."""
        if self.cfg.local_activities:
            return await workflow.execute_local_activity_method(
                DeliveryActivities.send_message, request, **DELIVERY_LOCAL_ACTIVITY,
                summary=summary,
            )  # fmt: skip
        return await workflow.execute_activity_method(
            DeliveryActivities.send_message, request, **DELIVERY_ACTIVITY, summary=summary
        )

    async def send_text(
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

        A text longer than the channel takes goes as several messages, split at sentence or
        word boundaries, each its own transcript line; the parts after the first are keyed
        ``<key>/2``, ``<key>/3``, ... so each is sent exactly once too.
        ``answering``: the MessageSids this message answers; they stop being pending.
        ``sender``: our address to send from; by default the one the customer wrote to.
        """
        answering = answering or []
        now = workflow.now()
        sender = sender or self.business_address(channel)
        if self.state.opted_out or sender is None:
            self._mark_answered(answering)
            why = "customer opted out" if self.state.opted_out else f"no {channel} number set"
            state_ops.record_reply(self.state, Role.SYSTEM, f"reply withheld: {why}", channel, now)
            return
        limit = budget.MESSAGE_LIMITS.get(channel)
        parts = [text]
        if limit is not None and content_sid is None and self.bounded():
            # Twilio refuses a longer body for good (21617): the customer gets several.
            parts = budget.split_message(text, limit)
        for index, part in enumerate(parts):
            go_on = await self._send_part(
                part, channel, sender, role=role, turn=turn, answering=answering,
                key=key if index == 0 else f"{key}/{index + 1}",
                label=self._label(role, channel, turn, index, len(parts)),
                content_sid=content_sid, content_variables=content_variables,
            )  # fmt: skip
            if not go_on:
                break

    @staticmethod
    def _label(role: Role, channel: Channel, turn: int | None, index: int, parts: int) -> str:
        label = f"reply {turn} by {channel}" if turn is not None else f"{role} message by {channel}"
        return f"{label} ({index + 1}/{parts})" if parts > 1 else label

    async def _send_part(
        self,
        text: str,
        channel: Channel,
        sender: str,
        *,
        role: Role,
        turn: int | None,
        answering: list[str],
        key: str,
        label: str,
        content_sid: str | None,
        content_variables: dict[str, str] | None,
    ) -> bool:
        """Send and record one message. False when the parts after it must not go out."""
        request = SendMessageRequest(
            idempotency_key=key,
            conversation_id=workflow.info().workflow_id,
            channel=channel,
            to=channel_address(self.state.customer, channel),
            from_=sender,
            body=text,
            answers=answering,
            content_sid=content_sid,
            content_variables=content_variables or {},
        )
        try:
            sent = await self.send(request, label)
        except ACTIVITY_FAILURES as exc:
            self._mark_answered(answering)
            self._record_delivery_failure(turn or 0, text, channel, exc, role)
            return False
        go_on = True
        if sent.deduplicated and sent.body is not None and sent.answers:
            # This turn was first played before a crash or a refused completion, with fewer
            # texts: the customer got that reply. Record it; texts it did not answer stay
            # pending and get the next turn (and the rest of this draft is not theirs).
            go_on = sent.body == text and sent.answers == answering
            text, answering = sent.body, sent.answers
        self._mark_answered(answering)
        state_ops.record_reply(
            self.state,
            role,
            text,
            channel,
            workflow.now(),
            message_sid=sent.sid,
            delivery_status=sent.status,
            turn=turn,
        )
        return go_on

    def _mark_answered(self, sids: list[str]) -> None:
        answered = set(sids)
        self.state.pending = [m for m in self.state.pending if m.message_sid not in answered]

    def _record_delivery_failure(
        self, turn: int, text: str, channel: Channel, exc: Exception, role: Role
    ) -> None:
        cause = exc.cause if isinstance(exc, ActivityError) else exc
        error_type = cause.type if isinstance(cause, ApplicationError) else None
        code = None
        if isinstance(cause, ApplicationError) and cause.details:
            detail = cause.details[0]
            code = detail if isinstance(detail, int) else None
        now = workflow.now()
        self.state.delivery_failures.append(
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
            self.state.opted_out = True
        state_ops.record_reply(
            self.state, role, text, channel, now, delivery_status="failed", turn=turn or None
        )
        workflow.logger.warning("reply %s not delivered: %s (code %s)", turn, error_type, code)

    # --- addresses ------------------------------------------------------------------------

    def business_address(self, channel: Channel) -> str | None:
        """Our address on ``channel``: the one the customer wrote to, else the configured one."""
        known = self.state.business_addresses.get(channel)
        if known is not None:
            return known
        if channel is Channel.WHATSAPP:
            number = self.cfg.whatsapp_number
            return channel_address(number, channel) if number else None
        return self.cfg.callback_number or self.state.business_addresses.get(
            Channel.VOICE if channel is Channel.SMS else Channel.SMS
        )

    def outbound_sender(self, channel: Channel) -> str | None:
        """Our sender for conversations we start: the configured number, else the known one."""
        if channel is Channel.WHATSAPP and self.cfg.whatsapp_number:
            return channel_address(self.cfg.whatsapp_number, channel)
        if channel is not Channel.WHATSAPP and self.cfg.callback_number:
            return self.cfg.callback_number
        return self.business_address(channel)

    def text_channel(self) -> Channel:
        """Where to write to the customer: the active channel, or their text channel on a call."""
        active = self.state.active_channel
        if active is not None and active is not Channel.VOICE:
            return active
        for entry in reversed(self.state.transcript):
            if entry.role is Role.CUSTOMER and entry.channel is not Channel.VOICE:
                return entry.channel
        return Channel.SMS
