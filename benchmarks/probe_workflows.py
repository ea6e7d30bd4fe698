"""Workflows for ``dispatch_probe.py`` (workflows must live in an importable module)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import activity, workflow


@activity.defn(name="probe_sleep")
async def probe_sleep(seconds: float) -> None:
    """An activity that takes ``seconds``."""
    await asyncio.sleep(seconds)


@workflow.defn
class ActivityChainWorkflow:
    """Runs ``count`` activities of a given duration back to back."""

    @workflow.run
    async def run(self, seconds: float, count: int) -> None:
        """Chain the activities."""
        for _ in range(count):
            await workflow.execute_activity(
                probe_sleep, seconds, start_to_close_timeout=timedelta(seconds=10)
            )
