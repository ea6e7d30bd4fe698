"""SMS and WhatsApp end to end: signed webhooks → gateway → Temporal → fake LLM → fake Twilio."""

from __future__ import annotations

from switchboard.contract.addresses import Channel
from tests.conftest import BUSINESS_NUMBER, Stack, unique_customer


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
