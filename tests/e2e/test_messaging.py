"""SMS and WhatsApp end to end: signed webhooks → gateway → Temporal → fake LLM → fake Twilio."""

from __future__ import annotations

from switchboard.contract.addresses import Channel
from tests.conftest import BUSINESS_NUMBER, Stack, unique_customer
from tests.support.fake_llm import FakeReply
from tests.support.fake_twilio import MAX_BODY_CHARS


async def test_sms_gets_a_reply(stack: Stack) -> None:
    customer = unique_customer()
    response = await stack.text(customer, "What are your opening hours?")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    assert "<Response" in response.text

    [message] = await stack.twilio.wait_for_messages(1)
    assert message["to"] == customer
    assert message["from"] == BUSINESS_NUMBER
    assert message["body"] == "echo: What are your opening hours?"
    assert message["form"]["StatusCallback"].endswith("/twilio/messaging/status")

    [request] = stack.llm.requests
    assert request["model"] == "test-model"
    assert request["messages"][0]["role"] == "system"
    assert request["messages"][-1] == {"role": "user", "content": "What are your opening hours?"}


async def test_whatsapp_gets_a_reply(stack: Stack) -> None:
    customer = unique_customer()
    await stack.text(customer, "Hola", channel=Channel.WHATSAPP)
    [message] = await stack.twilio.wait_for_messages(1)
    assert message["to"] == f"whatsapp:{customer}"
    assert message["from"] == f"whatsapp:{BUSINESS_NUMBER}"
    assert message["body"] == "echo: Hola"


async def test_a_reply_longer_than_one_message_arrives_in_parts(stack: Stack) -> None:
    sentence = "Your order left our warehouse on Monday and should arrive by Friday. "
    long_reply = (sentence * 60).strip()  # 4,000 characters: Twilio takes 1,600 at most
    stack.llm.responder = lambda messages: FakeReply(text=long_reply)
    customer = unique_customer()
    await stack.text(customer, "Where is my order?")

    messages = await stack.twilio.wait_for_messages(3)
    assert all(len(m["body"]) <= MAX_BODY_CHARS for m in messages)
    assert all(m["body"].endswith(".") for m in messages)  # cut between sentences
    assert " ".join(m["body"] for m in messages) == long_reply
    assert not [r for r in stack.twilio.requests if r["status"] != 201]  # no 21617, no retry
    assert len(stack.llm.requests) == 1
    assert stack.llm.requests[0]["max_tokens"] == 500  # LLM_MAX_TOKENS' default
