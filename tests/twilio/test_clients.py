"""The REST clients under the handoff activities, against the fakes over real HTTP.

TaskRouter (create, find, fetch, cancel), the Calls API (create, find), webhook signing
and the ConversationRelay TwiML with custom parameters.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree import ElementTree

import httpx
import pytest

from switchboard.runtime.webhooks import WebhookError, post_signed, sign, verify_signature
from switchboard.twilio.rest import TwilioError, TwilioRestClient
from switchboard.twilio.taskrouter import MAX_TASK_TIMEOUT_S, TaskRouterClient, TaskRouterError
from switchboard.twilio.twiml import VoiceOptions, connect_relay_twiml, websocket_url
from tests.support.fake_twilio import FakeTwilio
from tests.support.fake_webhook import WEBHOOK_PATH, FakeWebhook
from tests.support.server import serve

SID = "AC" + "3" * 32
TOKEN = "client-token"
WS = "WS" + "4" * 32
WW = "WW" + "5" * 32
TO = "+14155550188"
FROM = "+15005550006"
TWIML = "<Response><Hangup/></Response>"


@pytest.fixture(scope="module")
async def served() -> AsyncIterator[tuple[FakeTwilio, str]]:
    fake = FakeTwilio(SID, TOKEN)
    async with serve(fake.app) as url:
        yield fake, url


@pytest.fixture
async def fake(served: tuple[FakeTwilio, str]) -> FakeTwilio:
    served[0].reset()
    return served[0]


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


@pytest.fixture
def taskrouter(served: tuple[FakeTwilio, str], http: httpx.AsyncClient) -> TaskRouterClient:
    return TaskRouterClient(http, served[1] + "/", SID, TOKEN)  # a trailing slash is fine


@pytest.fixture
def rest(served: tuple[FakeTwilio, str], http: httpx.AsyncClient) -> TwilioRestClient:
    return TwilioRestClient(http, served[1], SID, TOKEN)


# --- TaskRouter ---------------------------------------------------------------------------


async def test_create_task_sends_the_form(fake: FakeTwilio, taskrouter: TaskRouterClient) -> None:
    attributes: dict[str, Any] = {"name": "Ada", "nested": {"a": [1, 2]}, "key": "k-1"}
    sid = await taskrouter.create_task(WS, WW, attributes, "chat", 360)
    (task,) = fake.tasks
    assert sid == task["sid"] and sid.startswith("WT")
    assert task["workspace_sid"] == WS
    assert {k: task["form"][k] for k in ("WorkflowSid", "TaskChannel", "Timeout")} == {
        "WorkflowSid": WW, "TaskChannel": "chat", "Timeout": "360",
    }  # fmt: skip
    assert task["parsed_attributes"] == attributes


async def test_create_task_clamps_the_timeout(
    fake: FakeTwilio, taskrouter: TaskRouterClient
) -> None:
    await taskrouter.create_task(WS, WW, {}, "sms", 10 * MAX_TASK_TIMEOUT_S)
    assert fake.tasks[0]["form"]["Timeout"] == str(MAX_TASK_TIMEOUT_S)


async def test_find_and_fetch_task(fake: FakeTwilio, taskrouter: TaskRouterClient) -> None:
    sid = await taskrouter.create_task(WS, WW, {"key": 'conv-+1/"quoted"'}, "sms", 60)
    await taskrouter.create_task(WS, WW, {"key": "other"}, "sms", 60)
    assert await taskrouter.find_task(WS, "key", 'conv-+1/"quoted"') == sid
    assert await taskrouter.find_task(WS, "key", "missing") is None
    assert await taskrouter.find_task("WS" + "0" * 32, "key", "other") is None
    task = await taskrouter.fetch_task(WS, sid)
    assert task is not None
    assert (task.sid, task.assignment_status) == (sid, "pending")
    assert task.attributes == {"key": 'conv-+1/"quoted"'}
    assert await taskrouter.fetch_task(WS, "WT" + "0" * 32) is None


async def test_cancel_task(fake: FakeTwilio, taskrouter: TaskRouterClient) -> None:
    sid = await taskrouter.create_task(WS, WW, {}, "voice", 60)
    task = await taskrouter.cancel_task(WS, sid, "nobody answered")
    assert (task.assignment_status, task.reason) == ("canceled", "nobody answered")
    assert fake.task_requests[-1]["form"] == {
        "AssignmentStatus": "canceled", "Reason": "nobody answered",
    }  # fmt: skip
    with pytest.raises(TaskRouterError) as caught:
        await taskrouter.cancel_task(WS, sid, "again")
    assert (caught.value.http_status, caught.value.code) == (400, 20001)
    with pytest.raises(TaskRouterError) as caught:
        await taskrouter.cancel_task(WS, "WT" + "0" * 32, "unknown")
    assert (caught.value.http_status, caught.value.code) == (404, 20404)
    assert "TaskRouter 404" in str(caught.value)


async def test_taskrouter_errors(
    fake: FakeTwilio, served: tuple[FakeTwilio, str], http: httpx.AsyncClient
) -> None:
    fake.fail_next(1, status=429, api="tasks")
    client = TaskRouterClient(http, served[1], SID, TOKEN)
    with pytest.raises(TaskRouterError) as caught:
        await client.create_task(WS, WW, {}, "sms", 60)
    assert (caught.value.http_status, caught.value.code) == (429, 20429)
    assert isinstance(caught.value, TwilioError)  # one family with the Messages errors
    wrong = TaskRouterClient(http, served[1], SID, "wrong")
    with pytest.raises(TaskRouterError) as caught:
        await wrong.find_task(WS, "key", "x")
    assert (caught.value.http_status, caught.value.code) == (401, 20003)


# --- Calls --------------------------------------------------------------------------------


async def test_create_call(fake: FakeTwilio, rest: TwilioRestClient) -> None:
    call = await rest.create_call({"To": TO, "From": FROM, "Twiml": TWIML})
    (accepted,) = fake.calls
    assert (call.sid, call.status, call.to, call.from_) == (accepted["sid"], "queued", TO, FROM)
    assert call.date_created is not None and call.date_created.tzinfo is not None
    assert accepted["form"] == {"To": TO, "From": FROM, "Twiml": TWIML}
    with pytest.raises(TwilioError) as caught:
        await rest.create_call({"To": TO, "From": FROM})
    assert (caught.value.http_status, caught.value.code) == (400, 21205)


async def test_find_call(fake: FakeTwilio, rest: TwilioRestClient) -> None:
    since = datetime.now(UTC)
    assert await rest.find_call(TO, FROM, since) is None
    placed = await rest.create_call({"To": TO, "From": FROM, "Twiml": TWIML})
    await rest.create_call({"To": "+14155550199", "From": FROM, "Twiml": TWIML})
    found = await rest.find_call(TO, FROM, since)
    assert found is not None and found.sid == placed.sid
    assert await rest.find_call(TO, "+15005550009", since) is None
    assert await rest.find_call(TO, FROM, since + timedelta(minutes=1)) is None  # older
    (lookup, *_) = [x for x in fake.lookups if x["path"].endswith("/Calls.json")]
    assert lookup["query"] == {"To": TO, "From": FROM, "PageSize": "20"}


# --- webhooks -----------------------------------------------------------------------------


def test_sign_and_verify() -> None:
    body = b'{"a": 1}'
    header = sign(body, "k", event="handoff", idempotency_key="i-1", timestamp=1_700_000_000)
    t, v1 = header.split(",")
    assert t == "t=1700000000" and v1.startswith("v1=") and len(v1) == len("v1=") + 64

    def ok(**changes: Any) -> bool:
        values: dict[str, Any] = {
            "body": body, "header": header, "secret": "k", "event": "handoff",
            "idempotency_key": "i-1", "now": 1_700_000_000 + 10, **changes,
        }  # fmt: skip
        return verify_signature(
            values.pop("body"), values.pop("header"), values.pop("secret"), **values
        )

    assert ok()
    assert not ok(body=body + b" ")
    assert not ok(secret="other")
    assert not ok(header=None)
    assert not ok(header=v1)  # no timestamp
    assert not ok(secret="")
    assert not ok(event="closed")
    assert not ok(idempotency_key="i-2")
    assert not ok(now=1_700_000_000 + 301)
    assert ok(now=1_700_000_000 + 301, tolerance=600)


async def test_post_signed(http: httpx.AsyncClient) -> None:
    receiver = FakeWebhook("k")
    async with serve(receiver.app) as base:
        status = await post_signed(
            http, base + WEBHOOK_PATH, b'{"x": 1}', "k", event="closed", idempotency_key="i-1"
        )
        assert status == 200
        (delivery,) = receiver.deliveries
        assert (delivery["event"], delivery["idempotency_key"], delivery["body"]) == (
            "closed", "i-1", {"x": 1},
        )  # fmt: skip
        with pytest.raises(WebhookError) as caught:
            await post_signed(
                http, base + WEBHOOK_PATH, b"{}", "bad", event="x", idempotency_key="i-2"
            )
        assert caught.value.http_status == 401


# --- TwiML --------------------------------------------------------------------------------


def test_relay_twiml_carries_custom_parameters() -> None:
    xml = connect_relay_twiml(
        "https://abc.ngrok.app", VoiceOptions(), {"purpose": 'Say "hi" & bye', "lang": "de"}
    )
    relay = ElementTree.fromstring(xml).find("./Connect/ConversationRelay")
    assert relay is not None
    assert [(p.get("name"), p.get("value")) for p in relay.findall("Parameter")] == [
        ("purpose", 'Say "hi" & bye'), ("lang", "de"),
    ]  # fmt: skip
    assert relay.get("url") == "wss://abc.ngrok.app/twilio/relay"
    assert connect_relay_twiml("http://x", VoiceOptions()) == connect_relay_twiml(
        "http://x", VoiceOptions(), {}
    )


def test_websocket_url() -> None:
    assert websocket_url("https://a.example/x") == "wss://a.example/x"
    assert websocket_url("http://127.0.0.1:8000/x") == "ws://127.0.0.1:8000/x"
