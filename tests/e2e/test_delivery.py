"""Twilio failing, recovering and refusing: exactly one reply, or a recorded failure."""

from __future__ import annotations

import asyncio

from switchboard.contract.addresses import Channel
from tests.conftest import Stack, unique_customer


async def test_twilio_5xx_then_recovery_sends_exactly_once(stack: Stack) -> None:
    stack.twilio.fail_next(3, status=500)
    customer = unique_customer()
    await stack.text(customer, "are you there?")
    [message] = await stack.twilio.wait_for_messages(1, timeout=20)
    assert message["body"] == "echo: are you there?"
    assert [r["status"] for r in stack.twilio.requests] == [500, 500, 500, 201]
    await asyncio.sleep(1)
    assert len(stack.twilio.messages) == 1


async def test_accepted_but_answered_500_is_not_sent_again(stack: Stack) -> None:
    # Twilio queued the message but the answer was lost: the retry must find it, not resend.
    stack.twilio.fail_next(1, status=502, accept=True)
    customer = unique_customer()
    await stack.text(customer, "just once")
    await stack.twilio.wait_for_messages(1)

    async def recorded() -> bool:
        view = await stack.describe(customer)
        return view.transcript[-1].role == "assistant" and bool(view.transcript[-1].message_sid)

    await stack.eventually(recorded)
    await asyncio.sleep(1)
    assert len(stack.twilio.messages) == 1
    assert len(stack.twilio.requests) == 1
    assert stack.twilio.lookups, "the retry should have asked Twilio before resending"
    view = await stack.describe(customer)
    assert view.transcript[-1].message_sid == stack.twilio.messages[0]["sid"]


async def test_rate_limited_then_sent(stack: Stack) -> None:
    stack.twilio.fail_next(2, status=429)
    await stack.text(unique_customer(), "busy?")
    await stack.twilio.wait_for_messages(1, timeout=20)
    assert [r["status"] for r in stack.twilio.requests] == [429, 429, 201]


async def test_opted_out_customer_is_recorded_and_not_retried(stack: Stack) -> None:
    customer = unique_customer()
    stack.twilio.reject_to(customer, code=21610)
    await stack.text(customer, "hello?")

    async def failed() -> bool:
        return bool((await stack.describe(customer)).delivery_failures)

    await stack.eventually(failed)
    view = await stack.describe(customer)
    [failure] = view.delivery_failures
    assert failure.error_code == 21610 and failure.error_type == "TwilioPermanentError"
    assert view.opted_out
    assert len(stack.twilio.requests) == 1  # non-retryable
    # Later texts are still recorded, but no reply is attempted while opted out.
    await stack.text(customer, "anyone?")

    async def withheld() -> bool:
        return (await stack.describe(customer)).transcript[-1].text.startswith("reply withheld")

    await stack.eventually(withheld)
    assert len(stack.twilio.requests) == 1


async def test_whatsapp_window_closed_is_a_recorded_failure(stack: Stack) -> None:
    customer = unique_customer()
    stack.twilio.reject_to(f"whatsapp:{customer}", code=63016)
    await stack.text(customer, "hola", channel=Channel.WHATSAPP)

    async def failed() -> bool:
        return bool((await stack.describe(customer)).delivery_failures)

    await stack.eventually(failed)
    view = await stack.describe(customer)
    assert view.delivery_failures[0].error_code == 63016
    assert not view.opted_out
    assert view.transcript[-1].delivery_status == "failed"


async def test_llm_outage_gets_an_apology_not_silence(stack: Stack) -> None:
    stack.llm.fail_next(2, status=503)
    await stack.text(unique_customer(), "hello")
    [message] = await stack.twilio.wait_for_messages(1, timeout=20)
    assert message["body"] == "echo: hello"  # retried through the outage
    assert len(stack.llm.requests) == 3
