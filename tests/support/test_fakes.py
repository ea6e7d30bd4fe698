"""Self-tests proving the Twilio, OpenAI and webhook fakes speak the real wire protocols."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import time
from collections.abc import Awaitable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolUnionParam

from tests.support.fake_llm import FakeLLM, FakeReply
from tests.support.fake_twilio import FakeTwilio
from tests.support.fake_webhook import WEBHOOK_PATH, FakeWebhook
from tests.support.server import serve

SID = "AC" + "0" * 32
TOKEN = "secret-token"
MESSAGES = f"/2010-04-01/Accounts/{SID}/Messages.json"
CALLS = f"/2010-04-01/Accounts/{SID}/Calls.json"
WORKSPACE = "WS" + "a" * 32
WORKFLOW = "WW" + "b" * 32
TASKS = f"/v1/Workspaces/{WORKSPACE}/Tasks"
TWIML = "<Response><Say>hi</Say></Response>"


def _send(client: httpx.AsyncClient, to: str, body: str = "hi") -> Awaitable[httpx.Response]:
    return client.post(MESSAGES, data={"To": to, "From": "+15550000000", "Body": body})


async def test_twilio_send_list_and_auth() -> None:
    fake = FakeTwilio(SID, TOKEN)
    async with serve(fake.app) as url, httpx.AsyncClient(base_url=url, auth=(SID, TOKEN)) as c:
        waiter = asyncio.create_task(fake.wait_for_messages(2, timeout=5))
        r1 = await _send(c, "+15551111111", "one")
        r2 = await c.post(
            MESSAGES,
            data={
                "To": "whatsapp:+15552222222",
                "From": "whatsapp:+1555",
                "Body": "two",
                "StatusCallback": "http://cb/status",
                "Extra": "x",
            },
        )
        assert r1.status_code == r2.status_code == 201
        msg = r1.json()
        assert re.fullmatch(r"SM[0-9a-f]{32}", msg["sid"])
        assert msg["status"] == "queued" and msg["direction"] == "outbound-api"
        assert msg["to"] == "+15551111111" and msg["from"] == "+15550000000"
        assert msg["body"] == "one" and msg["num_segments"] == "1" and msg["num_media"] == "0"
        assert msg["error_code"] is None and msg["price"] is None
        assert msg["api_version"] == "2010-04-01" and msg["uri"].endswith(f"{msg['sid']}.json")
        assert msg["date_created"].endswith(" +0000")
        assert parsedate_to_datetime(msg["date_created"]).tzinfo is not None
        assert "form" not in msg
        assert len(await waiter) == 2
        assert fake.messages_to("whatsapp:+15552222222")[0]["form"]["StatusCallback"] == (
            "http://cb/status"
        )

        listed = await c.get(MESSAGES, params={"PageSize": 10})
        assert listed.status_code == 200
        page = listed.json()
        assert [m["body"] for m in page["messages"]] == ["two", "one"]
        assert page["page"] == 0 and page["page_size"] == 10 and page["next_page_uri"] is None
        today = datetime.now(UTC).date().isoformat()
        by_number = await c.get(MESSAGES, params={"To": "+15551111111"})
        assert [m["sid"] for m in by_number.json()["messages"]] == [msg["sid"]]
        # Like Twilio: a queued message has no date_sent, so a DateSent filter never lists it.
        queued = await c.get(MESSAGES, params={"To": "+15551111111", "DateSent>": today})
        assert queued.json()["messages"] == []
        fake.set_message_status(msg["sid"], "sent")
        filtered = await c.get(MESSAGES, params={"To": "+15551111111", "DateSent>": today})
        assert [m["sid"] for m in filtered.json()["messages"]] == [msg["sid"]]
        assert filtered.json()["messages"][0]["date_sent"] is not None
        future = await c.get(MESSAGES, params={"DateSent>": "2999-01-01"})
        assert future.json()["messages"] == []

        bad = await _send(c, "+15553333333")
        assert bad.status_code == 201
        wrong = await c.post(MESSAGES, data={"To": "+1", "Body": "x"}, auth=(SID, "nope"))
        assert wrong.status_code == 401
        assert wrong.json() == {
            "code": 20003,
            "message": "Authenticate",
            "more_info": "https://www.twilio.com/docs/errors/20003",
            "status": 401,
        }
        other = await c.get(f"/2010-04-01/Accounts/AC{'1' * 32}/Messages.json")
        assert other.status_code == 401
        assert [r["status"] for r in fake.requests] == [201, 201, 201, 401]

        with pytest.raises(AssertionError, match="expected >= 9 Twilio messages"):
            await fake.wait_for_messages(9, timeout=0.05)
        fake.reset()
        assert fake.messages == [] and fake.requests == []


async def test_twilio_fault_injection() -> None:
    fake = FakeTwilio(SID, TOKEN)
    async with serve(fake.app) as url, httpx.AsyncClient(base_url=url, auth=(SID, TOKEN)) as c:
        fake.fail_next(1, status=503, accept=True)
        fake.fail_next(1, status=429)
        lost = await _send(c, "+15551111111", "lost")
        assert lost.status_code == 503 and lost.json()["code"] == 20500
        assert len(fake.messages) == 1  # processed even though the answer was a 5xx
        found = await c.get(MESSAGES, params={"To": "+15551111111"})
        assert [m["body"] for m in found.json()["messages"]] == ["lost"]
        limited = await _send(c, "+15551111111")
        assert limited.status_code == 429 and limited.json()["code"] == 20429
        assert (await _send(c, "+15551111111")).status_code == 201

        fake.reject_to("+15559999999", 21610)
        rejected = await _send(c, "+15559999999")
        assert rejected.status_code == 400 and rejected.json()["code"] == 21610
        assert fake.messages_to("+15559999999") == []

        fake.delay(0.2)
        loop = asyncio.get_running_loop()
        start = loop.time()
        assert (await _send(c, "+15551111111")).status_code == 201
        assert loop.time() - start >= 0.2
        assert [r["status"] for r in fake.requests] == [503, 429, 201, 400, 201]


async def test_twilio_held_answers_and_templates() -> None:
    fake = FakeTwilio(SID, TOKEN)
    async with serve(fake.app) as url, httpx.AsyncClient(base_url=url, auth=(SID, TOKEN)) as c:
        # Held: the message exists at Twilio while its sender still waits for the answer.
        fake.hold_answers(1.0)

        async def post() -> httpx.Response:
            return await _send(c, "+15551111111", "held")

        held = asyncio.create_task(post())
        [accepted] = await fake.wait_for_messages(1, timeout=0.9)
        assert not held.done() and accepted["body"] == "held"
        fake.hold_answers(0)
        assert (await held).status_code == 201  # answered once its hold ends

        # A template's listed body is what Twilio rendered, not anything the sender wrote.
        sent = await c.post(MESSAGES, data={
            "To": "whatsapp:+15551111111", "From": "whatsapp:+15550000000",
            "ContentSid": "HX" + "1" * 32, "ContentVariables": '{"1": "3pm"}',
        })  # fmt: skip
        assert sent.status_code == 201
        assert sent.json()["body"] == f"Template HX{'1' * 32}: 3pm"


def _call(client: httpx.AsyncClient, to: str, **extra: str) -> Awaitable[httpx.Response]:
    return client.post(CALLS, data={"To": to, "From": "+15550000000", "Twiml": TWIML, **extra})


async def test_twilio_calls_create_list_and_faults() -> None:
    fake = FakeTwilio(SID, TOKEN)
    async with serve(fake.app) as url, httpx.AsyncClient(base_url=url, auth=(SID, TOKEN)) as c:
        waiter = asyncio.create_task(fake.wait_for_calls(2, timeout=5))
        first = await _call(c, "+15551111111", StatusCallback="http://cb/call")
        assert first.status_code == 201
        call = first.json()
        assert re.fullmatch(r"CA[0-9a-f]{32}", call["sid"])
        assert call["status"] == "queued" and call["direction"] == "outbound-api"
        assert call["to"] == "+15551111111" and call["from"] == "+15550000000"
        assert call["start_time"] is None and call["uri"].endswith(f"{call['sid']}.json")
        assert parsedate_to_datetime(call["date_created"]).tzinfo is not None
        assert "form" not in call
        assert (await _call(c, "+15552222222")).status_code == 201
        assert [x["form"]["Twiml"] for x in await waiter] == [TWIML, TWIML]
        assert fake.calls[0]["form"]["StatusCallback"] == "http://cb/call"

        listed = (await c.get(CALLS, params={"To": "+15551111111"})).json()
        assert [x["sid"] for x in listed["calls"]] == [call["sid"]]
        assert len((await c.get(CALLS)).json()["calls"]) == 2
        assert fake.lookups[-1]["path"] == CALLS

        missing = await c.post(CALLS, data={"To": "+15551111111", "From": "+15550000000"})
        assert missing.status_code == 400 and missing.json()["code"] == 21205
        no_to = await c.post(CALLS, data={"From": "+15550000000", "Twiml": TWIML})
        assert no_to.json()["code"] == 21201
        wrong = await c.post(CALLS, data={"To": "+1"}, auth=(SID, "nope"))
        assert wrong.status_code == 401

        fake.fail_next(1, status=502, accept=True, api="calls")
        lost = await _call(c, "+15553333333")
        assert lost.status_code == 502 and lost.json()["code"] == 20500
        assert [x["to"] for x in fake.calls][-1] == "+15553333333"  # placed all the same
        fake.fail_next(1, status=429, api="calls")
        assert (await _call(c, "+15553333333")).status_code == 429
        assert (await _send(c, "+15553333333")).status_code == 201  # messages unaffected
        fake.reject_to("+15559999999", 21211)
        assert (await _call(c, "+15559999999")).json()["code"] == 21211
        assert [r["status"] for r in fake.call_requests] == [201, 201, 400, 400, 401, 502, 429, 400]

        with pytest.raises(AssertionError, match="expected >= 9 Twilio calls"):
            await fake.wait_for_calls(9, timeout=0.05)
        fake.reset()
        assert fake.calls == [] and fake.call_requests == []


def _create_task(
    client: httpx.AsyncClient, attributes: dict[str, Any]
) -> Awaitable[httpx.Response]:
    form = {
        "WorkflowSid": WORKFLOW,
        "Attributes": json.dumps(attributes),
        "TaskChannel": "sms",
        "Timeout": "360",
    }
    return client.post(TASKS, data=form)


async def test_taskrouter_tasks() -> None:
    fake = FakeTwilio(SID, TOKEN)
    async with serve(fake.app) as url, httpx.AsyncClient(base_url=url, auth=(SID, TOKEN)) as c:
        waiter = asyncio.create_task(fake.wait_for_tasks(1, timeout=5))
        created = await _create_task(c, {"name": "Ada", "key": "k-1"})
        assert created.status_code == 201
        task = created.json()
        assert re.fullmatch(r"WT[0-9a-f]{32}", task["sid"])
        assert task["assignment_status"] == "pending" and task["workflow_sid"] == WORKFLOW
        assert task["task_channel_unique_name"] == "sms" and task["timeout"] == 360
        assert json.loads(task["attributes"]) == {"name": "Ada", "key": "k-1"}
        assert "form" not in task and "parsed_attributes" not in task
        (recorded,) = await waiter
        assert recorded["parsed_attributes"] == {"name": "Ada", "key": "k-1"}
        other = (await _create_task(c, {"name": "Bob", "key": "k-2"})).json()

        found = await c.get(TASKS, params={"EvaluateTaskAttributes": 'key == "k-1"'})
        assert [t["sid"] for t in found.json()["tasks"]] == [task["sid"]]
        assert found.json()["tasks"][0]["attributes"] is None  # lists leave them out
        expression = "name == 'Bob' AND key == 'k-2'"
        both = await c.get(TASKS, params={"EvaluateTaskAttributes": expression})
        assert [t["sid"] for t in both.json()["tasks"]] == [other["sid"]]
        bad = await c.get(TASKS, params={"EvaluateTaskAttributes": "age > 3"})
        assert bad.status_code == 400 and bad.json()["code"] == 20001
        fetched = await c.get(f"{TASKS}/{task['sid']}")
        assert json.loads(fetched.json()["attributes"])["name"] == "Ada"

        canceled = await c.post(
            f"{TASKS}/{task['sid']}", data={"AssignmentStatus": "canceled", "Reason": "timeout"}
        )
        assert canceled.status_code == 200
        assert canceled.json()["assignment_status"] == "canceled"
        assert fake.task(task["sid"])["reason"] == "timeout"
        again = await c.post(f"{TASKS}/{task['sid']}", data={"AssignmentStatus": "canceled"})
        assert again.status_code == 400 and again.json()["code"] == 20001
        fake.set_task_status(other["sid"], "assigned")
        taken = await c.post(f"{TASKS}/{other['sid']}", data={"AssignmentStatus": "canceled"})
        assert taken.status_code == 400
        fake.forget_task(other["sid"])
        gone = await c.post(f"{TASKS}/{other['sid']}", data={"AssignmentStatus": "canceled"})
        assert gone.status_code == 404 and gone.json()["code"] == 20404
        assert (await c.get(f"{TASKS}/{other['sid']}")).status_code == 404

        assert (await c.post(TASKS, data={"Attributes": "{}"})).status_code == 400
        not_object = await c.post(TASKS, data={"WorkflowSid": WORKFLOW, "Attributes": "[1]"})
        assert not_object.status_code == 400
        denied = await c.post(TASKS, data={"WorkflowSid": WORKFLOW}, auth=(SID, "nope"))
        assert denied.status_code == 401 and denied.json()["code"] == 20003
        assert (await c.get(TASKS, auth=(SID, "nope"))).status_code == 401

        fake.fail_next(1, status=503, accept=True, api="tasks")
        lost = await _create_task(c, {"key": "k-3"})
        assert lost.status_code == 503
        recovered = await c.get(TASKS, params={"EvaluateTaskAttributes": 'key == "k-3"'})
        assert len(recovered.json()["tasks"]) == 1  # created although the answer was lost
        fake.fail_next(1, status=500, api="tasks")
        assert (await _create_task(c, {"key": "k-4"})).status_code == 500
        assert len(fake.tasks) == 2
        statuses = [r["status"] for r in fake.task_requests]
        assert statuses == [201, 201, 200, 400, 400, 404, 400, 400, 401, 503, 500]

        with pytest.raises(AssertionError, match="expected >= 9 TaskRouter tasks"):
            await fake.wait_for_tasks(9, timeout=0.05)
        fake.reset()
        assert fake.tasks == [] and fake.task_requests == []


def _signed(
    secret: str, body: bytes, key: str = "k-1", event: str = "handoff", t: int | None = None
) -> str:
    t = int(time.time()) if t is None else t
    signed = f"{t}.{key}.{event}.".encode() + body
    return f"t={t},v1=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


async def test_webhook_receiver_checks_signatures() -> None:
    fake = FakeWebhook("hook-secret")
    async with serve(fake.app) as url, httpx.AsyncClient(base_url=url) as c:
        body = json.dumps({"conversation_id": "conv-+1", "reason": "x"}).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Switchboard-Signature": _signed("hook-secret", body),
            "X-Switchboard-Event": "handoff",
            "X-Switchboard-Idempotency-Key": "k-1",
        }
        waiter = asyncio.create_task(fake.wait_for_deliveries(1, timeout=5))
        ok = await c.post(WEBHOOK_PATH, content=body, headers=headers)
        assert ok.status_code == 200
        (delivery,) = await waiter
        assert delivery["event"] == "handoff" and delivery["idempotency_key"] == "k-1"
        assert delivery["body"] == {"conversation_id": "conv-+1", "reason": "x"}
        assert fake.events("handoff") == [delivery["body"]]

        tampered = await c.post(WEBHOOK_PATH, content=body + b" ", headers=headers)
        assert tampered.status_code == 401
        wrong_key = {**headers, "X-Switchboard-Signature": _signed("other", body)}
        assert (await c.post(WEBHOOK_PATH, content=body, headers=wrong_key)).status_code == 401
        unsigned = {k: v for k, v in headers.items() if k != "X-Switchboard-Signature"}
        assert (await c.post(WEBHOOK_PATH, content=body, headers=unsigned)).status_code == 401
        stale = {
            **headers,
            "X-Switchboard-Signature": _signed("hook-secret", body, t=int(time.time()) - 301),
        }
        assert (await c.post(WEBHOOK_PATH, content=body, headers=stale)).status_code == 401
        other_event = {**headers, "X-Switchboard-Event": "closed"}
        assert (await c.post(WEBHOOK_PATH, content=body, headers=other_event)).status_code == 401
        other_key = {**headers, "X-Switchboard-Idempotency-Key": "k-2"}
        assert (await c.post(WEBHOOK_PATH, content=body, headers=other_key)).status_code == 401

        fake.fail_next(1, status=503)
        assert (await c.post(WEBHOOK_PATH, content=body, headers=headers)).status_code == 503
        assert len(fake.deliveries) == 1
        assert [(r["status"], r["signature_valid"]) for r in fake.requests] == [
            (200, True), *[(401, False)] * 6, (503, True),
        ]  # fmt: skip
        with pytest.raises(AssertionError, match="expected >= 3 webhook deliveries"):
            await fake.wait_for_deliveries(3, timeout=0.05)


async def test_llm_raw_http_and_auth() -> None:
    fake = FakeLLM()
    auth = {"Authorization": "Bearer test-key"}
    async with serve(fake.app) as url, httpx.AsyncClient(base_url=url) as c:
        body = {"model": "m1", "messages": [{"role": "user", "content": "hello"}]}
        denied = await c.post("/v1/chat/completions", json=body)
        assert denied.status_code == 401
        assert denied.json()["error"]["code"] == "invalid_api_key"
        ok = await c.post("/chat/completions", json=body, headers=auth)
        data = ok.json()
        assert data["object"] == "chat.completion" and data["model"] == "m1"
        assert data["id"].startswith("chatcmpl-")
        assert data["choices"][0]["message"] == {"role": "assistant", "content": "echo: hello"}
        assert data["choices"][0]["finish_reason"] == "stop"

        fake.fail_next(1, status=503)
        failed = await c.post("/v1/chat/completions", json=body, headers=auth)
        assert failed.status_code == 503 and "error" in failed.json()
        assert len(await fake.wait_for_requests(2, timeout=1)) == 2
        with pytest.raises(AssertionError, match="expected >= 5 LLM requests"):
            await fake.wait_for_requests(5, timeout=0.05)


async def test_llm_with_official_openai_client() -> None:
    fake = FakeLLM(api_key="k")
    fake.responder = lambda messages: FakeReply(
        text="Let me check that for you.",
        tool_calls=[{"name": "lookup_order", "arguments": {"order_id": "A-17", "verbose": True}}],
    )
    tools: list[ChatCompletionToolUnionParam] = [
        {"type": "function", "function": {"name": "lookup_order", "parameters": {}}}
    ]
    msgs: list[ChatCompletionMessageParam] = [{"role": "user", "content": "where is my order?"}]
    async with serve(fake.app) as url:
        client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="k", max_retries=0)
        completion = await client.chat.completions.create(model="gpt-x", messages=msgs, tools=tools)
        choice = completion.choices[0]
        assert choice.finish_reason == "tool_calls"
        assert choice.message.content == "Let me check that for you."
        assert choice.message.tool_calls is not None
        call = choice.message.tool_calls[0]
        assert call.type == "function"
        assert call.function.name == "lookup_order"
        assert json.loads(call.function.arguments) == {"order_id": "A-17", "verbose": True}

        fake.responder = lambda messages: FakeReply(
            text="Checking now.",
            tool_calls=[{"name": "lookup_order", "arguments": {"order_id": "B-2"}}],
            token_delay=0.001,
        )
        stream = await client.chat.completions.create(
            model="gpt-x", messages=msgs, tools=tools, stream=True
        )
        text, args, names, finish = "", "", [], None
        async for chunk in stream:
            delta = chunk.choices[0].delta
            text += delta.content or ""
            for tc in delta.tool_calls or []:
                assert tc.index == 0
                if tc.function and tc.function.name:
                    names.append(tc.function.name)
                args += (tc.function.arguments or "") if tc.function else ""
            finish = chunk.choices[0].finish_reason or finish
        assert text == "Checking now."
        assert names == ["lookup_order"] and json.loads(args) == {"order_id": "B-2"}
        assert finish == "tool_calls"
        assert fake.requests[-1]["stream"] is True and fake.requests[-1]["tools"] == tools

        fake.responder = lambda messages: FakeReply(status=429)
        with pytest.raises(openai.RateLimitError):
            await client.chat.completions.create(model="gpt-x", messages=msgs)
        await client.close()
