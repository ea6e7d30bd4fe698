"""The console's API against the real stack: a sandbox gateway, a worker, the dev server.

No model is configured, so the demo responder answers (and hands off when asked for a
human); the playground texts and calls through the signed Twilio endpoints in process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import WorkflowHandle
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from gateway.app import create_app
from switchboard.contract.addresses import conversation_id
from switchboard.contract.conversation import ConversationStatus, ConversationView
from switchboard.devtools.devserver import DevServer
from tests.conftest import Stack, unique_customer
from tests.support.console_stack import (
    OPERATOR_KEY,
    ConsoleStack,
    console_settings,
    sse_events,
)
from tests.support.server import free_port, serve
from workflows.conversation import ConversationWorkflow

Received = tuple[float, str, Any]
"""When an event arrived (wall clock), its name and its data."""


@contextlib.asynccontextmanager
async def listening(s: ConsoleStack, path: str) -> AsyncIterator[asyncio.Queue[Received]]:
    """The events of a stream as they arrive (reopened when the server ends it)."""
    queue: asyncio.Queue[Received] = asyncio.Queue()

    async def read() -> None:
        while True:
            async with s.http.stream("GET", s.api(path), timeout=None) as response:
                assert response.status_code == 200, response.status_code
                assert response.headers["content-type"].startswith("text/event-stream")
                async for event, data in sse_events(response):
                    await queue.put((time.time(), event, data))

    task = asyncio.create_task(read())
    try:
        yield queue
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def next_event(
    queue: asyncio.Queue[Received], matches: Callable[[str, Any], bool], within: float = 20.0
) -> Received:
    """The next event that ``matches``, skipping the others."""
    async with asyncio.timeout(within):
        while True:
            received = await queue.get()
            if matches(received[1], received[2]):
                return received


def row(inbox: dict[str, Any], customer: str) -> dict[str, Any] | None:
    return next((r for r in inbox["conversations"] if r["customer"] == customer), None)


def workflow_status(s: ConsoleStack, customer: str) -> Callable[[], Any]:
    async def status() -> ConversationStatus:
        handle: WorkflowHandle[ConversationWorkflow, ConversationView] = (
            s.client.get_workflow_handle_for(ConversationWorkflow.run, conversation_id(customer))
        )
        return (await handle.query(ConversationWorkflow.describe)).status

    return status


# --- auth and mode ----------------------------------------------------------------------


async def test_every_console_endpoint_needs_the_operator_key(console_stack: ConsoleStack) -> None:
    s = console_stack
    customer = unique_customer()
    wrong = {"Authorization": "Bearer not-the-key"}
    async with httpx.AsyncClient(timeout=10) as anonymous:
        for method, path, body in [
            ("GET", "/api/console/inbox", None),
            ("GET", "/api/console/inbox/stream", None),
            ("GET", f"/api/console/conversations/{conversation_id(customer)}/stream", None),
            ("POST", "/api/console/playground/messages", {"customer": customer, "text": "hi"}),
            ("GET", "/api/knowledge", None),
            ("DELETE", "/api/knowledge/faq.md", None),
            ("POST", f"/api/conversations/{conversation_id(customer)}/accept", {}),
        ]:
            for headers in (wrong, {}):
                answer = await anonymous.request(method, s.api(path), json=body, headers=headers)
                assert answer.status_code == 401, (method, path, answer.status_code)
    for key in ("not-the-key", None):
        async with connect(f"{s.ws_url}/api/console/playground/call") as ws:
            await ws.send(json.dumps({"type": "start", "key": key, "customer": customer}))
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_the_playground_refuses_outside_sandbox_mode(stack: Stack) -> None:
    answer = await stack.http.post(
        f"{stack.gateway_url}/api/console/playground/messages",
        json={"customer": unique_customer(), "channel": "sms", "text": "hello"},
    )
    assert answer.status_code == 409
    assert "only in sandbox mode" in answer.json()["detail"]
    ws_url = stack.gateway_url.replace("http://", "ws://") + "/api/console/playground/call"
    async with connect(ws_url) as ws:
        key = stack.settings.gateway_api_key
        assert key is not None
        await ws.send(
            json.dumps(
                {"type": "start", "key": key.get_secret_value(), "customer": unique_customer()}
            )
        )
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert frame["type"] == "error" and "sandbox mode" in frame["detail"]
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4409


# --- playground, streams, inbox ----------------------------------------------------------


async def test_a_playground_text_is_answered_and_the_stream_follows_it(
    console_stack: ConsoleStack,
) -> None:
    s = console_stack
    customer = unique_customer()
    sent = await s.text(customer, "my name is Ada")
    assert sent["conversation"] == conversation_id(customer)
    assert sent["message_sid"].startswith("SM")
    await s.reply_containing(customer, "Nice to meet you, Ada")

    path = f"/api/console/conversations/{conversation_id(customer)}/stream"
    async with listening(s, path) as events:
        _, name, first = await next_event(events, lambda e, _: True)
        assert name == "conversation" and first["id"] == conversation_id(customer)
        started = time.time()
        await s.text(customer, "what is my name?", channel="whatsapp")
        at, _, view = await next_event(
            events,
            lambda e, d: (
                e == "conversation"
                and any("your name is Ada" in line["text"] for line in d["transcript"])
            ),
        )
        print(f"\nconversation stream: text → reply shown in {at - started:.2f}s")
        roles = [(line["role"], line["channel"]) for line in view["transcript"]]
        assert ("customer", "whatsapp") in roles and ("assistant", "whatsapp") in roles

    unknown = await s.http.get(
        s.api(f"/api/console/conversations/{conversation_id(unique_customer())}/stream")
    )
    assert unknown.status_code == 404


async def test_a_handoff_shows_in_the_inbox_stream_within_a_second(
    console_stack: ConsoleStack,
) -> None:
    s = console_stack
    quiet, busy, asking = unique_customer(), unique_customer(), unique_customer()
    for customer in (quiet, busy, asking):
        await s.text(customer, "hello")
        await s.reply_containing(customer, "You said")
    await s.text(busy, "still here")
    await s.reply_containing(busy, "still here")

    async with listening(s, "/api/console/inbox/stream") as events:
        _, _, inbox = await next_event(
            events, lambda e, d: e == "inbox" and all(row(d, c) for c in (quiet, busy, asking))
        )
        ours = [r["customer"] for r in inbox["conversations"] if r["customer"] in (quiet, busy)]
        assert ours == [busy, quiet]  # the AI's: newest activity first
        first = row(inbox, busy)
        assert first is not None and first["status"] == "ai" and first["turn"] == 2
        assert first["last_message"]["role"] == "assistant"
        assert set(first) >= {"id", "channels", "active_channel", "handoff", "profile_name"}

        sent_at = time.time()
        await s.text(asking, "I want a human please")
        seen_at, _, inbox = await next_event(
            events,
            lambda e, d: (
                e == "inbox"
                and (r := row(d, asking)) is not None
                and r["status"] == "handoff_pending"
            ),
        )
    top = inbox["conversations"][0]
    assert top["customer"] == asking  # waiting for a human comes first
    assert "asked for a person" in top["handoff"]["reason"]
    requested = datetime.fromisoformat(top["handoff"]["requested_at"]).timestamp()
    lag = seen_at - requested
    print(
        f"\ninbox stream: handoff → inbox {lag:.3f}s "
        f"(customer's text → inbox {seen_at - sent_at:.3f}s)"
    )
    assert lag < 1.0

    listed = (await s.http.get(s.api("/api/console/inbox"))).json()
    assert listed["conversations"][0]["customer"] == asking


async def test_take_reply_resume_and_close_through_the_api(console_stack: ConsoleStack) -> None:
    s = console_stack
    customer, other = unique_customer(), unique_customer()
    cid = conversation_id(customer)
    await s.text(other, "hello")
    await s.reply_containing(other, "You said")
    refused = await s.http.post(s.api(f"/api/conversations/{conversation_id(other)}/accept"))
    assert refused.status_code == 409
    missing = await s.http.post(
        s.api(f"/api/conversations/{conversation_id(unique_customer())}/accept")
    )
    assert missing.status_code == 404

    await s.text(customer, "can I talk to a human")
    await s.eventually(
        lambda: _is(workflow_status(s, customer), ConversationStatus.HANDOFF_PENDING)
    )
    taken = await s.http.post(s.api(f"/api/conversations/{cid}/accept"), json={"by": "Grace"})
    assert taken.status_code == 202
    assert taken.json()["status"] == "human"
    assert taken.json()["handoff"]["accepted_at"] is not None
    assert await workflow_status(s, customer)() is ConversationStatus.HUMAN
    again = await s.http.post(s.api(f"/api/conversations/{cid}/accept"), json={"by": "Ada"})
    assert again.status_code == 202 and again.json()["status"] == "human"
    too_long = await s.http.post(s.api(f"/api/conversations/{cid}/accept"), json={"by": "x" * 101})
    assert too_long.status_code == 422

    answer = await s.http.post(
        s.api(f"/api/conversations/{cid}/messages"),
        json={"text": "Hi, Grace here. How can I help?", "author": "Grace"},
    )
    assert answer.status_code == 202
    await s.reply_containing(customer, "Grace here", role="agent")
    resumed = await s.http.post(s.api(f"/api/conversations/{cid}/resume"))
    assert resumed.status_code == 202 and resumed.json()["status"] == "ai"
    assert await workflow_status(s, customer)() is ConversationStatus.AI
    assert resumed.json()["handoff_reasons"][-1].startswith("The customer asked for a person")
    closed = await s.http.post(s.api(f"/api/conversations/{cid}/close"), json={"reason": "done"})
    assert closed.status_code == 202
    await s.eventually(lambda: _is(workflow_status(s, customer), ConversationStatus.CLOSED))
    after = await s.http.post(s.api(f"/api/conversations/{cid}/accept"))
    assert after.status_code == 404  # nothing open to take


async def _is(status: Callable[[], Any], expected: ConversationStatus) -> bool:
    return bool(await status() is expected)


# --- a call as text -----------------------------------------------------------------------


async def frames_until(
    ws: ClientConnection, done: Callable[[dict[str, Any]], bool], within: float = 20.0
) -> list[dict[str, Any]]:
    """The browser's frames up to and including the first that is ``done``."""
    frames: list[dict[str, Any]] = []
    async with asyncio.timeout(within):
        while True:
            frame = json.loads(await ws.recv())
            frames.append(frame)
            if done(frame):
                return frames


