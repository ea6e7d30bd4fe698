"""Every Temporal call the gateway makes, in one place."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from switchboard.addresses import conversation_id
from switchboard.config import Settings
from switchboard.models import (
    ConversationConfig,
    ConversationInput,
    ConversationStatus,
    ConversationView,
    DeliveryStatusUpdate,
    InboundMessage,
)
from workflows import search_attributes as sa
from workflows.conversation import INBOUND_MESSAGE_SIGNAL, ConversationWorkflow


def conversation_config(settings: Settings) -> ConversationConfig:
    """The behaviour settings new conversation runs are started with."""
    return ConversationConfig(
        idle_timeout_seconds=settings.conversation_idle_timeout.total_seconds(),
        batch_window_seconds=settings.message_batch_window.total_seconds(),
        max_history_events=settings.conversation_max_history_events,
        local_activities=settings.conversation_local_activities,
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
            await self._start_with_signal(message)

    async def _start_with_signal(self, message: InboundMessage) -> None:
        await self._client.start_workflow(
            ConversationWorkflow.run,
            ConversationInput(customer=message.customer, config=self._config),
            id=conversation_id(message.customer),
            task_queue=self._task_queue,
            start_signal=INBOUND_MESSAGE_SIGNAL,
            start_signal_args=[message],
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(sa.CUSTOMER_ID, message.customer),
                    SearchAttributePair(sa.CONVERSATION_CHANNELS, [str(message.channel)]),
                    SearchAttributePair(sa.CONVERSATION_STATUS, str(ConversationStatus.AI)),
                ]
            ),
            static_summary=f"Conversation with {message.customer}",
        )

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
