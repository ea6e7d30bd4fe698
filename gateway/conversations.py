"""Every Temporal call the gateway makes, in one place."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from datetime import datetime

import structlog
from pydantic import BaseModel
from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.service import RPCError, RPCStatusCode

from switchboard.agent import Agent
from switchboard.contract import search_attributes as sa
from switchboard.contract.addresses import Channel, conversation_id, customer_of
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
    HumanMessage,
    ResumeRequest,
)
from switchboard.contract.names import (
    CLOSE_SIGNAL,
    DELIVERY_STATUS_SIGNAL,
    FORGET_SIGNAL,
    HANDOFF_ACCEPTED_SIGNAL,
    HANDOFF_PACKAGE_QUERY,
    HANDOFF_SIGNAL,
    HUMAN_MESSAGE_SIGNAL,
    INBOUND_MESSAGE_SIGNAL,
    OUTBOUND_SIGNAL,
    RESUME_SIGNAL,
    SNAPSHOT_UPDATE,
    VOICE_CALL_STARTED_SIGNAL,
    VOICE_CONTEXT_QUERY,
    VOICE_HANDED_OFF_SIGNAL,
    VOICE_INTERRUPTED_SIGNAL,
    VOICE_PROMPT_UPDATE,
    VOICE_REPLY_UPDATE,
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


class ConversationSummary(BaseModel):
    """One row of ``GET /api/conversations``."""

    id: str
    customer: str
    status: ConversationStatus
    channels: list[Channel]
    last_activity: datetime | None


def _closed_summary(execution: WorkflowExecution) -> ConversationSummary:
    attributes = execution.typed_search_attributes
    return ConversationSummary(
        id=execution.id,
        customer=attributes.get(sa.CUSTOMER_ID) or customer_of(execution.id),
        status=ConversationStatus.CLOSED,
        channels=[Channel(c) for c in attributes.get(sa.CONVERSATION_CHANNELS) or []],
        last_activity=execution.close_time or execution.start_time,
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

    def __init__(self, client: Client, settings: Settings, agent: Agent | None = None) -> None:
        self._client = client
        self._task_queue = settings.temporal_task_queue
        self._config = conversation_config(settings, agent)

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
        await signal_with_start(
            self._client,
            customer=customer,
            channel=channel,
            signal=signal,
            arg=arg,
            task_queue=self._task_queue,
            config=self._config,
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
        return await self._signal_open(customer, DELIVERY_STATUS_SIGNAL, update)

    async def forget(self, customer: str) -> bool:
        """Tell the open conversation its customer was forgotten. False if none is open.

        Raises:
            TemporalUnavailable: Temporal could not be reached.
        """
        return await self._signal_open(customer, FORGET_SIGNAL, None)

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
        """Conversations from Temporal visibility (search attributes), newest first.

        Open ones by default; with ``closed``, the latest closed run of each conversation.

        Raises:
            TemporalUnavailable: Temporal could not be reached.
        """
        clauses = ["WorkflowType = 'ConversationWorkflow'"]
        if closed:  # a run that continued as new is not closed: its successor runs
            clauses.append("ExecutionStatus != 'Running' AND ExecutionStatus != 'ContinuedAsNew'")
        else:
            clauses.append("ExecutionStatus = 'Running'")
        if status is not None and not closed:
            clauses.append(f"{sa.CONVERSATION_STATUS.name} = '{status}'")
        if channel is not None:
            clauses.append(f"{sa.CONVERSATION_CHANNELS.name} = '{channel}'")
        if customer is not None:
            clauses.append(f"{sa.CUSTOMER_ID.name} = '{customer}'")
        found: dict[str, WorkflowExecution] = {}
        with _unavailable_as_error():
            async for execution in self._client.list_workflows(" AND ".join(clauses)):
                if execution.id not in found:  # newest first: the latest run of each id
                    found[execution.id] = execution
                if len(found) >= limit:
                    break
        if closed:
            return [_closed_summary(e) for e in found.values()]
        return list(await asyncio.gather(*(self._open_summary(e) for e in found.values())))

    async def _open_summary(self, execution: WorkflowExecution) -> ConversationSummary:
        attributes = execution.typed_search_attributes
        summary = ConversationSummary(
            id=execution.id,
            customer=attributes.get(sa.CUSTOMER_ID) or customer_of(execution.id),
            status=ConversationStatus(
                attributes.get(sa.CONVERSATION_STATUS) or ConversationStatus.AI
            ),
            channels=[Channel(c) for c in attributes.get(sa.CONVERSATION_CHANNELS) or []],
            last_activity=execution.start_time,
        )
        try:  # the freshest word is the workflow's own
            view = await self._client.get_workflow_handle(execution.id).query(
                ConversationWorkflow.describe
            )
        except (RPCError, WorkflowQueryFailedError, RuntimeError) as exc:
            log.info("conversation_not_described", id=execution.id, error=str(exc))
            return summary
        return ConversationSummary(
            id=view.id,
            customer=view.customer,
            status=view.status,
            channels=view.channels,
            last_activity=view.last_activity or execution.start_time,
        )

    async def describe(self, conversation: str) -> ConversationView | None:
        """One conversation (its latest run) with its transcript. None if there is none.

        Raises:
            TemporalUnavailable: Temporal could not be reached.
        """
        try:
            with _unavailable_as_error():
                return await self._client.get_workflow_handle(conversation).query(
                    ConversationWorkflow.describe
                )
        except RPCError:  # NOT_FOUND
            return None

    async def hand_off(self, customer: str, reason: str) -> ConversationView | None:
        """Hand an open conversation to a human. None if none is open."""
        request = HandoffRequest(reason=reason, source="operator")
        return await self._signal_then_snapshot(customer, HANDOFF_SIGNAL, request)

    async def send_human_message(
        self, customer: str, message: HumanMessage
    ) -> ConversationView | None:
        """A human agent's message to the customer. None if no conversation is open."""
        return await self._signal_then_snapshot(customer, HUMAN_MESSAGE_SIGNAL, message)

    async def resume(self, customer: str) -> ConversationView | None:
        """Hand an open conversation back to the AI. None if none is open."""
        return await self._signal_then_snapshot(customer, RESUME_SIGNAL, ResumeRequest())

    async def close(self, customer: str, reason: str) -> ConversationView | None:
        """Close an open conversation now. None if none is open."""
        return await self._signal_then_snapshot(customer, CLOSE_SIGNAL, CloseRequest(reason=reason))

    async def start_outbound(self, request: OutboundRequest) -> ConversationView:
        """Start a message or call to a customer, opening their conversation if needed.

        Raises:
            TemporalUnavailable: Temporal could not be reached.
        """
        with _unavailable_as_error():
            await self._signal_with_start(request.to, request.channel, OUTBOUND_SIGNAL, request)
            view: ConversationView = await self._handle(request.to).execute_update(
                SNAPSHOT_UPDATE, result_type=ConversationView
            )
            return view

    async def voice_handoff_package(self, customer: str) -> HandoffPackage | None:
        """The package of the call's handoff, for the ``<Enqueue>`` task; None if unknown."""
        try:
            with _unavailable_as_error():
                package: HandoffPackage | None = await self._handle(customer).query(
                    HANDOFF_PACKAGE_QUERY, result_type=HandoffPackage
                )
                return package
        except (RPCError, WorkflowQueryFailedError, TemporalUnavailable) as exc:
            log.warning("handoff_package_unavailable", customer=customer, error=str(exc))
            return None  # the call is still enqueued, with what its HandoffData carries

    async def handoff_accepted(self, customer: str, by: str | None) -> bool:
        """A human took the conversation. False if none is open.

        Raises:
            TemporalUnavailable: Temporal could not be reached.
        """
        return await self._signal_open(customer, HANDOFF_ACCEPTED_SIGNAL, HandoffAccepted(by=by))

    async def handoff_over(self, customer: str, note: str) -> bool:
        """The human side is done with the conversation: back to the AI. False if none is open.

        Raises:
            TemporalUnavailable: Temporal could not be reached.
        """
        return await self._signal_open(customer, RESUME_SIGNAL, ResumeRequest(note=note))

    async def _signal_open(self, customer: str, signal: str, arg: object) -> bool:
        """Signal the customer's open conversation; False if none is open."""
        handle = self._handle(customer)
        try:
            with _unavailable_as_error():
                if arg is None:
                    await handle.signal(signal)
                else:
                    await handle.signal(signal, arg)
        except RPCError:  # NOT_FOUND: no open conversation
            return False
        return True

    async def call_enqueued(self, customer: str) -> None:
        """Tell the conversation its call went to the human queue (best effort)."""
        try:
            with _unavailable_as_error():
                await self._handle(customer).signal(VOICE_HANDED_OFF_SIGNAL)
        except (RPCError, TemporalUnavailable) as exc:
            log.warning("call_enqueued_not_recorded", customer=customer, error=str(exc))

    async def _signal_then_snapshot(
        self, customer: str, signal: str, arg: object
    ) -> ConversationView | None:
        handle = self._handle(customer)
        try:
            with _unavailable_as_error():
                await handle.signal(signal, arg)
        except RPCError:  # NOT_FOUND: no open conversation
            return None
        try:
            with _unavailable_as_error():
                view: ConversationView = await handle.execute_update(
                    SNAPSHOT_UPDATE, result_type=ConversationView
                )
                return view
        except (RPCError, WorkflowUpdateFailedError):
            # It finished meanwhile (a close): its final state answers queries still.
            return await self.describe(conversation_id(customer))

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
