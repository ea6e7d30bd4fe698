"""Memory and knowledge end to end, on both backends: signed webhooks and relay sockets in,
the fake model's requests and the operator API out, with the real Temporal dev server."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from temporalio.client import Client

from switchboard.contract.addresses import Channel, conversation_id
from switchboard.contract.names import GENERATE_REPLY_ACTIVITY, SEND_MESSAGE_ACTIVITY
from switchboard.devtools.devserver import DevServer
from tests.conftest import Stack, running_stack, unique_customer
from tests.support.fake_llm import FakeReply, Messages, last_user_text

RETURN_POLICY = """# Store policies

## Returns

Unworn shoes can be returned within 30 days of delivery for a full refund.

## Shipping

Orders ship within two business days.
"""


def system_text(request: dict[str, Any]) -> str:
    return str(request["messages"][0]["content"])


def is_summary(request: dict[str, Any]) -> bool:
    return "Summarise this customer-service conversation" in system_text(request)


async def local_activities(stack: Stack, customer: str) -> list[str]:
    """The activity types of the conversation's local activities, in history order."""
    history = await stack.client.get_workflow_handle(conversation_id(customer)).fetch_history()
    types: list[str] = []
    for event in history.events:
        marker = event.marker_recorded_event_attributes
        if event.HasField("marker_recorded_event_attributes") and marker.marker_name == (
            "core_local_activity"
        ):
            types.append(json.loads(marker.details["data"].payloads[0].data)["activity_type"])
    return types


async def close_and_wait(stack: Stack, customer: str) -> None:
    handle = stack.client.get_workflow_handle(conversation_id(customer))
    await handle.signal("close", {"reason": "done"})
    await handle.result()


@pytest.fixture
async def s(
    tmp_path: Path, temporal_server: DevServer, client: Client, memory_url: str
) -> AsyncIterator[Stack]:
    """A stack whose memory is on each backend in turn."""
    async with running_stack(
        tmp_path, temporal_server, client, memory_database_url=memory_url
    ) as stack:
        yield stack


