"""The console's inbox hears of this gateway's signals, and its call socket of other sites.

Against the real stack (sandbox gateway + worker + the session's dev server): a handoff
reaches the inbox stream although its poll interval is made very long (the signal the
customer's text was hurries it), a watcher of the conversation gateway hears each signal it
sends, and without an operator key a page of another site cannot open the call socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from gateway.console import api as console_api
from gateway.conversations import ConversationGateway
from switchboard.contract.addresses import Channel, conversation_id
from switchboard.contract.conversation import InboundMessage
from switchboard.devtools.devserver import DevServer
from tests.conftest import unique_customer
from tests.support.console_stack import (
    ConsoleStack,
    console_settings,
    running_console_stack,
    sse_events,
)
from tests.support.server import free_port


async def test_a_handoff_reaches_the_inbox_stream_without_waiting_for_the_next_poll(
    console_stack: ConsoleStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(console_api, "INBOX_SECONDS", 30.0)  # only a hurry polls again
    s = console_stack
    customer = unique_customer()
    await s.text(customer, "hello")
    await s.reply_containing(customer, "You said")

    async with s.http.stream("GET", s.api("/api/console/inbox/stream"), timeout=None) as stream:
        events = sse_events(stream)
        event, inbox = await asyncio.wait_for(anext(events), 10)
        assert event == "inbox"
        assert any(r["customer"] == customer for r in inbox["conversations"])
        sent_at = time.time()
        await s.text(customer, "I want a human please")
        async with asyncio.timeout(5):  # well inside the 30 s poll interval
            while True:
                event, inbox = await anext(events)
                rows = [r for r in inbox["conversations"] if r["customer"] == customer]
                if rows and rows[0]["status"] == "handoff_pending":
                    break
    seen = time.time()
    requested = datetime.fromisoformat(rows[0]["handoff"]["requested_at"]).timestamp()
    print(f"\nhurried inbox: handoff → inbox {seen - requested:.3f}s, text → {seen - sent_at:.3f}s")
    assert seen - requested < 1.0


async def test_the_conversation_gateway_tells_its_watchers_what_it_signalled(
    tmp_path: Path, temporal_server: DevServer, client: Client
) -> None:
    settings = console_settings(tmp_path, temporal_server, free_port())  # no worker: none runs
    gateway = ConversationGateway(client, settings)
    heard: list[str] = []
    gateway.watch(heard.append)

    def broken(_: str) -> None:
        raise RuntimeError("a broken watcher")

    gateway.watch(broken)
    customer, nobody = unique_customer(), unique_customer()
    message = InboundMessage(
        message_sid="SM" + "1" * 32, customer=customer, channel=Channel.SMS,
        from_address=customer, to_address="+15005550006", body="hello",
        received_at=datetime.now(UTC),
    )  # fmt: skip
    try:
        await gateway.deliver_inbound(message)  # a broken watcher does not fail it
        assert heard == [conversation_id(customer)]
        assert await gateway.handoff_over(nobody, "done") is False
        assert heard == [conversation_id(customer)], "nothing was signalled"
        assert await gateway.handoff_accepted(customer, "Grace") is True
        assert heard == [conversation_id(customer)] * 2
    finally:
        with contextlib.suppress(Exception):
            await client.get_workflow_handle(conversation_id(customer)).terminate("test over")


@pytest.fixture
async def keyless_stack(
    tmp_path: Path, temporal_server: DevServer, client: Client
) -> AsyncIterator[ConsoleStack]:
    """The console stack without ``GATEWAY_API_KEY``: ``/api`` answers loopback callers."""
    async with running_console_stack(
        tmp_path, temporal_server, client, gateway_api_key=None
    ) as running:
        yield running


async def _first_frame(url: str, origin: str | None, customer: str) -> dict[str, Any]:
    """The call socket's first answer to a keyless ``start`` sent from a page of ``origin``."""
    async with connect(url, origin=origin) as ws:  # type: ignore[arg-type]
        await ws.send(json.dumps({"type": "start", "key": None, "customer": customer}))
        try:
            frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 15))
        except ConnectionClosed as closed:
            assert closed.rcvd is not None
            return {"closed": closed.rcvd.code, "reason": closed.rcvd.reason}
        await ws.send(json.dumps({"type": "hangup"}))
        return frame


async def test_without_a_key_only_the_gateways_own_pages_open_the_call_socket(
    keyless_stack: ConsoleStack,
) -> None:
    s = keyless_stack
    url = f"{s.ws_url}/api/console/playground/call"
    refused = await _first_frame(url, "https://evil.example", unique_customer())
    assert refused["closed"] == 4403 and "another site" in refused["reason"]
    assert (await _first_frame(url, "null", unique_customer()))["closed"] == 4403
    # The console's own page (same origin as the gateway), and a script (no Origin), call.
    own = await _first_frame(url, s.gateway_url, unique_customer())
    assert own["type"] == "connected", own
    script = await _first_frame(url, None, unique_customer())
    assert script["type"] == "connected", script
