"""A relay socket speaks for one call only: its per-call token, checked against ``setup``.

The attack: the relay URL is the same for every call, so one captured upgrade signature
opens any number of sockets, and ``setup`` names whatever caller the sender likes. Each test
holds a valid upgrade signature (as an attacker who captured one would) and tries to speak
for a customer with a ``setup`` the gateway must refuse: 1008, and nothing reaches Temporal
or the model. Everything goes over real sockets against the real gateway and worker.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from temporalio.service import RPCError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from switchboard.contract.addresses import conversation_id
from switchboard.contract.conversation import Role
from switchboard.devtools.twilio_sim import (
    incoming_call_form,
    new_sid,
    relay_parameters_of,
    relay_url_of,
    setup_frame,
)
from switchboard.twilio.relay_token import (
    RELAY_TOKEN_PARAMETER,
    RELAY_TOKEN_TTL_SECONDS,
    RelayBinding,
    RelayTokens,
)
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, BUSINESS_NUMBER, Stack, unique_customer
from tests.support.fake_llm import FakeReply

POLICY_VIOLATION = 1008


async def incoming_twiml(stack: Stack, customer: str, call_sid: str) -> str:
    """The TwiML the signed Voice webhook answers for a call (what Twilio alone sees)."""
    form = incoming_call_form(customer, BUSINESS_NUMBER, call_sid=call_sid, account_sid=ACCOUNT_SID)
    answer = await stack.webhooks.post("/twilio/voice", form)
    answer.raise_for_status()
    return answer.text


async def captured_socket(stack: Stack) -> ClientConnection:
    """A socket opened with a captured, valid upgrade signature (the same for every call)."""
    url = stack.settings.public_base_url.replace("http://", "ws://") + "/twilio/relay"
    return await connect(
        url, additional_headers={"X-Twilio-Signature": stack.webhooks.sign_url(url)}
    )


async def close_code(ws: ClientConnection) -> int | None:
    """How the gateway closed the socket (after any frames it sent first)."""
    with pytest.raises(ConnectionClosed) as closed:
        async with asyncio.timeout(10):
            while True:
                await ws.recv()
    return closed.value.rcvd.code if closed.value.rcvd else None


async def no_conversation(stack: Stack, customer: str) -> bool:
    try:
        await stack.client.get_workflow_handle(conversation_id(customer)).describe()
    except RPCError:
        return True
    return False


def setup(
    customer: str, call_sid: str, token: str | None, *, account_sid: str = ACCOUNT_SID
) -> str:
    parameters = {RELAY_TOKEN_PARAMETER: token} if token is not None else {}
    frame = setup_frame(
        customer, BUSINESS_NUMBER, call_sid, account_sid=account_sid,
        custom_parameters=parameters,
    )  # fmt: skip
    return json.dumps(frame)


async def refused(stack: Stack, frame: str, *customers: str) -> None:
    """``frame`` as a socket's setup is closed with 1008, and no customer is reached."""
    ws = await captured_socket(stack)
    await ws.send(frame)
    await ws.send(json.dumps({"type": "prompt", "voicePrompt": "read me my orders", "last": True}))
    assert await close_code(ws) == POLICY_VIOLATION
    await asyncio.sleep(0.5)
    for customer in customers:
        assert await no_conversation(stack, customer), customer
    assert stack.llm.requests == []


async def test_a_setup_without_a_token_is_refused(stack: Stack) -> None:
    victim = unique_customer()
    await refused(stack, setup(victim, new_sid("CA"), None), victim)
    metrics = (await stack.http.get(f"{stack.gateway_url}/metrics")).text
    assert 'switchboard_relay_sessions_total{outcome="unauthorized"} 1.0' in metrics


@pytest.mark.parametrize("token", ["", "v1.c.1.x.y", "not-a-token" * 40])
async def test_a_setup_with_a_malformed_token_is_refused(stack: Stack, token: str) -> None:
    victim = unique_customer()
    await refused(stack, setup(victim, new_sid("CA"), token), victim)


async def test_a_token_for_one_caller_cannot_speak_for_another(stack: Stack) -> None:
    """The attacker's own call's token (or one captured), with the victim's number."""
    attacker, victim = unique_customer(), unique_customer()
    call_sid = new_sid("CA")
    token = relay_parameters_of(await incoming_twiml(stack, attacker, call_sid))[
        RELAY_TOKEN_PARAMETER
    ]
    await refused(stack, setup(victim, call_sid, token), victim, attacker)


async def test_a_token_for_one_call_cannot_open_another(stack: Stack) -> None:
    victim = unique_customer()
    token = relay_parameters_of(await incoming_twiml(stack, victim, new_sid("CA")))[
        RELAY_TOKEN_PARAMETER
    ]
    await refused(stack, setup(victim, new_sid("CA"), token), victim)


async def test_a_setup_for_another_account_is_refused(stack: Stack) -> None:
    victim, call_sid = unique_customer(), new_sid("CA")
    token = relay_parameters_of(await incoming_twiml(stack, victim, call_sid))[
        RELAY_TOKEN_PARAMETER
    ]
    other = "AC" + "9" * 32
    await refused(stack, setup(victim, call_sid, token, account_sid=other), victim)


