"""The console's live feeds (one shared poll loop per view, the stream), and the inbox order."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from datetime import UTC, datetime

from gateway.console.inbox import InboxRow, _rank
from gateway.console.live import PING, Event, Feeds
from gateway.conversations import TemporalUnavailable
from switchboard.contract.conversation import ConversationStatus
from switchboard.contract.handoff import HandoffState


class Source:
    """A view to poll: counts the polls; its value (or error) is set by the test."""

    def __init__(self) -> None:
        self.polls = 0
        self.value = "one"
        self.error: Exception | None = None

    async def poll(self) -> Event:
        self.polls += 1
        if self.error is not None:
            raise self.error
        return Event("view", json.dumps({"value": self.value}))


async def take(stream: AsyncGenerator[bytes, None], count: int) -> list[bytes]:
    return [await asyncio.wait_for(anext(stream), 5) for _ in range(count)]


async def test_listeners_share_one_loop_and_see_only_changes() -> None:
    feeds, source = Feeds(), Source()
    feed = feeds.get("v", source.poll, lambda _: 0.01)
    first, second = feed.stream(), feeds.get("v", source.poll, lambda _: 0.01).stream()
    assert await take(first, 1) == [b'event: view\ndata: {"value": "one"}\n\n']
    assert await take(second, 1) == [b'event: view\ndata: {"value": "one"}\n\n']
    await asyncio.sleep(0.2)
    assert 2 <= source.polls <= 6, "one loop for both listeners (polls at most every 50 ms)"
    source.value = "two"
    assert await take(first, 1) == [b'event: view\ndata: {"value": "two"}\n\n']
    assert await take(second, 1) == [b'event: view\ndata: {"value": "two"}\n\n']
    await first.aclose()
    await second.aclose()
    assert len(feeds) == 0, "the feed goes with its last listener"
    stopped = source.polls
    await asyncio.sleep(0.05)
    assert source.polls == stopped, "and its loop stops"


async def test_temporal_down_is_an_error_event_and_the_loop_goes_on() -> None:
    source = Source()
    source.error = TemporalUnavailable("connection refused")
    stream = Feeds().get("v", source.poll, lambda _: 0.01).stream()
    (event,) = await take(stream, 1)
    assert event == (
        b'event: error\ndata: {"detail": "Temporal unavailable: connection refused"}\n\n'
    )
    source.error = None
    assert await take(stream, 1) == [b'event: view\ndata: {"value": "one"}\n\n']
    await stream.aclose()


async def test_a_bug_is_an_error_event_without_its_details() -> None:
    source = Source()
    source.error = KeyError("secret internals")
    stream = Feeds().get("v", source.poll, lambda _: 0.01).stream()
    (event,) = await take(stream, 1)
    assert b"event: error" in event and b"secret" not in event
    await stream.aclose()


async def test_pings_between_events_and_an_end_after_the_lifetime() -> None:
    source = Source()
    stream = Feeds().get("v", source.poll, lambda _: 0.01).stream(lifetime=0.35, ping=0.1)
    received = [chunk async for chunk in stream]
    assert received[0].startswith(b"event: view")
    assert received[1:] and all(chunk == PING for chunk in received[1:])


def test_the_inbox_puts_waiting_customers_first_oldest_request_first() -> None:
    def at(minute: int) -> datetime:
        return datetime(2026, 12, 1, 12, minute, tzinfo=UTC)

    def conversation(
        number: str, status: ConversationStatus, active: int, asked: int | None = None
    ) -> InboxRow:
        handoff = None
        if asked is not None:
            handoff = HandoffState(seq=1, reason="r", source="tool", requested_at=at(asked))
        return InboxRow(
            id=f"conv-{number}", customer=number, status=status, channels=[],
            last_activity=at(active), handoff=handoff,
        )  # fmt: skip

    rows = [
        conversation("+1", ConversationStatus.AI, active=50),
        conversation("+2", ConversationStatus.HANDOFF_PENDING, active=59, asked=30),
        conversation("+3", ConversationStatus.HUMAN, active=10),
        conversation("+4", ConversationStatus.HANDOFF_PENDING, active=1, asked=20),
        conversation("+5", ConversationStatus.AI, active=55),
        conversation("+6", ConversationStatus.HUMAN, active=40),
    ]
    assert [r.customer for r in sorted(rows, key=_rank)] == ["+4", "+2", "+6", "+3", "+5", "+1"]
