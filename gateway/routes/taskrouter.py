"""TaskRouter event callbacks: a human took a handed-off conversation, or is done with it.

Point the TaskRouter workspace's Event Callback URL at ``{PUBLIC_BASE_URL}/twilio/taskrouter``
(events ``reservation.accepted``, ``task.completed``, ``task.canceled``). Tasks carry the
conversation id in their attributes (the handoff package), so each event reaches its
conversation: accepted → ``human``; completed or canceled (nobody took it, or an agent let
it go) → back to the AI. Other events, and tasks that are not ours, are acknowledged and
ignored.
"""

from __future__ import annotations

import json

import structlog
from fastapi import APIRouter, HTTPException, Response

from gateway.conversations import TemporalUnavailable
from gateway.dependencies import ConversationsDep, MetricsDep, SignedForm
from switchboard.contract.addresses import InvalidAddress, customer_of

router = APIRouter()
log = structlog.get_logger(__name__)

ACCEPTED = frozenset({"reservation.accepted"})
OVER = {
    "task.completed": "the agent completed the task",
    "task.canceled": "the task was canceled",
    "task.deleted": "the task was deleted",
}


@router.post("/twilio/taskrouter")
async def taskrouter_event(
    form: SignedForm, conversations: ConversationsDep, metrics: MetricsDep
) -> Response:
    """One TaskRouter event (form-encoded, signed like every Twilio webhook)."""
    event = form.get("EventType", "")
    customer = _customer_of_task(form.get("TaskAttributes", ""))
    if customer is None or (event not in ACCEPTED and event not in OVER):
        metrics.webhooks.labels("taskrouter", "ignored").inc()
        return Response(status_code=204)
    try:
        if event in ACCEPTED:
            found = await conversations.handoff_accepted(customer, form.get("WorkerName"))
        else:
            found = await conversations.handoff_over(customer, OVER[event])
    except TemporalUnavailable as exc:  # Twilio retries a failed callback
        raise HTTPException(status_code=503, detail="Temporal unavailable") from exc
    metrics.webhooks.labels("taskrouter", "accepted" if found else "no_conversation").inc()
    log.info("taskrouter_event", event_type=event, task_sid=form.get("TaskSid"), found=found)
    return Response(status_code=204)


def _customer_of_task(attributes: str) -> str | None:
    """The customer of a task we created (its attributes are a handoff package)."""
    try:
        parsed = json.loads(attributes) if attributes else {}
        conversation = parsed.get("conversation_id") if isinstance(parsed, dict) else None
        return customer_of(conversation) if isinstance(conversation, str) else None
    except (ValueError, InvalidAddress):
        return None