async def test_a_playground_call_streams_tokens_and_carries_the_texts_context(
    console_stack: ConsoleStack,
) -> None:
    s = console_stack
    customer = unique_customer()
    await s.text(customer, "my name is Ada")
    await s.reply_containing(customer, "Nice to meet you, Ada")

    async with connect(f"{s.ws_url}/api/console/playground/call") as ws:
        await ws.send("not json")  # malformed: answered, skipped
        assert json.loads(await ws.recv())["type"] == "error"
        await ws.send(json.dumps({"type": "start", "key": s.key, "customer": customer}))
        connected = json.loads(await asyncio.wait_for(ws.recv(), 15))
        assert connected == {"type": "connected", "conversation": conversation_id(customer)}

        await ws.send(json.dumps({"type": "shout"}))
        assert json.loads(await ws.recv())["type"] == "error"
        await ws.send(json.dumps({"type": "say", "text": "Who am I?"}))
        frames = await frames_until(ws, lambda f: f["type"] == "token" and f["last"])
        tokens = [f["token"] for f in frames if f["type"] == "token"]
        assert len(tokens) > 1, "the reply streams token by token"
        assert "your name is Ada" in "".join(tokens)

        # An operator hands the call off: the agent ends it, the browser is told why.
        handoff = await s.http.post(
            s.api(f"/api/conversations/{conversation_id(customer)}/handoff"),
            json={"reason": "billing dispute"},
        )
        assert handoff.status_code == 202
        frames = await frames_until(ws, lambda f: f["type"] == "end")
        assert frames[-1] == {"type": "end", "reason": "billing dispute"}

    view = await s.view(customer)
    assert "voice" in view["channels"] and "sms" in view["channels"]
    assert any(
        line["role"] == "customer" and line["channel"] == "voice" and line["text"] == "Who am I?"
        for line in view["transcript"]
    )


