"""Replay: recorded conversation histories still replay, under the workflow sandbox.

Two guarantees. Code changes that would break running conversations (non-determinism) fail
here, against histories recorded from earlier versions (``histories/*.json``). And because
the replayer uses the sandboxed runner, the workflow is proven sandbox-clean even when
production workers run without the sandbox (``WORKFLOW_SANDBOX=false``).

Record a new history after a deliberate workflow change with
``RECORD_HISTORIES=1 .venv/bin/python -m pytest tests/workflows/test_replay.py`` (or only the
memory one with ``RECORD_HISTORIES=memory``); keep the old files: they are the old versions.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from switchboard.contract.addresses import Channel, conversation_id
from switchboard.contract.conversation import CloseRequest
from switchboard.devtools.devserver import DevServer
from tests.conftest import BUSINESS_NUMBER, running_stack, unique_customer
from tests.support.fake_llm import FakeReply, last_user_text
from workflows.conversation import ConversationWorkflow

HISTORIES = Path(__file__).parent / "histories"
_CHECKOUT = str(Path(__file__).resolve().parents[2]) + "/"


def _record(name: str, history: WorkflowHistory) -> None:
    """Keep a history, with this checkout's location left out of its stack traces."""
    text = history.to_json().replace(_CHECKOUT, "/srv/switchboard/")
    (HISTORIES / f"{name}.json").write_text(text)


def replayer() -> Replayer:
    return Replayer(workflows=[ConversationWorkflow], data_converter=pydantic_data_converter)


@pytest.mark.parametrize("path", sorted(HISTORIES.glob("*.json")), ids=lambda p: p.stem)
async def test_recorded_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    await replayer().replay_workflow(history)


@pytest.mark.parametrize("local_activities", [True, False], ids=["local", "regular"])
async def test_a_full_conversation_replays_in_the_sandbox(
    tmp_path: Path, temporal_server: DevServer, client: Client, local_activities: bool
) -> None:
    async with running_stack(
        tmp_path, temporal_server, client, message_batch_window="0.5s",
        conversation_local_activities=local_activities,
    ) as s:  # fmt: skip
        s.llm.responder = lambda messages: FakeReply(text=f"re: {last_user_text(messages)}")
        customer = unique_customer()
        await s.text(customer, "hi")
        await s.text(customer, "my name is Ada")  # batched with "hi"
        await s.twilio.wait_for_messages(1)
        s.twilio.fail_next(1, status=500)
        await s.text(customer, "hola", channel=Channel.WHATSAPP)
        await s.twilio.wait_for_messages(2, timeout=20)
        await s.text(customer, "STOP", extra={"OptOutType": "STOP"})
        status = {"MessageSid": s.twilio.messages[0]["sid"], "MessageStatus": "delivered",
                  "To": customer, "From": BUSINESS_NUMBER}  # fmt: skip
        assert (await s.webhooks.post("/twilio/messaging/status", status)).status_code == 200
        await asyncio.sleep(0.5)
        handle = client.get_workflow_handle(conversation_id(customer))
        await handle.signal(ConversationWorkflow.close, CloseRequest(reason="test"))
        await handle.result()
        history = await handle.fetch_history()

    await replayer().replay_workflow(history)
    if os.environ.get("RECORD_HISTORIES") == "1":
        name = "conversation-local" if local_activities else "conversation-regular"
        _record(name, history)


async def test_a_call_replays_in_the_sandbox(
    tmp_path: Path, temporal_server: DevServer, client: Client
) -> None:
    """Voice paths (legs, updates, interrupts, tool calls, a dropped leg) replay too."""
    async with running_stack(tmp_path, temporal_server, client) as s:
        customer = unique_customer()
        await s.text(customer, "my name is Ada")
        await s.twilio.wait_for_messages(1)
        call = await s.call(customer)
        s.llm.responder = lambda messages: FakeReply(
            text="Connecting you to the returns desk now, one moment please.",
            tool_calls=[{"name": "send_digits", "arguments": {"digits": "12"}}],
        )
        await call.say("Returns please")
        await call.reply()
        assert (await call.frame())["type"] == "sendDigits"
        await call.interrupt("Connecting you")  # late: after the reply was reported
        s.llm.responder = lambda messages: FakeReply(text="Sure.", token_delay=0.05)
        await call.press("7#")
        await call.frame()
        await call.interrupt("")  # mid-stream
        await call.reply()  # the cycle closed by the interrupt
        await call.say("Bye")
        await call.reply()
        await call.say("Are you still there?")
        call.ws.transport.abort()  # dropped: recorded, and the workflow texts the caller
        await s.twilio.wait_for_messages(2, timeout=20)
        handle = client.get_workflow_handle(conversation_id(customer))
        await handle.signal(ConversationWorkflow.close, CloseRequest(reason="test"))
        await handle.result()
        history = await handle.fetch_history()
        said = [e.text for e in (await handle.query(ConversationWorkflow.describe)).transcript]
        assert "Are you still there?" in said, "a prompt in flight when the call dropped"

    await replayer().replay_workflow(history)
    if os.environ.get("RECORD_HISTORIES") == "1":
        _record("conversation-voice", history)


