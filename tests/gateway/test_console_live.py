"""The console's live feeds (one poll loop per view, hurried, bounded), the inbox order, the call.

Who may open the playground's call socket is checked here too (``call_refusal``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, MutableMapping
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.console import live
from gateway.console.api import _EventStream
from gateway.console.inbox import InboxRow, _rank
from gateway.console.live import PING, Busy, Event, Feeds
from gateway.console.playground import call_refusal, local_path, same_origin
from gateway.conversations import TemporalUnavailable
from switchboard.contract.conversation import ConversationStatus
from switchboard.contract.handoff import HandoffState
from switchboard.runtime.config import Settings


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


# --- hurried feeds, bounds, closing ----------------------------------------------------


class Probed(Source):
    """A source whose probe says whether its value changed since the last poll."""

    def __init__(self) -> None:
        super().__init__()
        self.probes = 0
        self.polled_value: str | None = None
        self.probe_error: Exception | None = None

    async def poll(self) -> Event:
        event = await super().poll()
        self.polled_value = self.value
        return event

    async def probe(self) -> bool:
        self.probes += 1
        if self.probe_error is not None:
            raise self.probe_error
        return self.value != self.polled_value


async def test_a_hurried_feed_polls_as_soon_as_its_probe_sees_a_change() -> None:
    feeds, source = Feeds(), Probed()
    feed = feeds.get("v", source.poll, lambda _: 30.0, probe=source.probe)
    stream = feed.stream()
    assert await take(stream, 1) == [b'event: view\ndata: {"value": "one"}\n\n']
    feeds.hurry("v", 5.0)
    await asyncio.sleep(0.35)
    assert source.polls == 1, "an unchanged view is probed, not polled again"
    assert source.probes >= 2
    source.value = "two"
    started = asyncio.get_running_loop().time()
    assert await take(stream, 1) == [b'event: view\ndata: {"value": "two"}\n\n']
    assert asyncio.get_running_loop().time() - started < 1.0, "not after the 30 s interval"
    await stream.aclose()


async def test_an_idle_feed_is_not_probed_and_a_failing_probe_only_waits() -> None:
    feeds, source = Feeds(), Probed()
    stream = feeds.get("v", source.poll, lambda _: 30.0, probe=source.probe).stream()
    await take(stream, 1)
    await asyncio.sleep(0.3)
    assert source.probes == 0 and source.polls == 1, "no hurry: one poll per interval"
    feeds.hurry("other view", 5.0)  # no such feed: nothing happens
    source.probe_error = RuntimeError("visibility hiccup")
    feeds.hurry("v", 0.5)
    await asyncio.sleep(0.3)
    assert source.probes >= 1 and source.polls == 1
    await stream.aclose()


async def test_a_process_serves_a_bounded_number_of_views_and_streams(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(live, "MAX_FEEDS", 2)
    monkeypatch.setattr(live, "MAX_LISTENERS", 3)
    feeds, source = Feeds(), Source()
    streams = [feeds.get(name, source.poll, lambda _: 0.05).stream() for name in ("a", "b")]
    for stream in streams:
        await take(stream, 1)
    with pytest.raises(Busy):
        feeds.get("c", source.poll, lambda _: 0.05)
    streams.append(feeds.get("a", source.poll, lambda _: 0.05).stream())  # an existing view
    await take(streams[-1], 1)
    assert feeds.listeners == 3
    with pytest.raises(Busy):
        feeds.get("a", source.poll, lambda _: 0.05)
    for stream in streams:
        await stream.aclose()
    assert feeds.listeners == 0 and len(feeds) == 0
    feeds.get("c", source.poll, lambda _: 0.05)  # room again


async def test_a_feed_handed_out_just_before_its_last_listener_left_is_the_views_again() -> None:
    feeds, source = Feeds(), Source()
    first = feeds.get("v", source.poll, lambda _: 0.05).stream()
    await take(first, 1)
    late = feeds.get("v", source.poll, lambda _: 0.05).stream()  # not started yet
    await first.aclose()
    assert len(feeds) == 0
    await take(late, 1)
    assert feeds.get("v", source.poll, lambda _: 0.05).listeners == 1, "one loop, not two"
    await late.aclose()
    assert len(feeds) == 0


async def test_a_stream_whose_client_went_away_leaves_its_feed_at_once() -> None:
    feeds, source = Feeds(), Source()
    feed = feeds.get("v", source.poll, lambda _: 0.05)
    response = _EventStream(feed.stream())

    async def receive() -> dict[str, Any]:
        await asyncio.Event().wait()  # the client never says goodbye; its socket breaks
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.body" and message.get("body"):
            raise OSError("connection reset by peer")

    scope = {"type": "http", "asgi": {"spec_version": "2.3"}}
    with pytest.raises(OSError):
        await response(scope, receive, send)
    assert feed.listeners == 0 and len(feeds) == 0, "not when the collector gets to it"


# --- the playground's call socket -------------------------------------------------------


def test_a_call_socket_is_refused_to_another_sites_page_without_a_key() -> None:
    settings = Settings(_env_file=None, gateway_api_key=None)
    assert settings.sandbox
    assert same_origin("http://127.0.0.1:8000", "127.0.0.1:8000")
    assert same_origin(None, "127.0.0.1:8000"), "not a browser"
    assert not same_origin("https://evil.example", "127.0.0.1:8000")
    assert not same_origin("null", "127.0.0.1:8000")
    assert call_refusal(settings, None, "127.0.0.1") is None
    refused = call_refusal(settings, None, "127.0.0.1", same_site=False)
    assert refused is not None and refused[0] == 4403
    assert call_refusal(settings, None, "10.0.0.7") == (
        4403,
        "set GATEWAY_API_KEY to use /api from other hosts",
    )
    keyed = Settings(_env_file=None, gateway_api_key="k")
    assert call_refusal(keyed, "k", "10.0.0.7", same_site=False) is None, "the key is enough"
    assert call_refusal(keyed, "wrong", "127.0.0.1") == (4401, "missing or wrong key")


def test_the_call_dials_the_relay_path_this_gateway_serves() -> None:
    plain = Settings(_env_file=None, public_base_url="https://abc.ngrok.app")
    assert local_path("wss://abc.ngrok.app/twilio/relay?x=1", plain) == "/twilio/relay?x=1"
    prefixed = Settings(_env_file=None, public_base_url="https://example.com/sb/")
    assert local_path("wss://example.com/sb/twilio/relay", prefixed) == "/twilio/relay"
    assert local_path("wss://elsewhere.example/twilio/relay", prefixed) == "/twilio/relay"
