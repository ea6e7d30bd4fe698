"""Voice over ConversationRelay, driven as Twilio would: a signed call webhook, then a signed
socket speaking ConversationRelay frames, against a streaming OpenAI-compatible fake."""

from __future__ import annotations

import asyncio
import io
import json
import random
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from switchboard.contract.addresses import Channel
from switchboard.contract.conversation import Role
from switchboard.devtools import simulator
from switchboard.devtools.devserver import DevServer
from switchboard.devtools.twilio_sim import relay_url_of
from tests.conftest import BUSINESS_NUMBER, Stack, running_stack, unique_customer
from tests.support.fake_llm import FakeReply, Messages, last_user_text


def assistant_texts(request: dict[str, Any]) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "assistant"]


async def test_incoming_call_answers_connect_relay_twiml(stack: Stack) -> None:
    form = {"CallSid": "CA" + "1" * 32, "From": "+14155550100", "To": BUSINESS_NUMBER}
    answer = await stack.webhooks.post("/twilio/voice", form)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/xml")
    assert f'<Connect action="{stack.settings.public_base_url}/twilio/voice/action">' in answer.text
    relay = relay_url_of(answer.text)
    assert relay == stack.settings.public_base_url.replace("http://", "ws://") + "/twilio/relay"
    for attribute in (
        'welcomeGreeting="Hello! How can I help you today?"',
        'language="en-US"',
        'interruptible="any"',
        'dtmfDetection="true"',
    ):
        assert attribute in answer.text


async def test_incoming_call_with_bad_signature_is_refused(stack: Stack) -> None:
    answer = await stack.webhooks.post("/twilio/voice", {"CallSid": "CA1"}, signature="bad")
    assert answer.status_code == 403


async def test_action_callback_hangs_up(stack: Stack) -> None:
    form = {"CallSid": "CA" + "2" * 32, "SessionStatus": "ended", "CallStatus": "in-progress"}
    answer = await stack.webhooks.post("/twilio/voice/action", form)
    assert answer.status_code == 200
    assert "<Hangup />" in answer.text


async def test_reply_is_streamed_token_by_token_and_ends_with_last(stack: Stack) -> None:
    stack.llm.responder = lambda messages: FakeReply(
        text="Sure, our store opens at nine every morning.", token_delay=0.01
    )
    customer = unique_customer()
    call = await stack.call(customer)
    await call.say("When do you open?")
    spoken = await call.reply()
    assert spoken == "Sure, our store opens at nine every morning."
    texts = [f for f in call.received if f["type"] == "text"]
    assert len(texts) > 5, "tokens arrive one by one, not as one block"
    assert texts[0]["token"] == "Sure, ", "tokens are not trimmed"
    assert texts[-1] == {"type": "text", "token": "", "last": True}
    assert all(not f["last"] for f in texts[:-1])

    request = stack.llm.requests[-1]
    assert request["stream"] is True
    assert request["max_tokens"] == 500  # LLM_MAX_TOKENS, as for texts
    assert last_user_text(request["messages"]) == "When do you open?"
    assert {t["function"]["name"] for t in request["tools"]} >= {"send_digits", "end_conversation"}

    async def recorded() -> bool:
        view = await stack.describe(customer)
        said = [(e.role, e.text, e.channel) for e in view.transcript if e.role != Role.SYSTEM]
        return (
            said
            == [
                (Role.CUSTOMER, "When do you open?", Channel.VOICE),
                (Role.ASSISTANT, "Sure, our store opens at nine every morning.", Channel.VOICE),
            ]
            and Channel.VOICE in view.channels
        )

    await stack.eventually(recorded)
    await call.hang_up()


async def test_caller_who_texted_is_answered_with_that_context(stack: Stack) -> None:
    customer = unique_customer()
    await stack.text(customer, "Hi, my name is Ada", channel=Channel.WHATSAPP)
    await stack.twilio.wait_for_messages(1)

    def knows_name(messages: Messages) -> FakeReply:
        everything = " ".join(str(m.get("content")) for m in messages)
        name = "Ada" if "my name is Ada" in everything else "stranger"
        return FakeReply(text=f"Hello {name}, how can I help?")

    stack.llm.responder = knows_name
    call = await stack.call(customer)
    await call.say("Who am I?")
    assert await call.reply() == "Hello Ada, how can I help?"
    await call.hang_up()

    # And the other way round: the next text sees what was said on the call.
    stack.llm.responder = lambda messages: FakeReply(text="noted")
    await stack.text(customer, "thanks", channel=Channel.WHATSAPP)
    await stack.twilio.wait_for_messages(2)
    history = [m["content"] for m in stack.llm.requests[-1]["messages"]]
    assert "Who am I?" in history
    assert "Hello Ada, how can I help?" in history


