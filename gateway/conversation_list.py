"""The operator's list of conversations, read from Temporal visibility.

Listing is a different kind of Temporal call from the rest of the gateway's: it reads the
visibility store (search attributes, which may lag a little behind the workflows) instead
of signalling or asking one workflow, and it fans out to many workflows at once. It lives
apart from ``gateway.conversations`` so that module stays about acting on one conversation.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import structlog
from pydantic import BaseModel
from temporalio.client import Client, WorkflowExecution, WorkflowQueryFailedError
from temporalio.service import RPCError

from switchboard.contract import search_attributes as sa
from switchboard.contract.addresses import Channel, customer_of
from switchboard.contract.conversation import ConversationStatus
from workflows.conversation import ConversationWorkflow

log = structlog.get_logger(__name__)
DESCRIBE_WAIT = 2.0
"""Seconds a listed open conversation may take to describe itself before visibility answers."""


class ConversationSummary(BaseModel):
    """One row of ``GET /api/conversations``."""

    id: str
    customer: str
    status: ConversationStatus
    channels: list[Channel]
    last_activity: datetime | None


async def list_conversations(
    client: Client,
    *,
    closed: bool = False,
    status: ConversationStatus | None = None,
    channel: Channel | None = None,
    customer: str | None = None,
    limit: int = 100,
) -> list[ConversationSummary]:
    """Conversations from Temporal visibility (search attributes), newest first.

    Open ones by default, each described by its own workflow when it answers (visibility
    may lag); with ``closed``, the latest closed run of each conversation.

    Args:
        client: The Temporal client to list with.
        closed: List closed conversations instead of open ones.
        status: Only open conversations in this status (ignored with ``closed``).
        channel: Only conversations that used this channel.
        customer: Only this customer's conversations (E.164).
        limit: At most this many conversations.

    Returns:
        One summary per conversation id.

    Raises:
        RPCError: visibility could not be read.
        RuntimeError: the client could not connect.
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
    async for execution in client.list_workflows(" AND ".join(clauses)):
        if execution.id not in found:  # newest first: the latest run of each id
            found[execution.id] = execution
        if len(found) >= limit:
            break
    if closed:
        return [_closed_summary(e) for e in found.values()]
    return list(await asyncio.gather(*(_open_summary(client, e) for e in found.values())))


def _closed_summary(execution: WorkflowExecution) -> ConversationSummary:
    attributes = execution.typed_search_attributes
    return ConversationSummary(
        id=execution.id,
        customer=attributes.get(sa.CUSTOMER_ID) or customer_of(execution.id),
        status=ConversationStatus.CLOSED,
        channels=[Channel(c) for c in attributes.get(sa.CONVERSATION_CHANNELS) or []],
        last_activity=execution.close_time or execution.start_time,
    )


async def _open_summary(client: Client, execution: WorkflowExecution) -> ConversationSummary:
    attributes = execution.typed_search_attributes
    summary = ConversationSummary(
        id=execution.id,
        customer=attributes.get(sa.CUSTOMER_ID) or customer_of(execution.id),
        status=ConversationStatus(attributes.get(sa.CONVERSATION_STATUS) or ConversationStatus.AI),
        channels=[Channel(c) for c in attributes.get(sa.CONVERSATION_CHANNELS) or []],
        last_activity=execution.start_time,
    )
    handle = client.get_workflow_handle_for(ConversationWorkflow.run, execution.id)
    try:  # the freshest word is the workflow's own, when a worker answers in time
        view = await asyncio.wait_for(handle.query(ConversationWorkflow.describe), DESCRIBE_WAIT)
    except (RPCError, WorkflowQueryFailedError, RuntimeError, TimeoutError) as exc:
        # No worker polling (all down, or a deploy in progress): the list still answers,
        # from visibility, instead of waiting on every conversation for the RPC timeout.
        log.info("conversation_not_described", id=execution.id, error=str(exc) or "timeout")
        return summary
    return ConversationSummary(
        id=view.id,
        customer=view.customer,
        status=view.status,
        channels=view.channels,
        last_activity=view.last_activity or execution.start_time,
    )
