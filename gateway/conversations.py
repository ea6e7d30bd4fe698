"""Every Temporal call the gateway makes on one conversation, in one place.

The gateway turns Twilio webhooks, relay sockets and operator requests into signals,
updates and queries on the customer's ``ConversationWorkflow``. Handlers are named by method
reference (``ConversationWorkflow.handoff``), so the argument and result types are checked
and decoded from the workflow's own signatures; only signal-with-start takes a signal's
name, from ``switchboard.contract.names``. Listing conversations reads visibility instead,
in ``gateway.conversation_list``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Iterator

import structlog
from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.service import RPCError, RPCStatusCode

from gateway import conversation_list
from gateway.conversation_list import ConversationSummary
from gateway.watchers import SignalWatchers, Watcher
from switchboard.agent import Agent
from switchboard.contract.addresses import Channel, conversation_id
from switchboard.contract.conversation import (
    CloseRequest,
    ConversationStatus,
    ConversationView,
    DeliveryStatusUpdate,
    InboundMessage,
)
from switchboard.contract.handoff import (
    HandoffAccepted,
    HandoffPackage,
    HandoffRequest,
    HandoffState,
    HumanMessage,
    ResumeRequest,
)
from switchboard.contract.names import (
    INBOUND_MESSAGE_SIGNAL,
    OUTBOUND_SIGNAL,
    VOICE_CALL_STARTED_SIGNAL,
)
from switchboard.contract.outbound import OutboundRequest
from switchboard.contract.voice import (
    VoiceFollowUp,
    VoiceInterrupt,
    VoiceLeg,
    VoiceOutcome,
    VoicePrompt,
    VoiceTurnPlan,
)
from switchboard.runtime.config import Settings
from workflows.conversation import ConversationWorkflow
from workflows.starting import conversation_config, signal_with_start

log = structlog.get_logger(__name__)

ConversationHandle = WorkflowHandle[ConversationWorkflow, ConversationView]
"""A handle on a customer's conversation: its latest run, whichever that is."""


class TemporalUnavailable(Exception):
    """Temporal could not be reached (or refused the call); the caller should answer 503."""


@contextlib.contextmanager
def unavailable_as_error() -> Iterator[None]:
    """Temporal's "cannot connect" errors raised as ``TemporalUnavailable``."""
    try:
        yield
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise
        raise TemporalUnavailable(str(exc)) from exc
    except RuntimeError as exc:  # the lazy client's first connection failed
        raise TemporalUnavailable(str(exc)) from exc


async def if_open(signal: Awaitable[None]) -> bool:
    """Send a signal (not yet awaited) to an open conversation; False if none is open.

    Raises:
        TemporalUnavailable: Temporal could not be reached.
    """
    try:
        with unavailable_as_error():
            await signal
    except RPCError:  # NOT_FOUND: no open conversation
        return False
    return True