async def test_hanging_up_the_browser_socket_ends_the_call(console_stack: ConsoleStack) -> None:
    s = console_stack
    customer = unique_customer()
    async with connect(f"{s.ws_url}/api/console/playground/call") as ws:
        await ws.send(json.dumps({"type": "start", "key": s.key, "customer": customer}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 15))["type"] == "connected"
        await ws.send(json.dumps({"type": "say", "text": "hello"}))
        await frames_until(ws, lambda f: f["type"] == "token" and f["last"])
        await ws.send(json.dumps({"type": "hangup"}))

    async def ended() -> bool:
        view = await s.view(customer)
        return any(
            "ended" in line["text"] for line in view["transcript"] if line["role"] == "system"
        )

    await s.eventually(ended)


# --- knowledge, tools, grounding -----------------------------------------------------------


RETURNS = """# Returns

Unworn shoes can be returned within 30 days of delivery for a full refund.
Refunds reach your card within 5 business days.
"""


async def test_knowledge_is_listed_and_removed(console_stack: ConsoleStack) -> None:
    s = console_stack
    for name in ("returns.md", "guides/shipping.md"):
        added = await s.http.post(
            s.api("/api/knowledge"),
            json={"name": name, "content": RETURNS, "content_type": "text/markdown"},
        )
        assert added.status_code == 200
    listed = (await s.http.get(s.api("/api/knowledge"))).json()
    assert [d["name"] for d in listed["documents"]] == ["guides/shipping.md", "returns.md"]
    assert all(d["chunks"] >= 1 for d in listed["documents"])

    removed = await s.http.delete(s.api("/api/knowledge/guides/shipping.md"))
    assert removed.status_code == 200
    assert removed.json() == {"document": "guides/shipping.md", "deleted": True}
    listed = (await s.http.get(s.api("/api/knowledge"))).json()
    assert [d["name"] for d in listed["documents"]] == ["returns.md"]
    assert (await s.http.delete(s.api("/api/knowledge/guides/shipping.md"))).status_code == 404


