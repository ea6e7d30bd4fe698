"""The gateway's own Temporal worker: it watches the call legs whose sockets live here.

Each gateway process polls a task queue of its own, ``gateway-<instance id>``; a workflow
learns it from the ``voice_call_started`` signal and schedules two activities there:

- ``watch_voice_leg`` runs as long as the call and heartbeats every second, so if this
  process dies the workflow hears of it at the heartbeat timeout, not hours later;
- ``perform_voice_actions`` sends call actions the workflow decides on its own (hang up when
  the conversation closes).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
from collections.abc import AsyncIterator

import structlog
from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

from gateway.voice.calls import LiveCalls
from switchboard.contract.names import PERFORM_VOICE_ACTIONS_ACTIVITY, WATCH_VOICE_LEG_ACTIVITY
from switchboard.contract.names import gateway_task_queue as gateway_task_queue_name
from switchboard.contract.voice import VoiceActionsRequest, VoiceLegEnd
from switchboard.runtime.config import Settings
from switchboard.runtime.temporal import connect
from switchboard.runtime.tracing import worker_interceptors

log = structlog.get_logger(__name__)

HEARTBEAT_EVERY_SECONDS = 1.0


def gateway_task_queue(settings: Settings) -> str:
    """``gateway-<instance id>``: unique per process unless ``GATEWAY_INSTANCE_ID`` is set."""
    instance = settings.gateway_instance_id or (
        f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
    )
    return gateway_task_queue_name(instance)


class LegActivities:
    """Activities that need the live socket, so they run in the gateway that holds it."""

    def __init__(self, calls: LiveCalls) -> None:
        self._calls = calls

    @activity.defn(name=WATCH_VOICE_LEG_ACTIVITY)
    async def watch_voice_leg(self, call_sid: str) -> VoiceLegEnd:
        """Wait until the call's socket closes, heartbeating; returns how the leg ended."""
        session = self._calls.get(call_sid)
        if session is None:
            return VoiceLegEnd(call_sid=call_sid, reason=self._calls.ended_reason(call_sid))
        while True:
            activity.heartbeat()
            try:
                async with asyncio.timeout(HEARTBEAT_EVERY_SECONDS):
                    reason = await asyncio.shield(session.ended)
            except TimeoutError:
                continue
            return VoiceLegEnd(call_sid=call_sid, reason=reason)

    @activity.defn(name=PERFORM_VOICE_ACTIONS_ACTIVITY)
    async def perform_voice_actions(self, request: VoiceActionsRequest) -> bool:
        """Send the actions on the call now. False if the call is no longer here."""
        session = self._calls.get(request.call_sid)
        if session is None:
            return False
        await session.perform(request.actions)
        return True


@contextlib.asynccontextmanager
async def running_leg_worker(
    client: Client | None, settings: Settings, task_queue: str, calls: LiveCalls
) -> AsyncIterator[None]:
    """Poll ``task_queue`` for leg activities while the block runs.

    Temporal may be down when the gateway starts: the worker then keeps trying in the
    background instead of stopping the gateway from serving webhooks. Workers need a
    connected client (the gateway's own is lazy), so without ``client`` one is made here.
    """
    legs = LegActivities(calls)
    worker: Worker | None = None

    async def serve() -> None:
        nonlocal worker
        while True:
            try:
                connected = client or await connect(settings)
                worker = Worker(
                    connected,
                    task_queue=task_queue,
                    activities=[legs.watch_voice_leg, legs.perform_voice_actions],
                    max_concurrent_activities=5000,  # a watcher per live call; they only wait
                    interceptors=worker_interceptors(connected),
                )
                log.info("leg_worker_started", task_queue=task_queue)
                await worker.run()
                return
            except Exception as exc:
                log.warning("leg_worker_unavailable", error=str(exc))
                worker = None
                await asyncio.sleep(1.0)

    task = asyncio.create_task(serve())
    try:
        yield
    finally:
        if worker is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(worker.shutdown(), timeout=5)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
