"""Where the "periodic ~40 ms penalty" of signal → activity comes from, measured.

For activity durations from 0 to 100 ms it chains activities in one workflow and reads, from
the server's own event timestamps, how long each workflow task waited between
``WorkflowTaskScheduled`` and ``WorkflowTaskStarted``. A workflow task that becomes ready
within a few tens of milliseconds of the worker picking up the previous one for the same
workflow waits for the worker's next sticky-queue poll; later ones are dispatched at once.

    .venv/bin/python benchmarks/dispatch_probe.py
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import Worker

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.probe_workflows import ActivityChainWorkflow, probe_sleep
from switchboard.devtools.devserver import DevServer
from tests.support.server import free_port


def dispatch_waits(events: list[object]) -> list[float]:
    """Milliseconds each workflow task waited between scheduled and started."""
    waits, scheduled = [], None
    for event in events:
        at = event.event_time.ToMicroseconds() / 1000  # type: ignore[attr-defined]
        kind = event.event_type  # type: ignore[attr-defined]
        if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
            scheduled = at
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED and scheduled is not None:
            waits.append(at - scheduled)
    return sorted(waits[2:])  # skip the first tasks of the run


async def main() -> None:
    server = DevServer(port=free_port(), ui_port=None, db_file=None)
    await server.start()
    try:
        client = await Client.connect(server.address)
        queue = f"probe-{uuid.uuid4().hex[:6]}"
        async with Worker(client, task_queue=queue, workflows=[ActivityChainWorkflow],
                          activities=[probe_sleep]):  # fmt: skip
            print("activity   workflow task scheduled → started (server timestamps)")
            for ms in (0, 5, 10, 20, 30, 60, 100):
                handle = await client.start_workflow(
                    ActivityChainWorkflow.run, args=[ms / 1000, 40],
                    id=f"{queue}-{ms}", task_queue=queue,
                )  # fmt: skip
                await handle.result()
                waits = dispatch_waits(list((await handle.fetch_history()).events))
                p50, p90 = waits[len(waits) // 2], waits[9 * len(waits) // 10]
                print(f"{ms:6d} ms   p50 {p50:5.1f} ms   p90 {p90:5.1f} ms")
    finally:
        server.stop()


if __name__ == "__main__":
    asyncio.run(main())
