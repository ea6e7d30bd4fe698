"""The SDK's CPU floor per text turn, measured beside the product's in the same run.

A text turn is, at the least, a signal and two local activities (the model's, the send's).
``FloorWorkflow`` (``benchmarks.floor``) is exactly that with no work in either activity and
no state, so a worker process running it under the same load as the product's worker costs
what the Temporal SDK itself costs per turn on this machine: its core's threads, its Python
per activation and per local activity, the sandbox. The product's CPU per turn divided by
this floor is the figure that does not move with the machine; the difference is what the
product's own work costs (the two HTTP calls, the outbox and recall's SQLite, the workflow
code). The same load on runs of one no-op local activity a turn gives the floor of a turn
folded into a single activity.

The floor worker (``scale.py --as-floor-worker``) is set up as the product's worker is: the
same client runtime (SDK metrics on), workflow runner, event loop, sticky cache and sticky
timeout. SIGUSR1 makes it write how many first and second no-ops it has run to
``FLOOR_COUNT_ENV``, as JSON.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from benchmarks.floor import FloorClock, FloorWorkflow
from benchmarks.harness import cpu_per_turn, open_loop, spawn, stop_all, thread_cpu

FLOOR_COUNT_ENV = "SCALE_FLOOR_COUNT_OUT"
FLOOR_QUEUE = "switchboard-cpu-floor"


async def serve_floor() -> None:
    """The floor worker's process: ``FloorWorkflow`` on the product worker's settings."""
    from switchboard.runtime.config import get_settings
    from switchboard.runtime.temporal import connect
    from worker import workflow_runner

    settings = get_settings()
    client = await connect(settings)
    clock = FloorClock()
    out = Path(os.environ[FLOOR_COUNT_ENV])
    loop = asyncio.get_running_loop()
    counts = {"first": clock.first, "second": clock.second}
    loop.add_signal_handler(
        signal.SIGUSR1,
        lambda: out.write_text(json.dumps({k: len(v) for k, v in counts.items()})),
    )
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    worker = Worker(
        client,
        task_queue=FLOOR_QUEUE,
        workflows=[FloorWorkflow],
        activities=[clock.floor_first, clock.floor_second],
        workflow_runner=workflow_runner(settings),
        max_cached_workflows=settings.worker_max_cached_workflows,
        sticky_queue_schedule_to_start_timeout=settings.worker_sticky_timeout,
    )
    async with worker:
        await stop.wait()


def run_floor_worker() -> None:
    """``serve_floor`` on the event loop the product's worker would pick."""
    import worker

    worker.run_on_loop(serve_floor)


class FloorLoad:
    """Pings to ``FloorWorkflow`` runs, each started by its first ping (signal-with-start)."""

    def __init__(self, client: Client, runs: int, rate: float, steps: int, seq: float) -> None:
        self._client = client
        self.runs = runs
        self.rate = rate
        self._steps = steps
        self._ids = [f"cpu-floor-{steps}-{i}" for i in range(runs)]
        self._seq = seq  # each ping's key in the floor's clock: distinct, so counted once

    async def ping(self, i: int) -> None:
        """One turn of run ``i`` (round robin), starting it if it is not running."""
        self._seq += 1
        await self._client.start_workflow(
            FloorWorkflow.run,
            args=[True, self._steps],  # local activities, as a text turn's
            id=self._ids[i % len(self._ids)],
            task_queue=FLOOR_QUEUE,
            start_signal="ping",
            start_signal_args=[self._seq],
        )

    async def steady(self, seconds: float) -> int:
        """Its open-loop rate of pings for ``seconds``; how many were sent."""
        return await open_loop(self.rate, seconds, self.ping)


def _ask_count(process: subprocess.Popen[bytes], out: Path) -> None:
    out.unlink(missing_ok=True)
    process.send_signal(signal.SIGUSR1)


def _read_count(out: Path, key: str) -> int | None:
    text = out.read_text() if out.exists() else ""
    return int(json.loads(text)[key]) if text else None


async def _completed(process: subprocess.Popen[bytes], out: Path, key: str) -> int:
    """How many first (or second) no-ops the floor worker has run so far."""
    _ask_count(process, out)
    for _ in range(100):
        await asyncio.sleep(0.05)
        count = _read_count(out, key)
        if count is not None:
            return count
    raise RuntimeError("the floor worker did not report its count")


async def _one_floor(
    process: subprocess.Popen[bytes], out: Path, load: FloorLoad, key: str, seconds: float
) -> dict[str, Any]:
    """CPU per turn of the floor worker under ``load``'s runs, ``key`` counting its turns."""
    # start-up, and every run started (and so cached) before the measured load
    await load.steady(load.runs / load.rate + 3)
    await asyncio.sleep(2)
    done_before, cpu_before = await _completed(process, out, key), thread_cpu(process.pid)
    sent = await load.steady(seconds)
    deadline = time.perf_counter() + 60
    done = await _completed(process, out, key)
    while done - done_before < sent and time.perf_counter() < deadline:
        await asyncio.sleep(0.2)
        done = await _completed(process, out, key)
    turns = done - done_before
    return {
        "turns": turns,
        "sent": sent,
        **cpu_per_turn(cpu_before, thread_cpu(process.pid), turns),
    }


async def measure_floor(
    client: Client, env: dict[str, str], work: Path, *, workflows: int, rate: float, seconds: float
) -> dict[str, Any]:
    """CPU per turn of a floor worker under ``rate`` pings/s over ``workflows`` cached runs:
    a turn of two no-op local activities, then (``one_activity``) of one."""
    out = work / "floor-count.txt"
    process = spawn(
        ["benchmarks/scale.py", "--as-floor-worker"],
        {**env, FLOOR_COUNT_ENV: str(out)},
        work / "floor-worker.log",
    )
    two = FloorLoad(client, workflows, rate, steps=2, seq=0.0)
    one = FloorLoad(client, workflows, rate, steps=1, seq=1e9)
    try:
        floor = await _one_floor(process, out, two, "second", seconds)
        floor["one_activity"] = await _one_floor(process, out, one, "first", seconds)
    finally:
        stop_all([process])
    return floor
