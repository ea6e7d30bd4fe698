"""TaskRouter event callbacks: a human took a handed-off conversation, or is done with it.

Point the TaskRouter workspace's Event Callback URL at ``{PUBLIC_BASE_URL}/twilio/taskrouter``
(events ``reservation.accepted``, ``task.completed``, ``task.canceled``). Tasks carry the
conversation id in their attributes (the handoff package), so each event reaches its
conversation: accepted → ``human``; completed or canceled (nobody took it, or an agent let
it go) → back to the AI. Other events, and tasks that are not ours, are acknowledged and
ignored.

An event counts only for the conversation's current handoff task. A late or replayed
event of an earlier task (Twilio's signatures do not expire) must not hand a newer handoff
back to the AI, so it is acknowledged, logged and ignored. The current task is the one the
workflow recorded (``handoff.task_sid``); while it has none (a call enqueued by TwiML, or a
task whose creation is still being recorded), a task created before the handoff was asked
for cannot be its task.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import structlog
from fastapi import APIRouter, HTTPException, Response

from gateway.conversations import TemporalUnavailable
from gateway.dependencies import ConversationsDep, MetricsDep, SignedForm
from switchboard.contract.addresses import InvalidAddress, customer_of
from switchboard.contract.handoff import HandoffState

router = APIRouter()
log = structlog.get_logger(__name__)

ACCEPTED = frozenset({"reservation.accepted"})
OVER = {
    "task.completed": "the agent completed the task",
    "task.canceled": "the task was canceled",
    "task.deleted": "the task was deleted",
}
CLOCK_SLACK = timedelta(seconds=2)
"""Tolerance between Twilio's clock (whole seconds) and the workflow's."""


@router.post("/twilio/taskrouter")
async def taskrouter_event(
    form: SignedForm, conversations: ConversationsDep, metrics: MetricsDep
) -> Response:
    """One TaskRouter event (form-encoded, signed like every Twilio webhook)."""
    event = form.get("EventType", "")
    task_sid = form.get("TaskSid", "")
    customer = _customer_of_task(form.get("TaskAttributes", ""))
    if customer is None or (event not in ACCEPTED and event not in OVER):
        metrics.webhooks.labels("taskrouter", "ignored").inc()
        return Response(status_code=204)
    try:
        stale = _not_current(await conversations.current_handoff(customer), form)
        if stale is not None:
            metrics.webhooks.labels("taskrouter", "other_task").inc()
            log.info("taskrouter_event_ignored", event_type=event, task_sid=task_sid, why=stale)
            return Response(status_code=204)
        if event in ACCEPTED:
            found = await conversations.handoff_accepted(customer, form.get("WorkerName"))
        else:
            found = await conversations.handoff_over(customer, OVER[event])
    except TemporalUnavailable as exc:  # Twilio retries a failed callback
        raise HTTPException(status_code=503, detail="Temporal unavailable") from exc
    metrics.webhooks.labels("taskrouter", "accepted" if found else "no_conversation").inc()
    log.info("taskrouter_event", event_type=event, task_sid=task_sid, found=found)
    return Response(status_code=204)


def _customer_of_task(attributes: str) -> str | None:
    """The customer of a task we created (its attributes are a handoff package)."""
    try:
        parsed = json.loads(attributes) if attributes else {}
        conversation = parsed.get("conversation_id") if isinstance(parsed, dict) else None
        return customer_of(conversation) if isinstance(conversation, str) else None
    except (ValueError, RecursionError, InvalidAddress):  # RecursionError: nested too deep
        return None


def _not_current(handoff: HandoffState | None, form: dict[str, str]) -> str | None:
    """Why the event's task is not the current handoff's task; None when it is."""
    task_sid = form.get("TaskSid", "")
    if handoff is None:
        return "the conversation has no handoff"
    if handoff.ended_at is not None:
        return "the handoff is over"
    if handoff.task_sid is not None:
        return None if task_sid == handoff.task_sid else f"the current task is {handoff.task_sid}"
    created = _task_created(form)
    if created is None:
        return "the task's creation time is unknown"
    if created < _aware(handoff.requested_at) - CLOCK_SLACK:
        return "the task is older than the handoff"
    return None


def _task_created(form: dict[str, str]) -> datetime | None:
    """When the task was created: ``TaskDateCreated``, else ``Timestamp`` minus ``TaskAge``."""
    created = _instant(form.get("TaskDateCreated", ""))
    if created is not None:
        return created
    sent = _instant(form.get("Timestamp", ""))
    try:
        age = int(form.get("TaskAge", ""))
    except ValueError:
        return None
    return sent - timedelta(seconds=age) if sent is not None and age >= 0 else None


def _instant(raw: str) -> datetime | None:
    """A time as TaskRouter writes it: Unix seconds (or milliseconds), or ISO-8601."""
    raw = raw.strip()
    if not raw:
        return None
    try:
        number = float(raw)
    except ValueError:
        try:
            return _aware(datetime.fromisoformat(raw.replace("Z", "+00:00")))
        except ValueError:
            return None
    try:
        return datetime.fromtimestamp(number / 1000 if number > 1e11 else number, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