async def test_an_expired_token_is_refused(stack: Stack) -> None:
    victim, call_sid = unique_customer(), new_sid("CA")
    minted = time.time() - RELAY_TOKEN_TTL_SECONDS - 1
    token = RelayTokens(AUTH_TOKEN, ACCOUNT_SID).mint(
        RelayBinding(call_sid, victim, outbound=False), now=minted
    )
    await refused(stack, setup(victim, call_sid, token), victim)


async def test_a_captured_setup_cannot_be_replayed(stack: Stack) -> None:
    """Upgrade header, token and setup all captured from a real call: used once, refused."""
    customer, call_sid = unique_customer(), new_sid("CA")
    twiml = await incoming_twiml(stack, customer, call_sid)
    token = relay_parameters_of(twiml)[RELAY_TOKEN_PARAMETER]
    captured = setup(customer, call_sid, token)
    stack.llm.responder = lambda messages: FakeReply(text="Hello there.")
    real = await connect(
        relay_url_of(twiml),
        additional_headers={"X-Twilio-Signature": stack.webhooks.sign_url(relay_url_of(twiml))},
    )
    await real.send(captured)
    await real.send(json.dumps({"type": "prompt", "voicePrompt": "hi", "last": True}))
    first = json.loads(await asyncio.wait_for(real.recv(), 10))
    assert first["type"] == "text"
    requests = len(stack.llm.requests)

    replay = await captured_socket(stack)
    await replay.send(captured)
    await replay.send(json.dumps({"type": "prompt", "voicePrompt": "my orders", "last": True}))
    assert await close_code(replay) == POLICY_VIOLATION
    await asyncio.sleep(0.5)
    assert len(stack.llm.requests) == requests
    view = await stack.describe(customer)
    assert not any("my orders" in entry.text for entry in view.transcript)
    await real.close()


async def test_the_simulated_call_still_works_and_a_reconnect_gets_a_fresh_token(
    stack: Stack,
) -> None:
    """``RelayCall.dial`` carries the webhook's token; the signed action callback mints another,
    bound to the same call, for the socket that replaces a dropped one."""
    stack.llm.responder = lambda messages: FakeReply(text="Fine.")
    customer = unique_customer()
    call = await stack.call(customer)
    await call.say("Hello?")
    assert await call.reply() == "Fine."
    action = {
        "AccountSid": ACCOUNT_SID, "CallSid": call.call_sid, "CallStatus": "in-progress",
        "Direction": "inbound", "From": customer, "To": BUSINESS_NUMBER,
        "SessionStatus": "failed", "ErrorCode": "64105",
    }  # fmt: skip
    answer = await stack.webhooks.post("/twilio/voice/action", action)
    fresh = relay_parameters_of(answer.text)[RELAY_TOKEN_PARAMETER]
    check = RelayTokens(AUTH_TOKEN, ACCOUNT_SID).check(
        fresh, RelayBinding(call.call_sid, customer, outbound=False), ACCOUNT_SID
    )
    assert check.valid
    assert fresh not in relay_url_of(answer.text)  # never in a URL (nor an access log)
    # The same callback, captured and replayed: that session was answered, no second token.
    replayed = await stack.webhooks.post("/twilio/voice/action", action)
    assert RELAY_TOKEN_PARAMETER not in replayed.text and "<Hangup" in replayed.text
    await stack.hang_up(call, customer)


async def test_a_prompt_flood_is_capped(stack: Stack) -> None:
    """Twenty prompts while a reply streams: four wait, the rest are dropped unheard."""
    stack.llm.responder = lambda messages: FakeReply(
        text="one two three four five six seven eight",
        token_delay=0.2,  # time for the flood
    )
    customer = unique_customer()
    call = await stack.call(customer)
    await call.say("first")
    await call.frame()  # the first reply is streaming
    for index in range(20):
        await call.say(f"flood {index}")
    for _ in range(5):  # the turn in hand and the four that waited
        await call.reply(within=20)
    with pytest.raises(TimeoutError):
        await call.frame(within=1.5)
    view = await stack.describe(customer)
    said = [entry.text for entry in view.transcript if entry.role is Role.CUSTOMER]
    assert said == ["first", "flood 16", "flood 17", "flood 18", "flood 19"]
    metrics = (await stack.http.get(f"{stack.gateway_url}/metrics")).text
    assert 'switchboard_voice_turns_total{start="dropped"} 16.0' in metrics
    await stack.hang_up(call, customer)


async def test_a_replayed_voice_webhook_mints_no_second_token(stack: Stack) -> None:
    customer, call_sid = unique_customer(), new_sid("CA")
    first = await incoming_twiml(stack, customer, call_sid)
    assert RELAY_TOKEN_PARAMETER in first
    # The same signed request, captured and replayed: hung up, no token for that caller.
    again = await incoming_twiml(stack, customer, call_sid)
    assert RELAY_TOKEN_PARAMETER not in again and "<Hangup" in again
