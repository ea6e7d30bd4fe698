"""Live views for the console: one poll loop per view, shared by every listener, as SSE.

A browser tab watching the inbox or a conversation holds a ``text/event-stream`` response.
Temporal has no push channel for a workflow's state, so the gateway polls: but once per
view and process, not once per tab — a ``Feed`` runs one loop while anyone listens, keeps
the latest event, and wakes its listeners only when the event changed. Two people watching
the same conversation cost one query per interval between them.

A stream ends after ``STREAM_SECONDS`` (the client opens it again, and gets the current state
at once): an open stream would otherwise hold a gateway's shutdown, which waits for every
response in flight to finish.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Final

import structlog

from gateway.conversations import TemporalUnavailable

log = structlog.get_logger(__name__)

PING_SECONDS: Final = 15.0
"""A ``: ping`` comment this often keeps proxies from closing an idle stream."""
STREAM_SECONDS: Final = 30.0
"""A stream ends after this long; the client reconnects (see the module docstring)."""
ERROR_RETRY_SECONDS: Final = 1.0
"""How soon a loop that failed (Temporal down) tries again."""


@dataclass(frozen=True)
class Event:
    """One server-sent event: its name and its data (JSON on one line)."""

    name: str
    data: str

    def encode(self) -> bytes:
        """The event as it goes on the wire."""
        return f"event: {self.name}\ndata: {self.data}\n\n".encode()


PING: Final = b": ping\n\n"


def error_event(exc: BaseException) -> Event:
    """The ``error`` event of a loop that could not read Temporal."""
    if isinstance(exc, TemporalUnavailable):
        detail = f"Temporal unavailable: {exc}"[:500]
    else:  # a bug must not leak internals to the page; the log has it
        detail = "the console could not read this view; retrying"
    return Event("error", json.dumps({"detail": detail}))


Poll = Callable[[], Awaitable[Event]]
"""Reads the view once: its event (``TemporalUnavailable`` becomes an ``error`` event)."""


class Feed:
    """One view's poll loop and latest event, shared by its listeners.

    The loop runs while at least one listener is attached, polling every ``interval(event)``
    seconds (the last event decides: a closed conversation is polled less often).
    """

    def __init__(
        self,
        name: str,
        poll: Poll,
        interval: Callable[[Event], float],
        on_idle: Callable[[Feed], None] | None = None,
    ) -> None:
        self.name = name
        self._poll = poll
        self._interval = interval
        self._on_idle = on_idle
        self._latest: Event | None = None
        self._version = 0
        self._changed = asyncio.Condition()
        self._listeners = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def listeners(self) -> int:
        """How many streams are attached."""
        return self._listeners

    async def _run(self) -> None:
        while True:
            began = time.monotonic()
            try:
                event = await self._poll()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the loop must outlive any one failure
                if not isinstance(exc, TemporalUnavailable):
                    log.exception("console_feed_failed", feed=self.name)
                event = error_event(exc)
            if event != self._latest:
                async with self._changed:
                    self._latest = event
                    self._version += 1
                    self._changed.notify_all()
            wait = ERROR_RETRY_SECONDS if event.name == "error" else self._interval(event)
            # Polls start every ``wait`` seconds (a slow read does not add its own time).
            await asyncio.sleep(max(0.05, began + wait - time.monotonic()))

    def _attach(self) -> None:
        self._listeners += 1
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"console-feed-{self.name}")

    def _detach(self) -> None:
        self._listeners -= 1
        if self._listeners == 0:
            if self._task is not None:
                self._task.cancel()
                self._task = None
            self._latest, self._version = None, 0  # a later listener must not see stale data
            if self._on_idle is not None:
                self._on_idle(self)

    async def stream(
        self, *, lifetime: float = STREAM_SECONDS, ping: float = PING_SECONDS
    ) -> AsyncGenerator[bytes, None]:
        """The current event at once, then each change, pings between; ends after ``lifetime``."""
        self._attach()
        try:
            seen = 0

            def changed() -> bool:
                return self._version > seen

            ends = time.monotonic() + lifetime
            while (left := ends - time.monotonic()) > 0:
                async with self._changed:
                    try:
                        await asyncio.wait_for(self._changed.wait_for(changed), min(ping, left))
                    except TimeoutError:
                        event = None
                    else:
                        event, seen = self._latest, self._version
                if event is not None:
                    yield event.encode()
                elif ends - time.monotonic() > 0:
                    yield PING
        finally:
            self._detach()


class Feeds:
    """The feeds of one gateway process, by view (one per view while anyone listens)."""

    def __init__(self) -> None:
        self._feeds: dict[str, Feed] = {}

    def get(self, name: str, poll: Poll, interval: Callable[[Event], float]) -> Feed:
        """The feed of view ``name``, made with ``poll`` and ``interval`` if there is none."""
        feed = self._feeds.get(name)
        if feed is None:
            feed = self._feeds[name] = Feed(name, poll, interval, on_idle=self._forget)
        return feed

    def _forget(self, feed: Feed) -> None:
        if self._feeds.get(feed.name) is feed:
            del self._feeds[feed.name]

    def __len__(self) -> int:
        return len(self._feeds)
