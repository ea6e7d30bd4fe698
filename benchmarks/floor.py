"""The Temporal floor: the smallest signal → activity paths, measured beside the product.

``FloorWorkflow`` answers each signal with two no-op activities in a row (regular ones, or
local ones), the shape of a text turn — generate, then send — with no work in either. Start
times are recorded in the process that sent the signal, so the worker runs in that process.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import activity, workflow


@dataclass
class FloorClock:
    """Activity start times, keyed by the signal's send time."""

    first: dict[float, float] = field(default_factory=dict)
    second: dict[float, float] = field(default_factory=dict)

    @activity.defn(name="floor_first")
    async def floor_first(self, sent_at: float) -> float:
        """The first no-op (stands for the model call)."""
        self.first[sent_at] = time.perf_counter()
        return sent_at

    @activity.defn(name="floor_second")
    async def floor_second(self, sent_at: float) -> None:
        """The second no-op (stands for the send)."""
        self.second[sent_at] = time.perf_counter()


@workflow.defn
class FloorWorkflow:
    """Runs two no-op activities per signal (or one); nothing else."""

    def __init__(self) -> None:
        self._queue: list[float] = []
        self._done = False

    @workflow.run
    async def run(self, local: bool, steps: int = 2) -> None:
        """Serve signals until told to stop; ``steps=1``: the first no-op only."""
        timeout = timedelta(seconds=10)
        while True:
            await workflow.wait_condition(lambda: bool(self._queue) or self._done)
            if not self._queue:
                return
            sent_at = self._queue.pop(0)
            for name in ("floor_first", "floor_second")[:steps]:
                if local:
                    await workflow.execute_local_activity(
                        name, sent_at, start_to_close_timeout=timeout
                    )
                else:
                    await workflow.execute_activity(name, sent_at, start_to_close_timeout=timeout)

    @workflow.signal
    def ping(self, sent_at: float) -> None:
        """One round trip."""
        self._queue.append(sent_at)

    @workflow.signal
    def stop(self) -> None:
        """Finish."""
        self._done = True


@workflow.defn
class HopWorkflow:
    """The two hops a voice turn could take: an update answered in the workflow task, or a
    signal answered by an activity on another worker's task queue (the gateway's)."""

    def __init__(self) -> None:
        self._queue: list[float] = []
        self._done = False

    @workflow.run
    async def run(self, activity_queue: str) -> None:
        """Serve signals until told to stop."""
        while True:
            await workflow.wait_condition(lambda: bool(self._queue) or self._done)
            if not self._queue:
                return
            await workflow.execute_activity(
                "floor_first",
                self._queue.pop(0),
                task_queue=activity_queue,
                start_to_close_timeout=timedelta(seconds=10),
            )

    @workflow.update
    def noop(self, sent_at: float) -> float:
        """Answered in the workflow task itself."""
        return sent_at

    @workflow.signal
    def ping(self, sent_at: float) -> None:
        """One signal → activity round trip."""
        self._queue.append(sent_at)

    @workflow.signal
    def stop(self) -> None:
        """Finish."""
        self._done = True