async def test_memory_paths_replay_in_the_sandbox(
    tmp_path: Path, temporal_server: DevServer, client: Client
) -> None:
    """Recall, the memory tools (valid and refused calls), a call's recall, the closing record."""
    async with running_stack(tmp_path, temporal_server, client) as s:
        await s.http.post(
            f"{s.gateway_url}/api/knowledge",
            json={"name": "p.md", "content": "# Returns\n\n30 days."},
        )

        def responder(messages: list[dict[str, object]]) -> FakeReply:
            if messages[-1]["role"] == "tool":
                return FakeReply(text="Done.")
            if "remember" in last_user_text(messages):
                return FakeReply(tool_calls=[
                    {"name": "remember", "arguments": {"fact": "Likes tea", "trait": "drink",
                                                       "value": "tea"}},
                    {"name": "search_knowledge", "arguments": {"query": "returns"}},
                    {"name": "remember", "arguments": {}},
                ])  # fmt: skip
            return FakeReply(text=f"re: {last_user_text(messages)}")

        s.llm.responder = responder
        customer = unique_customer()
        await s.text(customer, "please remember I like tea")
        await s.twilio.wait_for_messages(1)
        call = await s.call(customer)
        await call.say("What about returns?")
        await call.reply()
        await s.hang_up(call, customer)
        handle = client.get_workflow_handle(conversation_id(customer))
        await handle.signal(ConversationWorkflow.close, CloseRequest(reason="test"))
        await handle.result()
        history = await handle.fetch_history()

    await replayer().replay_workflow(history)
    if os.environ.get("RECORD_HISTORIES") in ("1", "memory"):
        _record("conversation-memory", history)


async def test_handoff_tools_and_callbacks_replay_in_the_sandbox(
    tmp_path: Path, temporal_server: DevServer, client: Client
) -> None:
    """The agent's tools, a handoff and its human side, resume, callbacks, an outbound text."""
    async with running_stack(
        tmp_path, temporal_server, client, agent="tests.support.tools_agent:agent",
        twilio_phone_number="+15005550009", conversation_local_activities=False,
    ) as s:  # fmt: skip

        def responder(messages: list[dict[str, object]]) -> FakeReply:
            said = last_user_text(messages)
            if messages[-1]["role"] == "tool":
                return FakeReply(text="Done.")
            if "order" in said:
                return FakeReply(tool_calls=[
                    {"name": "lookup_order", "arguments": {"order_id": "A1"}},
                    {"name": "flaky_inventory", "arguments": {"sku": "X"}},
                    {"name": "lookup_order", "arguments": {}},
                ])  # fmt: skip
            if "human" in said:
                return FakeReply(
                    text="Connecting you.",
                    tool_calls=[{"name": "handoff_to_human", "arguments": {"reason": "asked"}}],
                )
            if "call me" in said:
                at = "2099-01-01T10:00:00Z"
                return FakeReply(tool_calls=[
                    {"name": "schedule_callback", "arguments": {"at": at, "note": "later"}},
                ])  # fmt: skip
            if "cancel" in said:
                return FakeReply(tool_calls=[{"name": "cancel_callback", "arguments": {}}])
            return FakeReply(text=f"re: {said}")

        s.llm.responder = responder
        customer = unique_customer()
        conv = f"{s.gateway_url}/api/conversations/{conversation_id(customer)}"
        await s.text(customer, "where is my order?")
        await s.twilio.wait_for_messages(1, timeout=20)
        await s.text(customer, "a human please")
        await s.twilio.wait_for_messages(2)
        await s.text(customer, "hello?")
        await s.eventually(s.transcript_mentions(customer, "hello?"))
        assert (await s.http.post(f"{conv}/messages", json={"text": "Sam here"})).is_success
        await s.twilio.wait_for_messages(3)
        assert (await s.http.post(f"{conv}/resume")).is_success
        await s.text(customer, "call me back next year")
        await s.twilio.wait_for_messages(4)
        await s.text(customer, "cancel it")
        await s.twilio.wait_for_messages(5)
        outbound = {"to": customer, "channel": "sms", "text": "One more thing"}
        assert (await s.http.post(f"{s.gateway_url}/api/conversations", json=outbound)).is_success
        await s.twilio.wait_for_messages(6)
        handle = client.get_workflow_handle(conversation_id(customer))
        await handle.signal(ConversationWorkflow.close, CloseRequest(reason="test"))
        await handle.result()
        history = await handle.fetch_history()

    await replayer().replay_workflow(history)
    if os.environ.get("RECORD_HISTORIES") in ("1", "handoff"):
        _record("conversation-handoff", history)


async def test_intelligence_paths_replay_in_the_sandbox(
    tmp_path: Path, temporal_server: DevServer, client: Client
) -> None:
    """Operators on turns (a rule's handoff, tags, do-not-contact) and at close replay."""
    async with running_stack(tmp_path, temporal_server, client, llm_base_url=None) as s:
        customer = unique_customer()
        await s.text(customer, "hello, my parcel is late")
        await s.twilio.wait_for_messages(1)
        await s.text(customer, "stop calling me. This is useless, I'm furious, get me a manager!")
        await s.eventually(s.transcript_mentions(customer, "rule escalation_high"), timeout=20)
        await s.eventually(s.transcript_mentions(customer, "asked not to be contacted"))
        handle = client.get_workflow_handle(conversation_id(customer))
        await handle.signal(ConversationWorkflow.close, CloseRequest(reason="test"))
        await handle.result()
        history = await handle.fetch_history()

    await replayer().replay_workflow(history)
    if os.environ.get("RECORD_HISTORIES") in ("1", "intelligence"):
        _record("conversation-intelligence", history)