class ConversationGateway:
    """Turns gateway events into signals, updates and queries on ``ConversationWorkflow``."""

    def __init__(self, client: Client, settings: Settings, agent: Agent | None = None) -> None:
        self._client = client
        self._task_queue = settings.temporal_task_queue
        self._config = conversation_config(settings, agent)
        self._task_timeout = settings.workflow_task_timeout
        self._watchers = SignalWatchers()

    @property
    def client(self) -> Client:
        """The Temporal client (other workflows' helpers share it)."""
        return self._client

    def watch(self, watcher: Watcher) -> None:
        """Call ``watcher(conversation_id)`` whenever this gateway signalled a conversation."""
        self._watchers.add(watcher)

    async def deliver_inbound(self, message: InboundMessage) -> None:
        """Signal the customer's conversation, starting it if none is open (signal-with-start).

        Raises:
            TemporalUnavailable: the message was not accepted; Twilio should retry.
        """
        with unavailable_as_error():
            await self._signal_with_start(
                message.customer, message.channel, INBOUND_MESSAGE_SIGNAL, message
            )

    async def _signal_with_start(
        self, customer: str, channel: Channel, signal: str, arg: object
    ) -> None:
        await signal_with_start(
            self._client,
            customer=customer,
            channel=channel,
            signal=signal,
            arg=arg,
            task_queue=self._task_queue,
            config=self._config,
            task_timeout=self._task_timeout,
        )
        self._watchers.notify(conversation_id(customer))

    # --- voice ------------------------------------------------------------------------

    async def attach_call(self, leg: VoiceLeg) -> None:
        """Attach a call leg to the caller's conversation, starting one if none is open.

        Raises:
            TemporalUnavailable: the call could not be attached.
        """
        with unavailable_as_error():
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
        with unavailable_as_error():
            return await self._handle(customer).execute_update(
                ConversationWorkflow.voice_prompt, prompt, id=prompt_id
            )

    async def voice_context(self, customer: str) -> VoiceTurnPlan:
        """The model's current view of the conversation (a query; nothing is recorded).

        Raises:
            TemporalUnavailable: Temporal could not be reached.
        """
        with unavailable_as_error():
            return await self._handle(customer).query(ConversationWorkflow.voice_context)

    async def report_voice_reply(
        self, customer: str, outcome: VoiceOutcome, report_id: str
    ) -> VoiceFollowUp:
        """Tell the workflow what the caller was told; get the approved call actions.

        Raises:
            TemporalUnavailable: Temporal could not be reached.
            WorkflowUpdateFailedError: the workflow refused.
        """
        with unavailable_as_error():
            follow_up = await self._handle(customer).execute_update(
                ConversationWorkflow.voice_reply, outcome, id=report_id
            )
        self._watchers.notify(conversation_id(customer))  # a handoff on the call, say
        return follow_up

    async def report_interrupt(self, customer: str, interrupt: VoiceInterrupt) -> None:
        """The caller cut short a reply that was already reported.

        Raises:
            TemporalUnavailable: Temporal could not be reached.
        """
        with unavailable_as_error():
            await self._handle(customer).signal(ConversationWorkflow.voice_interrupted, interrupt)

    async def record_delivery_status(self, customer: str, update: DeliveryStatusUpdate) -> bool:
        """Pass a status callback to the open conversation. False if none is open.

        Raises:
            TemporalUnavailable: Temporal could not be reached.
        """
        handle = self._handle(customer)
        return await if_open(handle.signal(ConversationWorkflow.delivery_status, update))

    # --- operators ------------------------------------------------------------------------

    async def list_conversations(
        self,
        *,
        closed: bool = False,
        status: ConversationStatus | None = None,
        channel: Channel | None = None,
        customer: str | None = None,
        limit: int = 100,
    ) -> list[ConversationSummary]:
        """Conversations from Temporal visibility, newest first (see ``conversation_list``).

        Open ones by default; with ``closed``, the latest closed run of each conversation.

        Raises:
            TemporalUnavailable: Temporal could not be reached.
        """
        with unavailable_as_error():
            return await conversation_list.list_conversations(
                self._client,
                closed=closed,
                status=status,
                channel=channel,
                customer=customer,
                limit=limit,
            )

    async def describe(self, conversation: str) -> ConversationView | None:
        """One conversation (its latest run) with its transcript. None if there is none.

        Raises:
            TemporalUnavailable: Temporal could not be reached.
        """
        handle = self._client.get_workflow_handle_for(ConversationWorkflow.run, conversation)
        try:
            with unavailable_as_error():
                return await handle.query(ConversationWorkflow.describe)
        except RPCError:  # NOT_FOUND
            return None

    async def hand_off(self, customer: str, reason: str) -> ConversationView | None:
        """Hand an open conversation to a human. None if none is open."""
        handle = self._handle(customer)
        request = HandoffRequest(reason=reason, source="operator")
        return await self._snapshot_after(
            handle, handle.signal(ConversationWorkflow.handoff, request)
        )

    async def send_human_message(
        self, customer: str, message: HumanMessage
    ) -> ConversationView | None:
        """A human agent's message to the customer. None if no conversation is open."""
        handle = self._handle(customer)
        return await self._snapshot_after(
            handle, handle.signal(ConversationWorkflow.human_message, message)
        )

    async def resume(self, customer: str) -> ConversationView | None:
        """Hand an open conversation back to the AI. None if none is open."""
        handle = self._handle(customer)
        return await self._snapshot_after(
            handle, handle.signal(ConversationWorkflow.resume, ResumeRequest())
        )

    async def close(self, customer: str, reason: str) -> ConversationView | None:
        """Close an open conversation now. None if none is open."""
        handle = self._handle(customer)
        return await self._snapshot_after(
            handle, handle.signal(ConversationWorkflow.close, CloseRequest(reason=reason))
        )

    async def start_outbound(self, request: OutboundRequest) -> ConversationView:
        """Start a message or call to a customer, opening their conversation if needed.

        Raises:
            TemporalUnavailable: Temporal could not be reached.
        """
        with unavailable_as_error():
            await self._signal_with_start(request.to, request.channel, OUTBOUND_SIGNAL, request)
            return await self._handle(request.to).execute_update(ConversationWorkflow.snapshot)

    async def voice_handoff_package(self, customer: str) -> HandoffPackage | None:
        """The package of the call's handoff, for the ``<Enqueue>`` task; None if unknown."""
        try:
            with unavailable_as_error():
                return await self._handle(customer).query(ConversationWorkflow.handoff_package)
        except (RPCError, WorkflowQueryFailedError, TemporalUnavailable) as exc:
            log.warning("handoff_package_unavailable", customer=customer, error=str(exc))
            return None  # the call is still enqueued, with what its HandoffData carries

    async def current_handoff(self, customer: str) -> HandoffState | None:
        """The latest handoff of the customer's conversation (its latest run); None if none.

        Raises:
            TemporalUnavailable: Temporal could not be reached, or could not answer.
        """
        try:
            view = await self.describe(conversation_id(customer))
        except WorkflowQueryFailedError as exc:
            raise TemporalUnavailable(str(exc)) from exc
        return view.handoff if view is not None else None

    async def handoff_accepted(self, customer: str, by: str | None) -> bool:
        """A human took the conversation. False if none is open.

        Raises:
            TemporalUnavailable: Temporal could not be reached.
        """
        handle = self._handle(customer)
        return self._watchers.notify_if(
            handle.id,
            await if_open(
                handle.signal(ConversationWorkflow.handoff_accepted, HandoffAccepted(by=by))
            ),
        )

    async def accept(self, customer: str, by: str | None) -> ConversationView | None:
        """A human takes the conversation (as TaskRouter's accept does). None if none is open."""
        handle = self._handle(customer)
        return await self._snapshot_after(
            handle, handle.signal(ConversationWorkflow.handoff_accepted, HandoffAccepted(by=by))
        )

    async def handoff_over(self, customer: str, note: str) -> bool:
        """The human side is done with the conversation: back to the AI. False if none is open.

        Raises:
            TemporalUnavailable: Temporal could not be reached.
        """
        handle = self._handle(customer)
        signal = handle.signal(ConversationWorkflow.resume, ResumeRequest(note=note))
        return self._watchers.notify_if(handle.id, await if_open(signal))

    async def call_enqueued(self, customer: str) -> None:
        """Tell the conversation its call went to the human queue (best effort)."""
        try:
            with unavailable_as_error():
                await self._handle(customer).signal(ConversationWorkflow.voice_handed_off)
        except (RPCError, TemporalUnavailable) as exc:
            log.warning("call_enqueued_not_recorded", customer=customer, error=str(exc))
        else:
            self._watchers.notify(conversation_id(customer))

    async def _snapshot_after(
        self, handle: ConversationHandle, signal: Awaitable[None]
    ) -> ConversationView | None:
        """Send ``signal`` (not yet awaited), then the conversation with it applied.

        None if no conversation is open.
        """
        if not await if_open(signal):
            return None
        self._watchers.notify(handle.id)
        try:
            with unavailable_as_error():
                return await handle.execute_update(ConversationWorkflow.snapshot)
        except (RPCError, WorkflowUpdateFailedError):
            # It finished meanwhile (a close): its final state answers queries still.
            return await self.describe(handle.id)

    async def healthy(self) -> bool:
        """True when the Temporal frontend answers."""
        try:
            with unavailable_as_error():
                return await self._client.service_client.check_health()
        except TemporalUnavailable:
            return False

    def _handle(self, customer: str) -> ConversationHandle:
        return self._client.get_workflow_handle_for(
            ConversationWorkflow.run, conversation_id(customer)
        )