@pytest.mark.parametrize("speculative", [False, True], ids=["plan", "confirmed-guess"])
async def test_interrupt_mid_stream_stops_at_once_and_keeps_only_what_was_heard(
    stack: Stack, speculative: bool
) -> None:
    long = "Let me explain our whole returns process in detail, step by step, from the start."
    stack.llm.responder = lambda messages: FakeReply(
        text=long,
        token_delay=0.05,
        tool_calls=[{"name": "send_digits", "arguments": {"digits": "123"}}],
    )
    customer = unique_customer()
    call = await stack.call(customer)
    if speculative:
        await asyncio.sleep(0.5)  # the context is fetched: this reply starts on a guess
    await call.say("How do returns work?")
    for _ in range(3):
        assert (await call.frame())["type"] == "text"
    await call.interrupt("Let me explain our")
    # At most a token already on the wire, then the cycle is closed.
    closing = await call.frame()
    if not closing.get("last"):
        closing = await call.frame()
    assert closing == {"type": "text", "token": "", "last": True}
    spoken = "".join(f["token"] for f in call.received if f["type"] == "text")
    assert len(spoken) < len(long) / 2, "the stream stopped at once"

    stack.llm.responder = lambda messages: FakeReply(text="Okay.")
    await call.say("Actually, never mind.")
    assert await call.reply() == "Okay."
    assert assistant_texts(stack.llm.requests[-1]) == ["Let me explain our"]
    await asyncio.sleep(0.5)
    assert not [f for f in call.received if f["type"] == "sendDigits"], "discarded tool ran"
    await stack.hang_up(call, customer)
    if speculative:
        metrics = (await stack.http.get(f"{stack.gateway_url}/metrics")).text
        # The second turn always starts on a guess; the first only if the context fetched at
        # connect came back before the caller spoke, which a busy machine may delay.
        assert re.search(r'switchboard_voice_turns_total\{start="speculative"\} [12]\.0', metrics)


async def test_interrupt_after_the_stream_truncates_the_recorded_reply(stack: Stack) -> None:
    stack.llm.responder = lambda messages: FakeReply(
        text="Our opening hours are nine to five on weekdays and ten to two on Saturdays."
    )
    customer = unique_customer()
    call = await stack.call(customer)
    await call.say("Opening hours?")
    await call.reply()  # all tokens written; Twilio is still speaking them
    await call.interrupt("Our opening hours are nine to five", duration_ms="2100")

    async def truncated() -> bool:
        view = await stack.describe(customer)
        replies = [e for e in view.transcript if e.role == Role.ASSISTANT]
        return replies[-1].text == "Our opening hours are nine to five" and replies[-1].interrupted

    await stack.eventually(truncated)
    stack.llm.responder = lambda messages: FakeReply(text="Yes.")
    await call.say("Weekends too?")
    assert await call.reply() == "Yes."
    assert assistant_texts(stack.llm.requests[-1]) == ["Our opening hours are nine to five"]
    await stack.hang_up(call, customer)


async def test_keypad_digits_reach_the_workflow_as_one_input(stack: Stack) -> None:
    stack.llm.responder = lambda messages: FakeReply(text="Got it.")
    customer = unique_customer()
    call = await stack.call(customer)
    await call.press("42#")
    assert await call.reply() == "Got it."
    assert last_user_text(stack.llm.requests[-1]["messages"]) == "[keypad: 42#]"
    await stack.hang_up(call, customer)


@pytest.mark.parametrize(
    ("tool", "arguments", "expected"),
    [
        ("send_digits", {"digits": "1w2#"}, {"type": "sendDigits", "digits": "1w2#"}),
        (
            "switch_language",
            {"language": "es-ES"},
            {"type": "language", "ttsLanguage": "es-ES", "transcriptionLanguage": "es-ES"},
        ),
        ("end_conversation", {"reason": "resolved"}, {"type": "end"}),
    ],
)
async def test_agent_call_actions_follow_the_reply(
    stack: Stack, tool: str, arguments: dict[str, str], expected: dict[str, str]
) -> None:
    stack.llm.responder = lambda messages: FakeReply(
        text="One moment.", tool_calls=[{"name": tool, "arguments": arguments}]
    )
    call = await stack.call(unique_customer())
    await call.say("Please do it.")
    assert await call.reply() == "One moment."
    assert await call.frame() == expected
    await call.hang_up()


