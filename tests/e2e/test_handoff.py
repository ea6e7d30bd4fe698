"""Human handoff end to end: the model, an operator or a CLI signal hands a conversation over.

Everything runs for real: signed webhooks into the gateway, the workflow on the dev server,
TaskRouter and Messages on the fake Twilio, the model on the fake LLM, the operator API over
HTTP, and the Temporal CLI for the signal.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from temporalio.client import Client

from switchboard.contract.addresses import conversation_id
from switchboard.contract.conversation import HANDOFF_MESSAGE
from switchboard.devtools.devserver import DevServer, temporal_cli
from switchboard.devtools.twilio_sim import incoming_call_form
from switchboard.runtime.webhooks import verify_signature
from tests.conftest import BUSINESS_NUMBER, Stack, running_stack, unique_customer
from tests.support.fake_llm import FakeReply, Messages, last_user_text
from tests.support.fake_webhook import WEBHOOK_PATH, FakeWebhook
from tests.support.server import serve

WORKSPACE = "WS" + "a" * 32
WORKFLOW = "WW" + "b" * 32
API_KEY = "operator-key"
WEBHOOK_SECRET = "handoff-webhook-secret"


def handing_off(messages: Messages) -> FakeReply:
    """A model that hands off when asked for a human, and otherwise answers."""
    if "human" in last_user_text(messages).lower() and messages[-1]["role"] == "user":
        return FakeReply(
            text="Sure, connecting you with a person now.",
            tool_calls=[{"name": "handoff_to_human", "arguments": {"reason": "asked for a human"}}],
        )
    return FakeReply(text="AI: " + last_user_text(messages))


@pytest.fixture
async def s(tmp_path: Path, temporal_server: DevServer, client: Client) -> AsyncIterator[Stack]:
    async with running_stack(
        tmp_path,
        temporal_server,
        client,
        twilio_taskrouter_workspace_sid=WORKSPACE,
        twilio_taskrouter_workflow_sid=WORKFLOW,
        gateway_api_key=API_KEY,
    ) as stack:
        stack.llm.responder = handing_off
        yield stack


def api(stack: Stack, path: str) -> str:
    return f"{stack.gateway_url}/api{path}"


AUTH = {"Authorization": f"Bearer {API_KEY}"}


async def post(stack: Stack, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = await stack.http.post(api(stack, path), json=body or {}, headers=AUTH)
    assert response.status_code == 202, response.text
    result: dict[str, Any] = response.json()
    return result


async def get(stack: Stack, path: str) -> dict[str, Any]:
    response = await stack.http.get(api(stack, path), headers=AUTH)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def conv(customer: str) -> str:
    return quote(conversation_id(customer), safe="")


async def status_of(stack: Stack, customer: str) -> str:
    return (await stack.describe(customer)).status.value


async def test_model_hands_off_then_human_talks_then_ai_resumes(s: Stack) -> None:
    customer = unique_customer()
    await s.text(customer, "Hi, I have a billing question")
    await s.twilio.wait_for_messages(1)

    await s.text(customer, "I want to talk to a human")
    [_, told] = await s.twilio.wait_for_messages(2)
    assert told["body"] == "Sure, connecting you with a person now."
    [task] = await s.twilio.wait_for_tasks(1)
    assert task["form"]["WorkflowSid"] == WORKFLOW
    assert task["form"]["TaskChannel"] == "sms"
    attributes = task["parsed_attributes"]
    assert attributes["conversation_id"] == conversation_id(customer)
    assert attributes["reason"] == "asked for a human"
    assert attributes["channelType"] == "sms" and attributes["from"] == customer
    said = [line["text"] for line in attributes["transcript"]]
    assert "Hi, I have a billing question" in said and "I want to talk to a human" in said
    assert attributes["summary"]
    assert await status_of(s, customer) == "handoff_pending"

    # While a human has it, the model is never asked.
    asked = len(s.llm.requests)
    await s.text(customer, "Hello? Anyone there?")
    await s.eventually(s.transcript_mentions(customer, "Hello? Anyone there?"))
    view = await post(s, f"/conversations/{conv(customer)}/messages", {"text": "Hi, Sam here."})
    assert view["status"] == "human"
    [*_, from_human] = await s.twilio.wait_for_messages(3)
    assert from_human["body"] == "Hi, Sam here." and from_human["to"] == customer
    await asyncio.sleep(0.5)
    assert len(s.llm.requests) == asked
    assert s.twilio.messages_to(customer)[-1]["body"] == "Hi, Sam here."

    view = await post(s, f"/conversations/{conv(customer)}/resume")
    assert view["status"] == "ai"
    await s.text(customer, "Thanks Sam. One more thing")
    [*_, answer] = await s.twilio.wait_for_messages(4)
    assert answer["body"] == "AI: Thanks Sam. One more thing"
    history = s.llm.requests[-1]["messages"]
    assert {"role": "assistant", "content": "Hi, Sam here."} in history  # the human part
    full = await get(s, f"/conversations/{conv(customer)}")
    roles = [(line["role"], line["text"]) for line in full["transcript"]]
    assert ("agent", "Hi, Sam here.") in roles
    assert ("customer", "Hello? Anyone there?") in roles


async def test_operator_hands_off_through_the_api(s: Stack) -> None:
    customer = unique_customer()
    await s.text(customer, "Where is my order?")
    await s.twilio.wait_for_messages(1)
    view = await post(s, f"/conversations/{conv(customer)}/handoff", {"reason": "VIP customer"})
    assert view["status"] == "handoff_pending"
    [task] = await s.twilio.wait_for_tasks(1)
    assert task["parsed_attributes"]["reason"] == "VIP customer"
    listed = await get(s, "/conversations?status=handoff_pending")
    assert conversation_id(customer) in [c["id"] for c in listed["conversations"]]
    assert (await post(s, f"/conversations/{conv(customer)}/resume"))["status"] == "ai"

    async def withdrawn() -> bool:  # nobody took it: the task is withdrawn
        return bool(s.twilio.task(task["sid"])["assignment_status"] == "canceled")

    await s.eventually(withdrawn)


async def test_a_signal_from_the_temporal_cli_hands_off(
    s: Stack, temporal_server: DevServer
) -> None:
    customer = unique_customer()
    await s.text(customer, "Hello")
    await s.twilio.wait_for_messages(1)
    process = await asyncio.create_subprocess_exec(
        temporal_cli(), "workflow", "signal",
        "--address", temporal_server.address,
        "--workflow-id", conversation_id(customer),
        "--name", "handoff",
        "--input", json.dumps({"reason": "escalated from the CLI"}),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await process.communicate()
    assert process.returncode == 0, output.decode()
    [task] = await s.twilio.wait_for_tasks(1)
    assert task["parsed_attributes"]["reason"] == "escalated from the CLI"
    assert await status_of(s, customer) == "handoff_pending"


async def test_nobody_takes_it_in_time_so_the_customer_is_offered_a_callback(
    tmp_path: Path, temporal_server: DevServer, client: Client
) -> None:
    async with running_stack(
        tmp_path, temporal_server, client,
        twilio_taskrouter_workspace_sid=WORKSPACE, twilio_taskrouter_workflow_sid=WORKFLOW,
        handoff_timeout="2s",
    ) as s:  # fmt: skip
        s.llm.responder = handing_off
        customer = unique_customer()
        await s.text(customer, "Get me a human please")
        [task] = await s.twilio.wait_for_tasks(1)
        messages = await s.twilio.wait_for_messages(2, timeout=15)
        assert "call you back" in messages[1]["body"]
        assert await status_of(s, customer) == "ai"
        assert s.twilio.task(task["sid"])["assignment_status"] == "canceled"
        await s.text(customer, "ok then")  # the AI answers again
        [*_, answer] = await s.twilio.wait_for_messages(3)
        assert answer["body"] == "AI: ok then"


async def test_handoff_goes_to_a_signed_webhook_with_the_customers_messages(
    tmp_path: Path, temporal_server: DevServer, client: Client
) -> None:
    hook = FakeWebhook(WEBHOOK_SECRET)  # verifies t=…,v1=… on its own, within 5 minutes
    async with (
        serve(hook.app) as hook_url,
        running_stack(
            tmp_path, temporal_server, client,
            handoff_webhook_url=f"{hook_url}{WEBHOOK_PATH}", gateway_api_key=API_KEY,
            handoff_webhook_secret=WEBHOOK_SECRET,
        ) as s,
    ):  # fmt: skip
        s.llm.responder = handing_off
        customer = unique_customer()
        await s.text(customer, "My name is Ada. I need a human")
        [delivery] = await hook.wait_for_deliveries(1)
        package = delivery["body"]
        headers = delivery["headers"]
        signed = {
            "event": headers["x-switchboard-event"],
            "idempotency_key": headers["x-switchboard-idempotency-key"],
        }
        signature = headers["x-switchboard-signature"]
        assert verify_signature(delivery["raw"], signature, WEBHOOK_SECRET, **signed)
        # Not the operator key: a receiver never holds full /api access.
        assert not verify_signature(delivery["raw"], signature, API_KEY, **signed)
        # A captured delivery does not verify once it is old.
        later = time.time() + 301
        assert not verify_signature(delivery["raw"], signature, WEBHOOK_SECRET, **signed,
                                    now=later)  # fmt: skip
        assert package["customer"] == customer and package["channel"] == "sms"
        assert set(package) >= {"conversation_id", "reason", "summary", "profile", "transcript"}
        assert not s.twilio.tasks  # TaskRouter is not configured here

        await s.text(customer, "Still waiting")
        deliveries = await hook.wait_for_deliveries(2)
        assert deliveries[1]["body"]["event"] == "customer_message"
        assert deliveries[1]["body"]["text"] == "Still waiting"


async def test_handoff_on_a_call_ends_the_session_and_enqueues_the_call(s: Stack) -> None:
    customer = unique_customer()
    call = await s.call(customer)
    await call.say("Can I talk to a human?")
    assert await call.reply() == "Sure, connecting you with a person now."
    end = await call.frame()
    assert end["type"] == "end"
    data = json.loads(end["handoffData"])
    assert data["conversation_id"] == conversation_id(customer)
    assert data["reason"] == "asked for a human" and data["summary"]
    await call.hang_up()

    form = incoming_call_form(customer, BUSINESS_NUMBER, call_sid=call.call_sid)
    form.update(CallStatus="in-progress", SessionStatus="ended", HandoffData=end["handoffData"])
    answer = await s.webhooks.post("/twilio/voice/action", form)
    assert answer.status_code == 200
    assert f'<Enqueue workflowSid="{WORKFLOW}">' in answer.text
    task_json = answer.text.split("<Task>")[1].split("</Task>")[0]
    attributes = json.loads(task_json.replace("&quot;", '"').replace("&amp;", "&"))
    assert attributes["channelType"] == "voice" and attributes["call_sid"] == call.call_sid
    assert "Can I talk to a human?" in [line["text"] for line in attributes["transcript"]]
    assert not s.twilio.tasks  # the call itself is the task
    assert await s.eventually(_is(s, customer, "human"))


def _is(stack: Stack, customer: str, status: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await status_of(stack, customer) == status

    return check


async def test_operator_api_lists_reads_and_closes(s: Stack) -> None:
    customer = unique_customer()
    await s.text(customer, "hello there")
    await s.twilio.wait_for_messages(1)
    listed = await get(s, f"/conversations?customer={quote(customer)}&channel=sms")
    [row] = listed["conversations"]
    assert row["id"] == conversation_id(customer) and row["status"] == "ai"
    assert row["channels"] == ["sms"] and row["last_activity"]
    assert not (await get(s, f"/conversations?customer={quote(customer)}&channel=voice"))[
        "conversations"
    ]
    one = await get(s, f"/conversations/{conv(customer)}")
    assert one["customer"] == customer and one["transcript"][0]["text"] == "hello there"

    closed = await post(s, f"/conversations/{conv(customer)}/close", {"reason": "done"})
    assert closed["id"] == conversation_id(customer)
    await s.eventually(_is(s, customer, "closed"))
    gone = await s.http.post(api(s, f"/conversations/{conv(customer)}/handoff"), headers=AUTH)
    assert gone.status_code == 404
    later = await get(s, f"/conversations?status=closed&customer={quote(customer)}")
    assert [c["status"] for c in later["conversations"]] == ["closed"]

    missing = await s.http.get(api(s, "/conversations/conv-+14155550000"), headers=AUTH)
    assert missing.status_code == 404
    unauthorized = await s.http.get(api(s, "/conversations"))
    assert unauthorized.status_code == 401


async def test_taskrouter_events_take_the_conversation_and_give_it_back(s: Stack) -> None:
    customer = unique_customer()
    await s.text(customer, "I need a human")
    [task] = await s.twilio.wait_for_tasks(1)
    event = {
        "AccountSid": "AC" + "1" * 32, "WorkspaceSid": WORKSPACE, "TaskSid": task["sid"],
        "TaskAttributes": task["form"]["Attributes"], "WorkerName": "Sam",
        "Timestamp": str(int(time.time())), "TaskAge": "0",
    }  # fmt: skip
    accepted = await s.webhooks.post(
        "/twilio/taskrouter", {**event, "EventType": "reservation.accepted"}
    )
    assert accepted.status_code == 204
    await s.eventually(_is(s, customer, "human"))
    assert any("Sam accepted" in e.text for e in (await s.describe(customer)).transcript)

    forged = await s.http.post(
        f"{s.gateway_url}/twilio/taskrouter", data={**event, "EventType": "task.completed"}
    )
    assert forged.status_code == 403  # unsigned: changes nothing
    assert await status_of(s, customer) == "human"

    done = await s.webhooks.post("/twilio/taskrouter", {**event, "EventType": "task.completed"})
    assert done.status_code == 204
    await s.eventually(_is(s, customer, "ai"))
    other = {**event, "EventType": "task.created", "TaskAttributes": "{}"}
    assert (await s.webhooks.post("/twilio/taskrouter", other)).status_code == 204


async def test_a_silent_handoff_on_a_call_still_tells_the_caller(s: Stack) -> None:
    s.llm.responder = lambda messages: FakeReply(
        text="", tool_calls=[{"name": "handoff_to_human", "arguments": {"reason": "asked"}}]
    )
    customer = unique_customer()
    call = await s.call(customer)
    await call.say("Person please")
    assert await call.reply() == ""  # the model's (empty) reply closes its talk cycle
    assert await call.reply() == HANDOFF_MESSAGE
    end = await call.frame()
    assert end["type"] == "end" and json.loads(end["handoffData"])["reason"] == "asked"
    await call.hang_up()
    said = [e.text for e in (await s.describe(customer)).transcript if e.role.value == "assistant"]
    assert HANDOFF_MESSAGE in said
