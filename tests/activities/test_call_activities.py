"""Outbound-call activities (``place_call``) against a fake Twilio Calls API.

Every request crosses a real socket; each test runs activity attempts the way Temporal
would retry them (``ActivityEnvironment``), sharing one outbox between attempts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from xml.etree import ElementTree

import pytest
from temporalio.exceptions import ApplicationError

from activities.calls import OUTBOUND_GREETING
from switchboard.contract import errors
from switchboard.contract.outbound import PlaceCallRequest
from switchboard.twilio.relay_token import RELAY_TOKEN_PARAMETER, RelayBinding, RelayTokens
from tests.support.handoff_harness import BUSINESS, CUSTOMER, Fakes, Harness, harness, served_fakes
from tests.support.server import free_port


@pytest.fixture(scope="module")
async def fakes() -> AsyncIterator[Fakes]:
    async with served_fakes() as served:
        yield served


@pytest.fixture
async def h(fakes: Fakes, tmp_path: Path) -> AsyncIterator[Harness]:
    async with harness(fakes, tmp_path) as running:
        yield running


async def failure(coro: Awaitable[object]) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        await coro
    return caught.value


def call(
    key: str = "conv-+14155550123/outbound/req-1", purpose: str | None = None
) -> PlaceCallRequest:
    return PlaceCallRequest(
        idempotency_key=key, conversation_id=f"conv-{CUSTOMER}", to=CUSTOMER, from_=BUSINESS,
        purpose=purpose,
    )  # fmt: skip


async def test_place_call_connects_the_relay_with_the_purpose(h: Harness) -> None:
    placed = await h.run(h.calls().place_call, call(purpose="Confirm Tuesday's 3 pm visit"))
    (accepted,) = h.twilio.calls
    assert (placed.sid, placed.status, placed.deduplicated) == (accepted["sid"], "queued", False)
    form = accepted["form"]
    assert (form["To"], form["From"]) == (CUSTOMER, BUSINESS)
    connect = ElementTree.fromstring(form["Twiml"]).find("Connect")
    assert connect is not None and connect.get("action") == (
        "https://switchboard.example/twilio/voice/action"
    )
    relay = connect.find("ConversationRelay")
    assert relay is not None and relay.get("url") == "wss://switchboard.example/twilio/relay"
    assert relay.get("welcomeGreeting") == OUTBOUND_GREETING.format(
        purpose="Confirm Tuesday's 3 pm visit"
    )
    parameters = {p.get("name"): p.get("value") for p in relay.findall("Parameter")}
    assert parameters.pop("purpose") == "Confirm Tuesday's 3 pm visit"
    assert list(parameters) == [RELAY_TOKEN_PARAMETER]


async def test_place_call_carries_a_relay_token_for_the_callee_only(h: Harness) -> None:
    """No CallSid yet: the token binds the callee, and whatever call Twilio places."""
    await h.run(h.calls().place_call, call())
    (accepted,) = h.twilio.calls
    relay = ElementTree.fromstring(accepted["form"]["Twiml"]).find("Connect/ConversationRelay")
    assert relay is not None
    [parameter] = relay.findall("Parameter")  # no purpose, no purpose parameter
    assert parameter.get("name") == RELAY_TOKEN_PARAMETER
    settings = h.settings()
    tokens = RelayTokens(settings.auth_token, settings.account_sid)
    token = parameter.get("value")
    for callee, valid in ((CUSTOMER, True), ("+14155550999", False)):
        binding = RelayBinding(accepted["sid"], callee, outbound=True)
        assert tokens.check(token, binding, settings.account_sid).valid is valid


async def test_place_call_twice_places_one_call(h: Harness) -> None:
    activities = h.calls()
    first = await h.run(activities.place_call, call())
    second = await h.run(activities.place_call, call())
    assert second.sid == first.sid and second.deduplicated
    assert len(h.twilio.calls) == 1 and len(h.twilio.call_requests) == 1


async def test_a_retry_after_a_lost_answer_finds_the_call(h: Harness) -> None:
    activities = h.calls()
    h.twilio.fail_next(1, status=502, accept=True, api="calls")  # placed, answer lost
    error = await failure(h.run(activities.place_call, call()))
    assert error.type == errors.TWILIO_UNAVAILABLE and not error.non_retryable
    placed = await h.run(activities.place_call, call())
    (accepted,) = h.twilio.calls
    assert placed.sid == accepted["sid"] and placed.deduplicated
    assert len(h.twilio.call_requests) == 1  # looked up, not placed again
    assert any(x["path"].endswith("/Calls.json") for x in h.twilio.lookups)


async def test_a_retry_after_a_failure_places_the_call(h: Harness) -> None:
    activities = h.calls()
    h.twilio.fail_next(1, status=500, api="calls")  # not placed
    await failure(h.run(activities.place_call, call()))
    placed = await h.run(activities.place_call, call())
    (accepted,) = h.twilio.calls
    assert placed.sid == accepted["sid"] and not placed.deduplicated


async def test_place_call_errors(h: Harness) -> None:
    h.twilio.reject_to(CUSTOMER, 21211)
    error = await failure(h.run(h.calls().place_call, call()))
    assert error.type == errors.TWILIO_PERMANENT_ERROR and error.non_retryable
    assert error.details == (21211,)

    wrong = h.calls(twilio_auth_token="wrong-token")
    error = await failure(h.run(wrong.place_call, call(key="k-auth")))
    assert error.type == errors.TWILIO_AUTH_ERROR and error.non_retryable

    down = h.calls(twilio_api_base_url=f"http://127.0.0.1:{free_port()}")
    error = await failure(h.run(down.place_call, call(key="k-down")))
    assert error.type == errors.TWILIO_UNAVAILABLE and not error.non_retryable
    assert h.twilio.calls == []


async def test_a_call_key_never_meets_a_message_key(h: Harness) -> None:
    # The outbox is shared with message delivery: the same key sent as a message first
    # must not make the call look placed.
    await h.outbox.claim("same-key", f"conv-{CUSTOMER}", CUSTOMER, BUSINESS, "hello")
    await h.outbox.mark_sent("same-key", "SM" + "1" * 32, "queued")
    placed = await h.run(h.calls().place_call, call(key="same-key"))
    assert placed.sid.startswith("CA") and not placed.deduplicated


@pytest.mark.parametrize("status", [400, 403])
async def test_a_refused_recipient_is_permanent_whatever_the_status(
    h: Harness, status: int
) -> None:
    # 21610 (opted out) answered with 403 says nothing about our credentials.
    h.twilio.reject_to(CUSTOMER, errors.TWILIO_OPTED_OUT, status=status)
    error = await failure(h.run(h.calls().place_call, call()))
    assert error.type == errors.TWILIO_PERMANENT_ERROR and error.non_retryable
    assert error.details == (errors.TWILIO_OPTED_OUT,)


async def test_a_408_is_retried_and_places_one_call(h: Harness) -> None:
    activities = h.calls()
    h.twilio.fail_next(1, status=408, accept=True, api="calls")  # placed, answer timed out
    error = await failure(h.run(activities.place_call, call()))
    assert error.type == errors.TWILIO_UNAVAILABLE and not error.non_retryable
    placed = await h.run(activities.place_call, call())
    assert placed.deduplicated and len(h.twilio.calls) == 1
