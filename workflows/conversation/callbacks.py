"""Callbacks the customer asks for ("call me back at 3pm"), scheduled and cancelled.

``schedule_callback`` starts a ``CallbackWorkflow`` (``workflows.callback``): a child that
outlives this run — abandoned, not cancelled, when the conversation closes — sleeps until the
time, then starts the outbound call or message. ``cancel_callback`` (a tool, and a signal)
cancels that timer workflow. When a callback fires, its ``outbound`` request marks it done.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio import workflow
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from switchboard.agent.builtins import ScheduleCallbackArgs
    from switchboard.contract.addresses import Channel
    from switchboard.contract.outbound import CallbackInput, ScheduledCallback
    from workflows.callback import CallbackWorkflow
    from workflows.conversation.base import ACTIVITY_FAILURES, ConversationBase

CALLBACK_CAPS_PATCH = "callback-caps"
MAX_SCHEDULED = 5
"""Callbacks one customer may have waiting at once: a chatty model cannot flood their phone."""
MAX_HORIZON = timedelta(days=30)
"""How far ahead a callback may be scheduled."""
_FINISHED_KEPT = 20
"""Done and cancelled callbacks kept in the state (scheduled ones are always kept)."""


class InvalidCallbackTime(ValueError):
    """``at`` is not an ISO-8601 date and time."""


def parse_callback_time(text: str, now: datetime) -> datetime:
    """When a callback is due: ISO-8601, UTC when it has no offset, ``now`` when in the past.

    Raises:
        InvalidCallbackTime: ``text`` is not an ISO-8601 date and time.
    """
    try:
        at = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidCallbackTime(
            f"{text!r} is not an ISO-8601 date and time such as 2026-11-28T15:00:00-08:00"
        ) from exc
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    try:
        return max(at.astimezone(UTC), now)
    except (OverflowError, ValueError) as exc:  # year 1 or 9999 with an offset
        raise InvalidCallbackTime(f"{text!r} is out of range") from exc


class Callbacks:
    """The callbacks of one conversation: each a timer workflow of its own."""

    def __init__(self, conv: ConversationBase) -> None:
        self._conv = conv
        self._starting = 0  # callbacks whose timer workflow is being started (parallel calls)

    @property
    def any_scheduled(self) -> bool:
        """Whether a callback is waiting (the model is then offered ``cancel_callback``)."""
        return any(c.status == "scheduled" for c in self._conv.state.callbacks)

    async def schedule(self, args: ScheduleCallbackArgs) -> str:
        """Start the callback's timer workflow; the answer goes back to the model."""
        try:
            at = parse_callback_time(args.at, workflow.now())
        except InvalidCallbackTime as exc:
            return f"Error: {exc}"
        state = self._conv.state
        if workflow.patched(CALLBACK_CAPS_PATCH):
            if at - workflow.now() > MAX_HORIZON:
                return f"Error: a callback can be at most {MAX_HORIZON.days} days ahead."
            waiting = self._starting + sum(1 for c in state.callbacks if c.status == "scheduled")
            if waiting >= MAX_SCHEDULED:
                return (
                    f"Error: {waiting} callbacks are already scheduled, the most allowed; "
                    "cancel one first."
                )
        state.callbacks_made += 1  # before any await: parallel calls get their own ids
        number = state.callbacks_made
        callback = ScheduledCallback(
            id=f"cb-{number}",
            workflow_id=f"callback-{state.customer}-{workflow.uuid4().hex[:12]}",
            at=at,
            channel=Channel(args.channel),
            note=args.note,
        )
        self._starting += 1
        try:
            await self._start(callback)
        finally:
            self._starting -= 1
        state.callbacks.append(callback)
        _trim(state.callbacks)
        self._conv.note(
            f"callback {callback.id} scheduled for {at.isoformat()} by {callback.channel}"
        )
        return (
            f"Callback {callback.id} scheduled for {at.strftime('%Y-%m-%d %H:%M')} UTC by "
            f"{callback.channel}. Confirm it to the customer."
        )

    async def _start(self, callback: ScheduledCallback) -> None:
        """Start the callback's timer workflow, abandoned when this run closes."""
        state = self._conv.state
        await workflow.start_child_workflow(
            CallbackWorkflow.run,
            CallbackInput(
                callback=callback,
                customer=state.customer,
                conversation_id=workflow.info().workflow_id,
            ),
            id=callback.workflow_id,
            parent_close_policy=ParentClosePolicy.ABANDON,
            static_summary=f"Callback by {callback.channel}",  # no number in metadata
        )

    async def cancel(self, callback_id: str | None) -> str:
        """Cancel one scheduled callback, or all of them; the answer goes back to the model."""
        chosen = [
            c
            for c in self._conv.state.callbacks
            if c.status == "scheduled" and (callback_id is None or c.id == callback_id)
        ]
        if not chosen:
            return "There is no such scheduled callback."
        for callback in chosen:
            try:
                await workflow.get_external_workflow_handle(callback.workflow_id).cancel()
            except ACTIVITY_FAILURES as exc:
                workflow.logger.info("callback %s already over: %s", callback.id, exc)
            callback.status = "canceled"
            self._conv.note(f"callback {callback.id} canceled")
        return "Canceled: " + ", ".join(c.id for c in chosen)

    def fired(self, workflow_id: str) -> None:
        """The callback run by ``workflow_id`` has started its conversation."""
        for callback in self._conv.state.callbacks:
            if callback.workflow_id == workflow_id:
                callback.status = "done"


def _trim(callbacks: list[ScheduledCallback]) -> None:
    """Drop the oldest finished callbacks past ``_FINISHED_KEPT``; never a scheduled one.

    A scheduled callback dropped from the state could no longer be cancelled (its timer
    workflow would still fire), so only done and cancelled ones go.
    """
    finished = [c for c in callbacks if c.status != "scheduled"]
    dropped = {id(c) for c in finished[: max(0, len(finished) - _FINISHED_KEPT)]}
    callbacks[:] = [c for c in callbacks if id(c) not in dropped]
