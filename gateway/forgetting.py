"""Forgetting a customer in Temporal: close their open conversation, cancel their callbacks.

``DELETE /api/profiles/{customer}`` runs these before the store forgets: the open run drops
what was said, cancels its callbacks and closes (waited for, so the customer's data keys are
destroyed only once no open run still needs them), and callbacks scheduled by earlier runs —
timer workflows that outlive their conversation — are cancelled too.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import structlog
from temporalio.client import Client, WorkflowContinuedAsNewError
from temporalio.service import RPCError

from gateway.conversations import TemporalUnavailable, if_open, unavailable_as_error
from switchboard.contract.addresses import conversation_id, to_e164
from workflows.conversation import ConversationWorkflow

log = structlog.get_logger(__name__)

FORGET_WAIT = 15.0
"""Seconds ``forget_conversation`` waits for the open conversation to close."""
_MAX_CALLBACKS = 1000


@dataclass(frozen=True)
class Forgotten:
    """What ``forget_conversation`` found: whether a conversation was open, and still is."""

    was_open: bool
    still_open: bool


async def forget_conversation(
    client: Client, customer: str, *, wait: float | None = None
) -> Forgotten:
    """Tell the open conversation its customer was forgotten, and wait for that run to end.

    ``wait`` defaults to ``FORGET_WAIT`` seconds.

    Raises:
        TemporalUnavailable: Temporal could not be reached.
    """
    handle = client.get_workflow_handle_for(ConversationWorkflow.run, conversation_id(customer))
    if not await if_open(handle.signal(ConversationWorkflow.forget)):
        return Forgotten(was_open=False, still_open=False)
    try:
        # This run only: one that continued as new (a text after the forget) is still open.
        await asyncio.wait_for(
            handle.result(follow_runs=False), FORGET_WAIT if wait is None else wait
        )
    except (TimeoutError, WorkflowContinuedAsNewError):
        log.warning("forget_close_pending", conversation_id=conversation_id(customer))
        return Forgotten(was_open=True, still_open=True)
    except Exception as exc:  # closed some other way (failed, terminated): nothing runs
        log.info("forget_close_ended", error=type(exc).__name__)
    return Forgotten(was_open=True, still_open=False)


async def cancel_callbacks(client: Client, customer: str) -> int:
    """Cancel the customer's scheduled callbacks, whatever run scheduled them; how many.

    Raises:
        TemporalUnavailable: Temporal could not be reached.
    """
    prefix = f"callback-{to_e164(customer)}-"
    query = (
        "WorkflowType = 'CallbackWorkflow' AND ExecutionStatus = 'Running' "
        f"AND WorkflowId STARTS_WITH '{prefix}'"
    )
    cancelled = 0
    with unavailable_as_error():
        async for execution in client.list_workflows(query, limit=_MAX_CALLBACKS):
            if not execution.id.startswith(prefix):
                continue
            with contextlib.suppress(RPCError):  # it ended meanwhile
                await client.get_workflow_handle(execution.id).cancel()
                cancelled += 1
    return cancelled


__all__ = ["FORGET_WAIT", "Forgotten", "TemporalUnavailable", "cancel_callbacks",
           "forget_conversation"]  # fmt: skip
