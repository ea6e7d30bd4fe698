"""Every Temporal call the gateway makes, in one place."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from switchboard.addresses import Channel, conversation_id
from switchboard.config import Settings
from switchboard.models import (
    ConversationConfig,
    ConversationInput,
    ConversationStatus,
    ConversationView,
    DeliveryStatusUpdate,
    InboundMessage,
)
from switchboard.voice import (
    VOICE_CALL_STARTED_SIGNAL,
    VOICE_CONTEXT_QUERY,
    VOICE_INTERRUPTED_SIGNAL,
    VOICE_PROMPT_UPDATE,
    VOICE_REPLY_UPDATE,
    VoiceFollowUp,
    VoiceInterrupt,
    VoiceLeg,
    VoiceOutcome,
    VoicePrompt,
    VoiceTurnPlan,
)
from workflows import search_attributes as sa
from workflows.conversation import INBOUND_MESSAGE_SIGNAL, ConversationWorkflow
from workflows.memory import FORGET_SIGNAL


def conversation_config(settings: Settings) -> ConversationConfig:
    """The behaviour settings new conversation runs are started with."""
    return ConversationConfig(
        idle_timeout_seconds=settings.conversation_idle_timeout.total_seconds(),
        batch_window_seconds=settings.message_batch_window.total_seconds(),
        max_history_events=settings.conversation_max_history_events,
        local_activities=settings.conversation_local_activities,
        voice_drop_followup=settings.voice_drop_followup,
        voice_drop_followup_text=settings.voice_drop_followup_text,
    )


class TemporalUnavailable(Exception):
    """Temporal could not be reached (or refused the call); the caller should answer 503."""


@contextlib.contextmanager
def _unavailable_as_error() -> Iterator[None]:
    try:
        yield
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise
        raise TemporalUnavailable(str(exc)) from exc
    except RuntimeError as exc:  # the lazy client's first connection failed
        raise TemporalUnavailable(str(exc)) from exc


class ConversationGateway:
    """Turns gateway events into signals and queries on ``ConversationWorkflow``."""

    def __init__(self, client: Client, settings: Settings) -> None:
        self._client = client
        self._task_queue = settings.temporal_task_queue
        self._config = conversation_config(settings)

    async def deliver_inbound(self, message: InboundMessage) -> None:
        """Signal the customer's conversation, starting it if none is open (signal-with-start).

        Raises:
            TemporalUnavailable: the message was not accepted; Twilio should retry.
        """
        with _unavailable_as_error():
            await self._signal_with_start(
                message.customer, message.channel, INBOUND_MESSAGE_SIGNAL, message
            )

    async def _signal_with_start(
        self, customer: str, channel: Channel, signal: str, arg: object
    ) -> None:
        await self._client.start_workflow(
            ConversationWorkflow.run,
            ConversationInput(customer=customer, config=self._config),
            id=conversation_id(customer),
            task_queue=self._task_queue,
            start_signal=signal,
            start_signal_args=[arg],
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(sa.CUSTOMER_ID, customer),
                    SearchAttributePair(sa.CONVERSATION_CHANNELS, [str(channel)]),
                    SearchAttributePair(sa.CONVERSATION_STATUS, str(ConversationStatus.AI)),
                ]
            ),
            static_summary=f"Conversation with {customer}",
        )

    # --- voice ------------------------------------------------------------------------

    async def attach_call(self, leg: VoiceLeg) -> None:
        """Attach a call leg to the caller's conversation, starting one if none is open.

        Raises:
            TemporalUnavailable: the call could not be attached.
        """
        with _unavailable_as_error():
            await self._signal_with_start(
                leg.customer, Channel.VOICE, VOICE_CALL_STARTED_SIGNAL, leg
            )

    async def plan_voice_turn(
        self, customer: str, prompt: VoicePrompt, prompt_id: str
    ) -> VoiceTurnPlan:
        """Record the caller's words and get the turn's plan (an update; ``prompt_id`` dedupes).

        Raises:
            TemporalUnavailable: Temporal could not be reached.
            WorkflowUpdateFailedError: the workflow refused (e.g. the call has ended).
        """
        with _unavailable_as_error():
            plan: VoiceTurnPlan = await self._handle(customer).execute_update(
                VOICE_PROMPT_UPDATE, prompt, id=prompt_id, result_type=VoiceTurnPlan
            )
            return plan

    async def voice_context(self, customer: str) -> VoiceTurnPlan:
        """The model's current view of the conversation (a query; nothing is recorded).

        Raises:
            TemporalUnavailable: Temporal could not be reached.
        """
        with _unavailable_as_error():
            context: VoiceTurnPlan = await self._handle(customer).query(
                VOICE_CONTEXT_QUERY, result_type=VoiceTurnPlan
            )
            return context

    async def report_voice_reply(
        self, customer: str, outcome: VoiceOutcome, report_id: str
    ) -> VoiceFollowUp:
        """Tell the workflow what the caller was told; get the approved call actions.

        Raises:
            TemporalUnavailable: Temporal could not be reached.
            WorkflowUpdateFailedError: the workflow refused.
        """
        with _unavailable_as_error():
            follow_up: VoiceFollowUp = await self._handle(customer).execute_update(
                VOICE_REPLY_UPDATE, outcome, id=report_id, result_type=VoiceFollowUp
            )
            return follow_up

    async def report_interrupt(self, customer: str, interrupt: VoiceInterrupt) -> None:
        """The caller cut short a reply that was already reported.

        Raises:
            TemporalUnavailable: Temporal could not be reached.
        """
        with _unavailable_as_error():
            await self._handle(customer).signal(VOICE_INTERRUPTED_SIGNAL, interrupt)

    async def record_delivery_status(self, customer: str, update: DeliveryStatusUpdate) -> bool:
        """Pass a status callback to the open conversation. False if none is open.

        Raises:
            TemporalUnavailable: Temporal could not be reached.
        """
        try:
            with _unavailable_as_error():
                await self._handle(customer).signal(ConversationWorkflow.delivery_status, update)
        except RPCError:  # NOT_FOUND: no open conversation
            return False
        return True

    async def forget(self, customer: str) -> bool:
        """Tell the open conversation its customer was forgotten. False if none is open.

        Raises:
            TemporalUnavailable: Temporal could not be reached.
        """
        try:
            with _unavailable_as_error():
                await self._handle(customer).signal(FORGET_SIGNAL)
        except RPCError:  # NOT_FOUND: no open conversation
            return False
        return True

    async def healthy(self) -> bool:
        """True when the Temporal frontend answers."""
        try:
            with _unavailable_as_error():
                return await self._client.service_client.check_health()
        except TemporalUnavailable:
            return False

    def _handle(self, customer: str) -> WorkflowHandle[ConversationWorkflow, ConversationView]:
        return self._client.get_workflow_handle_for(
            ConversationWorkflow.run, conversation_id(customer)
        )