async def api(stack: Stack, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return await stack.http.request(method, f"{stack.gateway_url}{path}", **kwargs)


async def test_a_whatsapp_fact_reaches_the_next_call_and_text(s: Stack) -> None:
    customer = unique_customer()
    await s.text(
        customer, "Hi, my name is Ada and I prefer email", channel=Channel.WHATSAPP,
        extra={"ProfileName": "Ada L."},
    )  # fmt: skip
    await s.twilio.wait_for_messages(1)
    await close_and_wait(s, customer)
    assert any(is_summary(r) for r in s.llm.requests)  # the model summarised it

    profile = (await api(s, "GET", f"/api/profiles/{quote(customer)}")).json()
    assert profile["customer"] == customer
    assert f"whatsapp:{customer}" in profile["identifiers"]
    assert profile["traits"]["whatsapp_name"] == "Ada L."
    [summary] = profile["summaries"]
    assert summary["conversation_id"] == conversation_id(customer)
    assert summary["text"] and summary["at"]

    # A new run, days later: a call from the same number.
    s.llm.requests.clear()
    call = await s.call(customer)
    await call.say("Hello, it's me again")
    await call.reply()
    [spoken] = [r for r in s.llm.requests if r.get("stream")]
    context = system_text(spoken)
    assert "my name is Ada and I prefer email" in context
    assert "whatsapp_name: Ada L." in context
    await s.hang_up(call, customer)

    # And a text on SMS: the same memory is in the model's request.
    s.llm.requests.clear()
    await s.text(customer, "Any news about my order?")
    await s.twilio.wait_for_messages(2)
    texts = [r for r in s.llm.requests if not is_summary(r)]
    assert "my name is Ada and I prefer email" in system_text(texts[-1])


async def test_remember_tool_writes_the_profile(s: Stack) -> None:
    customer = unique_customer()

    def responder(messages: Messages) -> FakeReply:
        if messages[-1]["role"] == "tool":
            return FakeReply(text=f"Noted! ({messages[-1]['content']})")
        if "prefer email" in last_user_text(messages):
            args = {"fact": "Prefers email", "trait": "preferred_channel", "value": "email"}
            return FakeReply(tool_calls=[
                {"name": "remember", "arguments": args},
                {"name": "remember", "arguments": {"fact": ""}},  # invalid: refused
            ])  # fmt: skip
        return FakeReply(text="echo: " + last_user_text(messages))

    s.llm.responder = responder
    await s.text(customer, "Please note I prefer email")
    [reply] = await s.twilio.wait_for_messages(1)
    assert reply["body"].startswith("Noted! (Error: remember:")  # the last tool result
    requests = await s.llm.wait_for_requests(2)
    assert [t["function"]["name"] for t in requests[0]["tools"]] == [
        "remember",
        "search_knowledge",
        "end_conversation",
        "handoff_to_human",
        "schedule_callback",
    ]
    results = [m for m in requests[1]["messages"] if m["role"] == "tool"]
    assert results[0]["content"] == "Saved."
    assert results[1]["content"].startswith("Error: remember:")
    assert requests[1]["messages"][-3]["tool_calls"][0]["function"]["name"] == "remember"

    profile = (await api(s, "GET", f"/api/profiles/{customer}")).json()
    assert [o["text"] for o in profile["observations"]] == ["Prefers email"]
    assert profile["observations"][0]["source"] == "remember"
    assert profile["traits"] == {"preferred_channel": "email"}
    view = await s.describe(customer)
    assert any(e.text == "remembered: Prefers email" for e in view.transcript)

    # The next turn's recall carries it, and saying it again stores nothing new.
    await s.text(customer, "Again: I prefer email")
    await s.twilio.wait_for_messages(2)
    assert "Prefers email" in system_text(s.llm.requests[-1])
    assert "Already known." in json.dumps(s.llm.requests[-1]["messages"])
    profile = (await api(s, "GET", f"/api/profiles/{customer}")).json()
    assert len(profile["observations"]) == 1


async def test_knowledge_grounds_text_and_voice_answers(s: Stack) -> None:
    document = {
        "name": "policies.md",
        "content": RETURN_POLICY,
        "content_type": "text/markdown",
    }
    answer = await api(s, "POST", "/api/knowledge", json=document)
    assert answer.status_code == 200
    assert answer.json()["document"] == "policies.md" and answer.json()["chunks"] == 2
    found = (await api(s, "GET", "/api/knowledge/search", params={"q": "return shoes"})).json()
    assert found["results"][0]["document"] == "policies.md"
    assert "30 days" in found["results"][0]["text"] and found["results"][0]["score"] > 0

    customer = unique_customer()
    await s.text(customer, "Can I return my shoes?")
    await s.twilio.wait_for_messages(1)
    context = system_text(s.llm.requests[-1])
    assert "[policies.md > Store policies > Returns] Unworn shoes can be returned" in context
    assert "Orders ship" not in context  # only what bears on the question

    # Recalled in the reply's own local activity: the turn is the model call, then the send.
    async def recorded_as_one_call_and_a_send() -> bool:  # recorded when its task completes
        turn = [GENERATE_REPLY_ACTIVITY, SEND_MESSAGE_ACTIVITY]
        return await local_activities(s, customer) == turn

    await s.eventually(recorded_as_one_call_and_a_send)

    caller = unique_customer()
    call = await s.call(caller)
    await call.say("What is your return policy?")
    await call.reply()
    spoken = [r for r in s.llm.requests if r.get("stream")][-1]
    assert "Unworn shoes can be returned within 30 days" in system_text(spoken)
    await call.say("And how fast do you ship?")
    await call.reply()
    spoken = [r for r in s.llm.requests if r.get("stream")][-1]
    assert "Orders ship within two business days" in system_text(spoken)
    await s.hang_up(call, caller)


async def test_search_knowledge_tool(s: Stack) -> None:
    await api(s, "POST", "/api/knowledge", json={"name": "p.md", "content": RETURN_POLICY})

    def responder(messages: Messages) -> FakeReply:
        if messages[-1]["role"] == "tool":
            return FakeReply(text=messages[-1]["content"][:60])
        return FakeReply(tool_calls=[
            {"name": "search_knowledge", "arguments": {"query": "shipping time"}}
        ])  # fmt: skip

    s.llm.responder = responder
    await s.text(unique_customer(), "hello")
    [reply] = await s.twilio.wait_for_messages(1)
    assert reply["body"].startswith("[p.md > Store policies > Shipping] Orders ship")


async def test_forgetting_a_customer(s: Stack) -> None:
    customer = unique_customer()
    await s.text(customer, "my dog is called Rex")
    await s.twilio.wait_for_messages(1)
    await close_and_wait(s, customer)
    encoded = quote(f"whatsapp:{customer}", safe="")
    assert (await api(s, "GET", f"/api/profiles/{encoded}")).status_code == 200
    gone = await api(s, "DELETE", f"/api/profiles/{encoded}")
    assert gone.status_code == 200 and gone.json() == {"customer": customer, "forgotten": True}
    assert (await api(s, "GET", f"/api/profiles/{customer}")).status_code == 404
    assert (await api(s, "DELETE", f"/api/profiles/{customer}")).status_code == 404
    assert (await api(s, "GET", "/api/profiles/not-a-number")).status_code == 404

    s.llm.requests.clear()
    await s.text(customer, "what is my dog called?")
    await s.twilio.wait_for_messages(2)
    assert "Rex" not in json.dumps(s.llm.requests[-1]["messages"][0])


async def test_forgetting_a_customer_mid_conversation(s: Stack) -> None:
    customer = unique_customer()
    await s.text(customer, "my cat is called Tom")
    await s.twilio.wait_for_messages(1)
    await close_and_wait(s, customer)
    await s.text(customer, "and my dog is called Rex")  # a new, open run that recalled Tom
    await s.twilio.wait_for_messages(2)
    assert "Tom" in system_text(s.llm.requests[-1])

    gone = await api(s, "DELETE", f"/api/profiles/{customer}")
    assert gone.status_code == 200
    await s.text(customer, "hello again")
    await s.twilio.wait_for_messages(3)
    assert "Tom" not in system_text(s.llm.requests[-1])  # the run's recalled memory is gone
    # ... and so is what was said before in this run: not sent to the model, not shown.
    assert "Rex" not in json.dumps(s.llm.requests[-1]["messages"])
    view = (await api(s, "GET", f"/api/conversations/{conversation_id(customer)}")).json()
    assert "Rex" not in json.dumps(view) and "hello again" in json.dumps(view)
    await close_and_wait(s, customer)

    # The closing record holds only what was said after the customer was forgotten.
    profile = (await api(s, "GET", f"/api/profiles/{customer}")).json()
    stored = json.dumps(profile)
    assert "hello again" in stored
    assert "Rex" not in stored and "Tom" not in stored


async def test_forgetting_an_unknown_customer_with_an_open_conversation(s: Stack) -> None:
    customer = unique_customer()
    s.llm.responder = lambda messages: FakeReply(text="hi", delay=0)
    await s.text(customer, "hi")
    await s.twilio.wait_for_messages(1)
    # No profile yet (nothing remembered, nothing closed), but the conversation is open.
    assert (await api(s, "GET", f"/api/profiles/{customer}")).status_code == 404
    assert (await api(s, "DELETE", f"/api/profiles/{customer}")).status_code == 200


async def test_operator_api_needs_the_key_when_one_is_set(
    tmp_path: Path, temporal_server: DevServer, client: Client
) -> None:
    async with running_stack(
        tmp_path, temporal_server, client, worker=False, gateway_api_key="s3cret"
    ) as s:
        path = "/api/knowledge/search?q=returns"
        assert (await api(s, "GET", path)).status_code == 401
        wrong = await api(s, "GET", path, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        right = await api(s, "GET", path, headers={"Authorization": "Bearer s3cret"})
        assert right.status_code == 200 and right.json() == {"results": []}
        bad = await api(
            s, "POST", "/api/knowledge", json={"name": ""},
            headers={"Authorization": "Bearer s3cret"},
        )  # fmt: skip
        assert bad.status_code == 422


async def test_demo_responder_remembers_a_name_across_conversations(
    tmp_path: Path, temporal_server: DevServer, client: Client
) -> None:
    async with running_stack(tmp_path, temporal_server, client, llm_base_url=None) as s:
        customer = unique_customer()
        await s.text(customer, "Hello, my name is Grace")
        [first] = await s.twilio.wait_for_messages(1)
        assert "Nice to meet you, Grace" in first["body"]
        profile = (await api(s, "GET", f"/api/profiles/{customer}")).json()
        assert profile["traits"]["name"] == "Grace"
        await close_and_wait(s, customer)
        profile = (await api(s, "GET", f"/api/profiles/{customer}")).json()
        assert "Hello, my name is Grace" in profile["summaries"][0]["text"]  # the fallback
        await s.text(customer, "Who am I?")
        messages = await s.twilio.wait_for_messages(2)
        assert "You told me your name is Grace" in messages[-1]["body"]


async def test_knowledge_command(
    tmp_path: Path, temporal_server: DevServer, client: Client, memory_url: str
) -> None:
    docs = tmp_path / "docs"
    (docs / "faq").mkdir(parents=True)
    (docs / "policies.md").write_text(RETURN_POLICY)
    (docs / "faq" / "hours.html").write_text("<h1>Hours</h1><p>Open 9 to 5 on weekdays.</p>")
    (docs / "logo.png").write_bytes(b"\x89PNG")
    env = {**os.environ, "MEMORY_DATABASE_URL": memory_url}

    async def command(*args: str) -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "switchboard.devtools.knowledge", *args, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await process.communicate()
        return process.returncode or 0, out.decode()

    code, out = await command("add", str(docs))
    assert code == 0, out
    assert "indexed   faq/hours.html (1 chunks)" in out and "2 document(s)" in out
    code, out = await command("add", str(docs))
    assert "unchanged policies.md (2 chunks)" in out
    code, out = await command("search", "opening hours on weekdays")
    assert code == 0 and "faq/hours.html > Hours" in out.splitlines()[-2]
    assert (await command("remove", "faq/hours.html"))[0] == 0
    assert (await command("remove", "faq/hours.html"))[0] == 1
    code, out = await command("list")
    assert out.strip().splitlines()[-1] == "policies.md (2 chunks)"

    # The gateway reads the same store.
    async with running_stack(
        tmp_path, temporal_server, client, worker=False, memory_database_url=memory_url
    ) as s:
        found = (await api(s, "GET", "/api/knowledge/search", params={"q": "refund"})).json()
        assert found["results"][0]["document"] == "policies.md"


async def test_embeddings_configured_by_settings_reach_the_agent(
    tmp_path: Path, temporal_server: DevServer, client: Client
) -> None:
    async with running_stack(
        tmp_path, temporal_server, client, embedding_model="fake-embedding"
    ) as s:
        s.llm.synonyms = {"money": "refund"}  # no word in common with the passage
        await api(s, "POST", "/api/knowledge", json={"name": "p.md", "content": RETURN_POLICY})
        assert s.llm.embedding_requests  # the gateway embedded the chunks at ingest
        await s.text(unique_customer(), "How do I get money?")
        await s.twilio.wait_for_messages(1)
        assert "[p.md > Store policies > Returns]" in system_text(s.llm.requests[-1])


async def test_forget_during_a_slow_summary_is_not_undone(
    s: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer = unique_customer()
    await s.text(customer, "my dog is called Rex")
    await s.twilio.wait_for_messages(1)
    released = asyncio.Event()

    async def responder(messages: Messages) -> FakeReply:
        if "Summarise this customer-service conversation" in str(messages[0]["content"]):
            await released.wait()  # the summary model is slow: the record waits for it
            return FakeReply(text="The customer's dog is Rex.")
        return FakeReply(text="ok")

    s.llm.responder = responder
    handle = s.client.get_workflow_handle(conversation_id(customer))
    await handle.signal("close", {"reason": "done"})
    await s.eventually(lambda: asyncio.sleep(0, any(is_summary(r) for r in s.llm.requests)))
    # The forget lands while the closing record waits; it does not wait that long itself.
    monkeypatch.setattr("gateway.forgetting.FORGET_WAIT", 0.5)
    gone = await api(s, "DELETE", f"/api/profiles/{customer}")
    assert gone.status_code == 200
    released.set()
    await handle.result()  # the record was saved after the forget ...
    # ... and brought nothing back.
    assert (await api(s, "GET", f"/api/profiles/{customer}")).status_code == 404
