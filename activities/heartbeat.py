"""Heartbeat while an activity waits on something slow, so a dead worker is noticed in seconds."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from temporalio import activity


@contextlib.asynccontextmanager
async def heartbeating(interval: float = 2.0) -> AsyncIterator[None]:
    """Send a heartbeat every ``interval`` seconds for as long as the block runs.

    The first beat comes only after ``interval``: fast activities never pay for one.
    """

    async def beat() -> None:
        while True:
            await asyncio.sleep(interval)
            activity.heartbeat()

    # Local activities cannot heartbeat; outside an activity (a benchmark baseline), nobody listens.
    if not activity.in_activity() or activity.info().is_local:
        yield
        return
    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
