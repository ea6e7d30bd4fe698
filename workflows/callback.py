"""``CallbackWorkflow``: "call me back at 3pm" as a durable timer.

Started by the conversation's ``schedule_callback`` tool as a child that outlives the
conversation run (abandoned, not cancelled, when the conversation closes). It sleeps until
the time, then starts an outbound call or message on the customer's conversation through
the ``start_outbound`` activity (signal-with-start, so it works whether or not that
conversation is still open). Cancelling it calls the callback off.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from switchboard.contract.names import START_OUTBOUND_ACTIVITY
    from switchboard.contract.outbound import CallbackInput, OutboundRequest
    from workflows.policies import START_OUTBOUND_POLICY


@workflow.defn
class CallbackWorkflow:
    """Sleeps until a callback is due, then starts the call or message. Cancel to call off."""

    @workflow.run
    async def run(self, input: CallbackInput) -> str:
        """Wait for ``input.callback.at``; then start the outbound conversation."""
        callback = input.callback
        delay = callback.at - workflow.now()
        try:
            if delay.total_seconds() > 0:
                await workflow.sleep(delay, summary=f"until {callback.at.isoformat()}")
        except asyncio.CancelledError:
            workflow.logger.info("callback %s canceled", callback.id)
            return "canceled"
        request = OutboundRequest(
            to=input.customer,
            channel=callback.channel,
            purpose=callback.note or "the callback the customer asked for",
            request_id=workflow.info().workflow_id,
            callback_id=callback.id,
            requested_at=workflow.now(),
        )
        await workflow.execute_activity(
            START_OUTBOUND_ACTIVITY,
            request,
            **START_OUTBOUND_POLICY,
            summary=f"{callback.channel} to {input.customer}",
        )
        return "started"
