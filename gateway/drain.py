"""Graceful drain on SIGTERM: stop taking calls, let the live ones finish, then exit.

uvicorn's own SIGTERM handling closes the listening socket at once and then closes every
WebSocket with 1012 (service restart): each call this gateway holds would drop mid-sentence
on every deploy. A gateway run by :class:`DrainingServer` takes the first SIGTERM as the
start of a drain instead:

- it keeps listening and answering, but ``/healthz`` answers 503 (``draining``), so a load
  balancer or a Kubernetes readiness probe stops sending it anything new;
- a new ConversationRelay socket is refused with 503 and ``/twilio/voice`` tells the caller
  the lines are busy (the relay slots count as full), for what still arrives meanwhile;
- the calls already up go on until they end, or until ``GATEWAY_DRAIN_SECONDS`` have
  passed; then uvicorn's usual shutdown runs (requests in flight finish, any socket still
  open is closed, the lifespan ends).

A second SIGTERM, or SIGINT (Ctrl+C), skips what is left of the drain. Nothing else about
the server changes.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from types import FrameType

import structlog
import uvicorn
from fastapi import FastAPI

from gateway.voice.calls import RelaySlots

log = structlog.get_logger(__name__)


class DrainingServer(uvicorn.Server):
    """A uvicorn server that drains ``app``'s calls on SIGTERM before shutting down."""

    def __init__(
        self,
        config: uvicorn.Config,
        app: FastAPI,
        drain_seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(config)
        self._app = app
        self._drain_seconds = drain_seconds
        self._clock = clock
        self._deadline: float | None = None

    @property
    def draining(self) -> bool:
        """True from the first SIGTERM on."""
        return self._deadline is not None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Start draining on the first SIGTERM; anything else stops as uvicorn would."""
        slots = self._slots()
        if sig == signal.SIGTERM and not self.draining and not self.should_exit and slots:
            # Called as a signal handler, between two bytecodes of the event loop's thread:
            # only flags are set here, and on_tick (in the loop) acts on them.
            slots.drain()
            self._deadline = self._clock() + self._drain_seconds
            log.info("gateway_draining", live_calls=slots.in_use, bound_s=self._drain_seconds)
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        """Each tick of the server (every 0.1 s); it also ends a drain once its calls have."""
        if self._deadline is not None and not self.should_exit:
            slots = self._slots()
            live = slots.in_use if slots else 0
            if live == 0 or self._clock() >= self._deadline:
                log.info("gateway_drained", live_calls=live)
                self.should_exit = True
        return await super().on_tick(counter)

    def _slots(self) -> RelaySlots | None:
        # Set by the app's lifespan: a SIGTERM before start-up completed just stops.
        slots = getattr(self._app.state, "relay_slots", None)
        return slots if isinstance(slots, RelaySlots) else None
