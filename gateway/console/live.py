"""Live views for the console: one poll loop per view, shared by every listener, as SSE.

A browser tab watching the inbox or a conversation holds a ``text/event-stream`` response.
Temporal has no push channel for a workflow's state, so the gateway polls: but once per
view and process, not once per tab — a ``Feed`` runs one loop while anyone listens, keeps
the latest event, and wakes its listeners only when the event changed. Two people watching
the same conversation cost one query per interval between them.

A stream ends after ``STREAM_SECONDS`` (the client opens it again, and gets the current state
at once): an open stream would otherwise hold a gateway's shutdown, which waits for every
response in flight to finish.

A feed can be hurried (``Feeds.hurry``): for a while it checks every ``HURRY_STEP`` seconds
whether its view changed, with a cheap ``probe`` (the inbox: one visibility call), and polls
at once when it did. The gateway hurries the inbox whenever it signals a conversation (a
customer's text, an operator's action), so a handoff shows without waiting out the poll
interval, and an idle inbox still costs one read per interval.

A process serves at most ``MAX_FEEDS`` views and ``MAX_LISTENERS`` streams (``Busy``): each
view is a poll loop against Temporal, each stream an open response.
"""

from __future__ import annotations

import asyncio
import contextlib
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
HURRY_STEP: Final = 0.1
"""How often a hurried feed probes its view."""
MIN_PAUSE: Final = 0.05
"""Polls of one feed are at least this far apart, however slow the last one was."""
MAX_FEEDS: Final = 200
"""Views one process polls at once (a view is one loop, whoever watches it)."""
MAX_LISTENERS: Final = 1000
"""Streams one process holds open at once."""


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
Probe = Callable[[], Awaitable[bool]]
"""Cheaply: whether the view may have changed since the last poll (a hurried feed asks)."""


class Busy(Exception):
    """This process already serves ``MAX_FEEDS`` views or ``MAX_LISTENERS`` streams."""


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
        *,
        probe: Probe | None = None,
        on_attach: Callable[[Feed], None] | None = None,
    ) -> None:
        self.name = name
        self._poll = poll
        self._interval = interval
        self._probe = probe
        self._on_idle = on_idle
        self._on_attach = on_attach
        self._latest: Event | None = None
        self._version = 0
        self._changed = asyncio.Condition()
        self._listeners = 0
        self._task: asyncio.Task[None] | None = None
        self._hurry_until = 0.0
        self._woken = asyncio.Event()

    @property
    def listeners(self) -> int:
        """How many streams are attached."""
        return self._listeners

    def hurry(self, seconds: float) -> None:
        """Probe the view every ``HURRY_STEP`` for ``seconds``; poll as soon as it changed."""
        self._hurry_until = max(self._hurry_until, time.monotonic() + seconds)
        self._woken.set()

    def _hurried(self) -> bool:
        return time.monotonic() < self._hurry_until

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
            if event.name == "error":  # a hurry would not help
                await asyncio.sleep(max(MIN_PAUSE, began + ERROR_RETRY_SECONDS - time.monotonic()))
                continue
            # Polls start every interval (a slow read does not add its own time).
            until = max(began + self._interval(event), time.monotonic() + MIN_PAUSE)
            await self._pause(until)

    async def _pause(self, until: float) -> None:
        """Wait until ``until``; a hurried feed returns early once its probe sees a change."""
        while (left := until - time.monotonic()) > 0:
            self._woken.clear()
            step = min(left, HURRY_STEP) if self._hurried() else left
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), step)  # ``hurry`` wakes it
            if self._hurried() and await self._may_have_changed():
                return

    async def _may_have_changed(self) -> bool:
        if self._probe is None:
            return True
        try:
            return await self._probe()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the next poll says what is wrong
            log.debug("console_probe_failed", feed=self.name, error=type(exc).__name__)
            return False

    def _attach(self) -> None:
        self._listeners += 1
        if self._on_attach is not None:
            self._on_attach(self)
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

    def get(
        self,
        name: str,
        poll: Poll,
        interval: Callable[[Event], float],
        *,
        probe: Probe | None = None,
    ) -> Feed:
        """The feed of view ``name``, made with ``poll`` and ``interval`` if there is none.

        Raises:
            Busy: the process already serves ``MAX_LISTENERS`` streams, or ``MAX_FEEDS``
                views and this would be another.
        """
        if self.listeners >= MAX_LISTENERS:
            raise Busy(f"{MAX_LISTENERS} live streams are open on this gateway")
        feed = self._feeds.get(name)
        if feed is None:
            if len(self._feeds) >= MAX_FEEDS:
                raise Busy(f"{MAX_FEEDS} live views are open on this gateway")
            feed = self._feeds[name] = Feed(
                name, poll, interval, on_idle=self._forget, probe=probe, on_attach=self._keep
            )
        return feed

    def hurry(self, name: str, seconds: float) -> None:
        """Hurry view ``name``'s feed (see the module docstring); nothing if none runs."""
        feed = self._feeds.get(name)
        if feed is not None and feed.listeners:
            feed.hurry(seconds)

    @property
    def listeners(self) -> int:
        """How many streams are open, over every view."""
        return sum(feed.listeners for feed in self._feeds.values())

    def _keep(self, feed: Feed) -> None:
        # A stream handed this feed just before its last listener left attaches to it
        # later: it runs again, so it is this view's feed again (unless another is).
        self._feeds.setdefault(feed.name, feed)

    def _forget(self, feed: Feed) -> None:
        if self._feeds.get(feed.name) is feed:
            del self._feeds[feed.name]

    def __len__(self) -> int:
        return len(self._feeds)