async def test_invalid_tool_arguments_are_refused_not_sent(stack: Stack) -> None:
    stack.llm.responder = lambda messages: FakeReply(
        text="Dialing.", tool_calls=[{"name": "send_digits", "arguments": {"digits": "12x"}}]
    )
    customer = unique_customer()
    call = await stack.call(customer)
    await call.say("Dial it.")
    assert await call.reply() == "Dialing."

    await stack.eventually(stack.transcript_mentions(customer, "tool call refused"))
    stack.llm.responder = lambda messages: FakeReply(text="Still here.")
    await call.say("Hello?")
    assert await call.reply() == "Still here."
    assert not [f for f in call.received if f["type"] == "sendDigits"]
    await stack.hang_up(call, customer)


async def test_malformed_and_unknown_frames_are_skipped(stack: Stack) -> None:
    stack.llm.responder = lambda messages: FakeReply(text="Fine.")
    customer = unique_customer()
    call = await stack.call(customer)
    for junk in (
        "not json",
        json.dumps({"voicePrompt": "no type"}),
        json.dumps({"type": "somethingNew", "x": 1}),
        json.dumps({"type": "prompt"}),
        json.dumps({"type": "prompt", "voicePrompt": "partial", "last": False}),
        json.dumps({"type": "error", "description": "Invalid message received"}),
        json.dumps({"type": "info", "name": "clientSpeaking", "value": "on", "ts": 1}),
    ):
        await call.send(junk)
    await call.say("Are you there?")
    assert await call.reply() == "Fine."
    assert last_user_text(stack.llm.requests[-1]["messages"]) == "Are you there?"
    assert len(stack.llm.requests) == 1, "only the final prompt started a turn"
    await stack.hang_up(call, customer)


async def test_relay_socket_with_bad_signature_is_refused(stack: Stack) -> None:
    url = stack.settings.public_base_url.replace("http://", "ws://") + "/twilio/relay"
    for headers in ({"X-Twilio-Signature": "forged"}, {}):
        with pytest.raises(InvalidStatus) as refused:
            await connect(url, additional_headers=headers)
        assert refused.value.response.status_code == 403
    signed_for_other_url = stack.webhooks.sign_url(url + "?tenant=other")
    with pytest.raises(InvalidStatus):
        await connect(url, additional_headers={"X-Twilio-Signature": signed_for_other_url})


async def test_relay_signature_over_query_is_accepted_both_ways(stack: Stack) -> None:
    base = stack.settings.public_base_url.replace("http://", "ws://") + "/twilio/relay"
    url = base + "?tenant=t_123"
    in_url = stack.webhooks.sign_url(url)
    as_params = str(stack.webhooks._validator.compute_signature(base, {"tenant": "t_123"}))
    for signature in (in_url, as_params):
        ws = await connect(url, additional_headers={"X-Twilio-Signature": signature})
        await ws.close()


async def test_hang_up_ends_the_leg_without_a_follow_up(stack: Stack) -> None:
    customer = unique_customer()
    call = await stack.call(customer)
    await call.say("Bye")
    await call.reply()
    await call.hang_up()
    await stack.eventually(stack.transcript_mentions(customer, "ended: hangup"))
    await asyncio.sleep(0.5)
    assert not stack.twilio.messages


async def test_dropped_socket_leads_to_one_sms_follow_up(stack: Stack) -> None:
    customer = unique_customer()
    call = await stack.call(customer)
    await call.say("I have a question about my order")
    await call.reply()
    call.ws.transport.abort()  # the connection breaks without a close handshake
    sent = await stack.twilio.wait_for_messages(1, timeout=20)
    assert sent[0]["to"] == customer
    assert sent[0]["from"] == BUSINESS_NUMBER
    assert "cut off" in sent[0]["body"]
    await asyncio.sleep(1)
    assert len(stack.twilio.messages) == 1


async def test_close_signal_ends_the_call(stack: Stack) -> None:
    customer = unique_customer()
    call = await stack.call(customer)
    await call.say("Hello")
    await call.reply()
    handle = stack.client.get_workflow_handle(f"conv-{customer}")
    await handle.signal("close", {"reason": "operator closed it"})
    assert await call.frame() == {"type": "end"}
    await call.hang_up()
    await asyncio.wait_for(handle.result(), timeout=10)