async def test_tool_calls_are_in_the_conversation_view(console_stack: ConsoleStack) -> None:
    s = console_stack
    customer = unique_customer()
    await s.text(customer, "my name is Ada")
    await s.reply_containing(customer, "Nice to meet you, Ada")
    view = await s.view(customer)
    (call,) = view["tool_calls"]
    assert call["name"] == "remember"
    assert json.loads(call["arguments"]) == {
        "fact": "The customer's name is Ada",
        "trait": "name",
        "value": "Ada",
    }
    assert call["result"] == "Saved." and call["ok"] is True
    assert call["turn"] == 1 and datetime.fromisoformat(call["at"])
    assert view["handoff_reasons"] == []


async def test_knowledge_uploaded_grounds_the_next_demo_answer(
    console_stack: ConsoleStack,
) -> None:
    s = console_stack
    customer = unique_customer()
    added = await s.http.post(
        s.api("/api/knowledge"),
        json={"name": "returns.md", "content": RETURNS, "content_type": "text/markdown"},
    )
    assert added.status_code == 200
    found = await s.http.get(s.api("/api/knowledge/search"), params={"q": "return shoes"})
    assert found.json()["results"][0]["document"] == "returns.md"

    await s.text(customer, "Can I return my shoes?")
    reply = await s.reply_containing(customer, "From our knowledge base")
    assert "returned within 30 days" in reply and "[returns.md" in reply


# --- Temporal down ------------------------------------------------------------------------


async def test_without_temporal_the_streams_say_so_and_the_rest_answers_503(
    tmp_path: Path, temporal_server: DevServer
) -> None:
    port = free_port()
    # Nothing listens at that address: the gateway's lazy client never connects.
    settings = console_settings(
        tmp_path, temporal_server, port, temporal_address=f"127.0.0.1:{free_port()}"
    )
    headers = {"Authorization": f"Bearer {OPERATOR_KEY}"}
    async with (
        serve(create_app(settings), port=port) as url,
        httpx.AsyncClient(timeout=30, headers=headers) as http,
    ):
        inbox = await http.get(f"{url}/api/console/inbox")
        assert inbox.status_code == 503 and "Temporal unavailable" in inbox.json()["detail"]
        text = await http.post(
            f"{url}/api/console/playground/messages",
            json={"customer": unique_customer(), "text": "hello"},
        )
        assert text.status_code == 503
        for path in (
            "/api/console/inbox/stream",
            f"/api/console/conversations/{conversation_id(unique_customer())}/stream",
        ):
            async with http.stream("GET", f"{url}{path}") as response:
                assert response.status_code == 200
                event, data = await anext(sse_events(response))
            assert event == "error" and data["detail"].startswith("Temporal unavailable")
