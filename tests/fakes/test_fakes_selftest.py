"""Self-tests proving the Twilio and OpenAI fakes speak the real wire protocols."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.fake_llm import FakeLLM, FakeReply
from tests.fakes.fake_twilio import FakeTwilio
from tests.fakes.server import serve

SID = "AC" + "0" * 32
TOKEN = "secret-token"
MESSAGES = f"/2010-04-01/Accounts/{SID}/Messages.json"


def _send(client: httpx.AsyncClient, to: str, body: str = "hi") -> Any:
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
        filtered = await c.get(MESSAGES, params={"To": "+15551111111", "DateSent>": today})
        assert [m["sid"] for m in filtered.json()["messages"]] == [msg["sid"]]
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
    tools: Any = [{"type": "function", "function": {"name": "lookup_order", "parameters": {}}}]
    msgs: Any = [{"role": "user", "content": "where is my order?"}]
    async with serve(fake.app) as url:
        client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="k", max_retries=0)
        completion = await client.chat.completions.create(model="gpt-x", messages=msgs, tools=tools)
        choice = completion.choices[0]
        assert choice.finish_reason == "tool_calls"
        assert choice.message.content == "Let me check that for you."
        call = choice.message.tool_calls[0]  # type: ignore[index]
        assert call.function.name == "lookup_order"  # type: ignore[union-attr]
        assert json.loads(call.function.arguments) == {"order_id": "A-17", "verbose": True}  # type: ignore[union-attr]

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