async def test_simulator_interactive_call_reads_what_you_type(
    stack: Stack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    stack.llm.responder = lambda messages: FakeReply(text=f"heard {last_user_text(messages)}")
    monkeypatch.setattr(sys, "stdin", io.StringIO("hello\n\n  \nbye\n"))
    customer = unique_customer()
    assert await simulator.call(stack.settings, customer, None, wait=10) == 0
    out = capsys.readouterr().out
    assert "heard hello" in out and "heard bye" in out
    assert len(stack.llm.requests) == 2, "blank lines are not said"
    await stack.eventually(stack.transcript_mentions(customer, "ended: hangup"))


async def test_simulator_calls_through_the_real_endpoints(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    stack.llm.responder = lambda messages: FakeReply(text="Hello from the agent.")
    customer = unique_customer()
    code = await simulator.call(stack.settings, customer, "hi there", wait=10)
    assert code == 0
    assert "Hello from the agent." in capsys.readouterr().out

    await stack.eventually(stack.transcript_mentions(customer, "ended: hangup"))


async def test_a_speculative_start_never_speaks_a_stale_guess(stack: Stack) -> None:
    """The gateway starts the model on its guess of the next plan; a text that arrived in
    between changes the plan, so the guess is dropped unheard and the reply comes from the
    workflow's plan."""
    customer = unique_customer()
    call = await stack.call(customer)
    await asyncio.sleep(0.5)  # the welcome greeting plays; the gateway fetches the context
    stack.llm.responder = lambda messages: FakeReply(text="Hi there.")
    await call.say("Hi")
    assert await call.reply() == "Hi there."

    await stack.text(customer, "Here is my order number: 4521")
    await stack.twilio.wait_for_messages(1)

    def fresh_or_stale(messages: Messages) -> FakeReply:
        texts = [str(m.get("content")) for m in messages]
        fresh = "Here is my order number: 4521" in texts
        return FakeReply(text="Order 4521 found." if fresh else "STALE GUESS", token_delay=0.01)

    stack.llm.responder = fresh_or_stale
    await call.say("Did you get it?")
    assert await call.reply() == "Order 4521 found."
    assert "STALE" not in json.dumps(call.received)
    guesses = [r for r in stack.llm.requests if last_user_text(r["messages"]) == "Did you get it?"]
    assert len(guesses) == 2, "one guessed start, dropped; one from the workflow's plan"

    # With nothing in between, the next guess is right and is the only request of its turn.
    stack.llm.responder = lambda messages: FakeReply(text="You're welcome.")
    before = len(stack.llm.requests)
    await call.say("Thanks")
    assert await call.reply() == "You're welcome."
    assert len(stack.llm.requests) == before + 1
    await stack.hang_up(call, customer)
    metrics = (await stack.http.get(f"{stack.gateway_url}/metrics")).text
    # The third turn started from the second's context; the first from the context fetched
    # at setup, if it came back before the caller spoke (a busy machine may delay it).
    assert re.search(r'switchboard_voice_turns_total\{start="speculative"\} [12]\.0', metrics)
    assert 'switchboard_voice_turns_total{start="abandoned"} 1.0' in metrics


async def test_without_speculation_every_turn_starts_from_the_plan(
    tmp_path: Path, temporal_server: DevServer, client: Client
) -> None:
    async with running_stack(
        tmp_path, temporal_server, client, voice_speculative_start=False
    ) as stack:
        customer = unique_customer()
        call = await stack.call(customer)
        for text in ("one", "two"):
            await call.say(text)
            assert await call.reply() == f"echo: {text}"
        assert len(stack.llm.requests) == 2
        await stack.hang_up(call, customer)
        metrics = (await stack.http.get(f"{stack.gateway_url}/metrics")).text
        assert 'switchboard_voice_turns_total{start="plain"} 2.0' in metrics


async def test_a_storm_of_garbage_frames_never_breaks_the_call(stack: Stack) -> None:
    """Seeded fuzz: mutated real frames, wrong types, binary, huge and empty frames."""
    rng = random.Random(20261127)
    samples: list[dict[str, Any]] = [
        {"type": "prompt", "voicePrompt": "x", "last": True},
        {"type": "interrupt", "utteranceUntilInterrupt": "x", "durationUntilInterruptMs": 1},
        {"type": "dtmf", "digit": rng.choice(["", "12", "x", "☎"])},  # never a real key
        {"type": "setup", "callSid": "CA1", "sessionId": "VX1", "from": "+1", "to": "+2"},
        {"type": "info", "name": "agentSpeaking", "value": "on"},
    ]
    junk: list[Any] = [None, 0, -1, 1e308, "", "é" * 3, [], {}, True, "x" * 10_000]
    customer = unique_customer()
    call = await stack.call(customer)
    for _ in range(300):
        roll = rng.random()
        if roll < 0.6:
            frame = dict(rng.choice(samples))
            key = rng.choice([*frame, "extra"])
            frame[key] = rng.choice(junk)
            if frame.get("type") == "prompt" and frame.get("last") is True:
                frame["last"] = False  # only the real prompt below may start a turn
            await call.send(json.dumps(frame))
        elif roll < 0.8:
            await call.send(bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 64))).hex())
        else:
            await call.ws.send(bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 64))))
    stack.llm.responder = lambda messages: FakeReply(text="Still here.")
    await call.say("Hello?")
    assert await call.reply() == "Still here."
    assert len(stack.llm.requests) == 1, "no garbage frame started a turn"
    await stack.hang_up(call, customer)
