"""Outbound conversations from the operator API: a text, a WhatsApp template, a call."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from switchboard.contract.addresses import Channel, conversation_id
from switchboard.devtools.devserver import DevServer
from switchboard.devtools.twilio_sim import RelayCall
from tests.conftest import ACCOUNT_SID, Stack, running_stack, unique_customer
from tests.support.fake_llm import FakeReply, last_user_text

OUR_NUMBER = "+15005550009"
WHATSAPP_NUMBER = "+15005550010"
TEMPLATE = "HX" + "c" * 32


@pytest.fixture
async def s(tmp_path: Path, temporal_server: DevServer, client: Client) -> AsyncIterator[Stack]:
    async with running_stack(
        tmp_path, temporal_server, client,
        twilio_phone_number=OUR_NUMBER, twilio_whatsapp_number=WHATSAPP_NUMBER,
    ) as stack:  # fmt: skip
        yield stack


async def start(stack: Stack, body: dict[str, Any], **headers: str) -> dict[str, Any]:
    response = await stack.http.post(
        f"{stack.gateway_url}/api/conversations", json=body, headers=headers
    )
    assert response.status_code == 202, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_an_outbound_text_starts_the_conversation_and_the_reply_continues_it(
    s: Stack,
) -> None:
    customer = unique_customer()
    view = await start(
        s, {"to": customer, "channel": "sms", "text": "Your tent has shipped!"},
        **{"Idempotency-Key": "ship-1"},
    )  # fmt: skip
    assert view["id"] == conversation_id(customer) and view["channels"] == ["sms"]
    [sent] = await s.twilio.wait_for_messages(1)
    assert sent["to"] == customer and sent["from"] == OUR_NUMBER
    assert sent["body"] == "Your tent has shipped!"
    await start(
        s, {"to": customer, "channel": "sms", "text": "Your tent has shipped!"},
        **{"Idempotency-Key": "ship-1"},
    )  # fmt: skip  # a retried request sends nothing more

    s.llm.responder = lambda messages: FakeReply(text="Glad to help: " + last_user_text(messages))
    await s.text(customer, "When will it arrive?")
    messages = await s.twilio.wait_for_messages(2)
    assert len(messages) == 2 and messages[1]["body"] == "Glad to help: When will it arrive?"
    history = s.llm.requests[-1]["messages"]
    assert {"role": "assistant", "content": "Your tent has shipped!"} in history


async def test_a_purpose_is_written_up_by_the_model(s: Stack) -> None:
    s.llm.responder = lambda messages: FakeReply(text="Hi! Your appointment is tomorrow at 10.")
    customer = unique_customer()
    await start(s, {"to": customer, "channel": "sms", "purpose": "remind of appointment"})
    [sent] = await s.twilio.wait_for_messages(1)
    assert sent["body"] == "Hi! Your appointment is tomorrow at 10."
    system = s.llm.requests[0]["messages"][0]["content"]
    assert "remind of appointment" in system


async def test_whatsapp_outside_the_window_sends_the_template(s: Stack) -> None:
    customer = unique_customer()
    await start(
        s,
        {
            "to": customer, "channel": "whatsapp", "text": "Your order is ready",
            "template_sid": TEMPLATE, "template_variables": {"1": "A1001"},
        },
    )  # fmt: skip
    [sent] = await s.twilio.wait_for_messages(1)
    assert sent["to"] == f"whatsapp:{customer}" and sent["from"] == f"whatsapp:{WHATSAPP_NUMBER}"
    form = s.twilio.requests[-1]["form"]
    assert form["ContentSid"] == TEMPLATE and "Body" not in form
    assert form["ContentVariables"] == '{"1": "A1001"}'


async def test_whatsapp_inside_the_window_sends_the_text(s: Stack) -> None:
    customer = unique_customer()
    s.llm.responder = lambda messages: FakeReply(text="hello!")
    await s.text(customer, "hi", channel=Channel.WHATSAPP)
    await s.twilio.wait_for_messages(1)
    await start(
        s, {"to": customer, "channel": "whatsapp", "text": "Ready!", "template_sid": TEMPLATE}
    )
    [_, sent] = await s.twilio.wait_for_messages(2)
    assert sent["body"] == "Ready!" and "ContentSid" not in s.twilio.requests[-1]["form"]


async def test_an_outbound_call_is_placed_and_answered_by_our_relay(s: Stack) -> None:
    s.llm.responder = lambda messages: FakeReply(text="Great, see you then.")
    customer = unique_customer()
    await start(s, {"to": customer, "channel": "voice", "purpose": "confirm the delivery slot"})
    [placed] = await s.twilio.wait_for_calls(1)
    form = placed["form"]
    assert form["To"] == customer and form["From"] == OUR_NUMBER
    twiml = form["Twiml"]
    assert "<ConversationRelay" in twiml and "confirm the delivery slot" in twiml
    assert f"{s.settings.public_base_url}/twilio/voice/action" in twiml

    # Twilio dials; the callee answers; ConversationRelay opens our socket.
    call = await RelayCall.connect(
        s.webhooks, twiml, customer, OUR_NUMBER, placed["sid"], ACCOUNT_SID,
        direction="outbound-api",
    )  # fmt: skip
    await call.say("Yes, tomorrow works.")
    assert await call.reply() == "Great, see you then."
    system = s.llm.requests[-1]["messages"][0]["content"]
    assert "confirm the delivery slot" in system
    await call.hang_up()


async def test_bad_outbound_requests_are_refused(s: Stack) -> None:
    url = f"{s.gateway_url}/api/conversations"
    for body in (
        {"to": "not a number", "channel": "sms", "text": "x"},
        {"to": unique_customer(), "channel": "fax", "text": "x"},
        {"to": unique_customer(), "channel": "sms"},
    ):
        response = await s.http.post(url, json=body)
        assert response.status_code == 422, (body, response.text)
    assert not s.twilio.requests


async def test_an_idempotency_key_holds_after_close_and_refuses_another_body(s: Stack) -> None:
    customer = unique_customer()
    body = {"to": customer, "channel": "sms", "text": "Your refund is on its way."}
    await start(s, body, **{"Idempotency-Key": "refund-7"})
    await s.twilio.wait_for_messages(1)
    other = await s.http.post(
        f"{s.gateway_url}/api/conversations",
        json={**body, "text": "Something else"},
        headers={"Idempotency-Key": "refund-7"},
    )
    assert other.status_code == 422 and "another request body" in other.json()["detail"]

    closed = await s.http.post(
        f"{s.gateway_url}/api/conversations/{conversation_id(customer)}/close"
    )
    assert closed.status_code == 202
    await s.client.get_workflow_handle(conversation_id(customer)).result()
    # The client retries after the conversation closed: nothing is sent again.
    again = await s.http.post(
        f"{s.gateway_url}/api/conversations", json=body, headers={"Idempotency-Key": "refund-7"}
    )
    assert again.status_code == 202
    await asyncio.sleep(1.0)
    assert len(s.twilio.messages) == 1
    described = await s.client.get_workflow_handle(conversation_id(customer)).describe()
    assert described.status is not None and described.status.name == "COMPLETED"
