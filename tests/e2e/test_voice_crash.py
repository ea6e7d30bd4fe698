"""A gateway that dies mid-call: the workflow notices through the leg watcher's heartbeat
and texts the caller instead of leaving the conversation hanging."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from temporalio.client import Client

from switchboard.devtools.devserver import DevServer
from switchboard.devtools.twilio_sim import RelayCall, TwilioWebhookClient
from tests.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    BUSINESS_NUMBER,
    running_stack,
    unique_customer,
)
from tests.support.fake_llm import FakeReply, Messages
from tests.support.processes import GatewayProcess
from workflows.conversation.calls import LEG_HEARTBEAT_TIMEOUT, RECONNECT_GRACE


async def dial(gateway: GatewayProcess, http: httpx.AsyncClient, customer: str) -> RelayCall:
    """Call the business through ``gateway`` once it is up."""
    await gateway.healthy()
    webhooks = TwilioWebhookClient(http, gateway.url, AUTH_TOKEN)
    return await RelayCall.dial(webhooks, customer, BUSINESS_NUMBER, account_sid=ACCOUNT_SID)


async def test_gateway_killed_mid_call_leads_to_an_sms_follow_up(
    tmp_path: Path, temporal_server: DevServer, client: Client
) -> None:
    async with running_stack(tmp_path, temporal_server, client) as stack:
        gateway = GatewayProcess(stack.settings, tmp_path / "gateway.log", own_url=True)
        gateway.start()
        customer = unique_customer()
        try:
            stack.llm.responder = lambda messages: FakeReply(text="Let me check that order.")
            async with httpx.AsyncClient() as http:
                call = await dial(gateway, http, customer)
                await call.say("Where is my order?")
                assert await call.reply() == "Let me check that order."
                killed_at = time.monotonic()
                gateway.kill()
                sent = await stack.twilio.wait_for_messages(1, timeout=30)
                noticed = time.monotonic() - killed_at
        finally:
            gateway.kill()
        assert sent[0]["to"] == customer
        assert sent[0]["from"] == BUSINESS_NUMBER
        assert "cut off" in sent[0]["body"]
        assert noticed < (LEG_HEARTBEAT_TIMEOUT + RECONNECT_GRACE).total_seconds() + 10
        view = await stack.describe(customer)
        assert any("ended: lost" in e.text for e in view.transcript)


async def test_a_call_broken_by_a_dead_gateway_comes_back_through_the_action_callback(
    tmp_path: Path, temporal_server: DevServer, client: Client
) -> None:
    """Twilio posts the ``<Connect action>`` with an error when the socket breaks; another
    gateway answers with fresh relay TwiML and the call goes on, same conversation, no SMS."""
    async with running_stack(tmp_path, temporal_server, client) as stack:
        gateway = GatewayProcess(stack.settings, tmp_path / "gateway.log", own_url=True)
        gateway.start()
        customer = unique_customer()
        try:
            stack.llm.responder = lambda messages: FakeReply(text="Noted.")
            async with httpx.AsyncClient() as http:
                first = await dial(gateway, http, customer)
                await first.say("My order number is 4521")
                assert await first.reply() == "Noted."
        finally:
            gateway.kill()

        action = {
            "AccountSid": ACCOUNT_SID, "CallSid": first.call_sid, "CallStatus": "in-progress",
            "Direction": "inbound", "From": customer, "To": BUSINESS_NUMBER,
            "SessionId": "VX" + "0" * 32, "SessionStatus": "failed", "ErrorCode": "64105",
        }  # fmt: skip
        answer = await stack.webhooks.post("/twilio/voice/action", action)
        assert "<ConversationRelay" in answer.text and "cut off" in answer.text
        again = await RelayCall.connect(
            stack.webhooks, answer.text, customer, BUSINESS_NUMBER, first.call_sid, ACCOUNT_SID
        )

        def remembers(messages: Messages) -> FakeReply:
            said = " ".join(str(m.get("content")) for m in messages)
            return FakeReply(text="It is 4521." if "4521" in said else "I don't know.")

        stack.llm.responder = remembers
        await again.say("What was my order number?")
        assert await again.reply() == "It is 4521."

        await stack.eventually(
            stack.transcript_mentions(customer, "continues on a new session"), timeout=20
        )
        assert not stack.twilio.messages, "a reconnected caller is not texted"
        await again.hang_up()

        await stack.eventually(stack.transcript_mentions(customer, "ended: hangup"))


async def test_action_callback_after_a_normal_end_hangs_up(
    tmp_path: Path, temporal_server: DevServer, client: Client
) -> None:
    async with running_stack(tmp_path, temporal_server, client) as stack:
        for form in (
            {"CallSid": "CA1", "CallStatus": "completed", "SessionStatus": "ended"},
            {"CallSid": "CA1", "CallStatus": "in-progress", "SessionStatus": "ended"},
            {"CallSid": "CA1", "CallStatus": "in-progress", "ErrorCode": "64105",
             "HandoffData": '{"reason": "human"}'},
        ):  # fmt: skip
            answer = await stack.webhooks.post("/twilio/voice/action", form)
            assert "<Hangup />" in answer.text
