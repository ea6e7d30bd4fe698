"""ConversationRelay sockets, fuzzed frame by frame: no crash, and nothing asked before setup.

Every frame type Twilio sends (``setup``, ``prompt``, ``interrupt``, ``dtmf``, ``error``,
``info``) with plausible and hostile fields, unknown types, JSON that is not an object, and
text or bytes that are not JSON at all, in any order, through the real relay route. Temporal
accepts the call's start (so the turn pipeline runs) and refuses everything else. A setup
without its call's relay token (all but the generated calls') is refused with 1008 before
anything is asked of Temporal.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import event, given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from gateway.voice import session, turns
from gateway.voice.calls import RelaySlots
from gateway.voice.frames import SetupFrame, parse_frame
from switchboard.contract.addresses import InvalidAddress, conversation_id, to_e164
from switchboard.twilio.relay_token import RELAY_TOKEN_PARAMETER, RelayBinding, RelayTokens
from tests.fuzz.strategies import (
    any_text,
    json_value,
    malformed_json,
    number_text,
    phone,
    short_text,
    sid,
    us_phone,
)
from tests.support.inprocess_gateway import ACCOUNT_SID, AUTH_TOKEN, InProcessGateway

Frame = str | bytes


def frame(kind: str, fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[str]:
    """A JSON frame of ``kind``: some of its fields, each plausible, hostile or of a wrong type."""
    loose = {name: st.one_of(value, json_value) for name, value in fields.items()}
    return st.fixed_dictionaries({"type": st.just(kind)}, optional=loose).map(json.dumps)


SETUP = st.fixed_dictionaries(
    {"type": st.just("setup"), "sessionId": sid, "callSid": sid, "from": phone, "to": phone},
    optional={
        "direction": st.sampled_from(["inbound", "outbound-api", "OUTBOUND-dial", ""]) | any_text,
        "accountSid": sid,
        "callStatus": any_text,
        "customParameters": st.dictionaries(short_text, short_text, max_size=3) | json_value,
    },
).map(json.dumps)
TOKENS = RelayTokens(AUTH_TOKEN, ACCOUNT_SID)


def with_token(setup: dict[str, Any]) -> str:
    """``setup`` as Twilio sends it for a call our TwiML answered: our account, its token."""
    binding = RelayBinding(setup["callSid"], setup["from"], outbound=False)
    parameters = {RELAY_TOKEN_PARAMETER: TOKENS.mint(binding)}
    return json.dumps({**setup, "accountSid": ACCOUNT_SID, "customParameters": parameters})


CALL = st.fixed_dictionaries(
    {"type": st.just("setup"), "sessionId": sid, "callSid": sid, "from": us_phone, "to": us_phone}
).map(with_token)
"""A setup that attaches: what the frames after it are mostly tested behind."""
SPOKEN = st.one_of(
    st.fixed_dictionaries({"type": st.just("prompt"), "voicePrompt": any_text}),
    st.fixed_dictionaries(
        {"type": st.just("dtmf"), "digit": st.sampled_from(list("0123456789*#"))}
    ),
    st.fixed_dictionaries(
        {"type": st.just("interrupt"), "utteranceUntilInterrupt": any_text},
        optional={"durationUntilInterruptMs": st.integers() | number_text},
    ),
).map(json.dumps)
"""Well-formed frames a caller's turns are made of."""
FRAMES: st.SearchStrategy[Frame] = st.one_of(
    SPOKEN,
    SETUP,
    frame("setup", {"sessionId": sid, "callSid": sid, "from": phone, "to": phone}),
    frame(
        "prompt",
        {
            "voicePrompt": any_text,
            "lang": st.sampled_from(["en-US", "fr-FR"]),
            "last": st.booleans(),
        },
    ),
    frame(
        "interrupt",
        {
            "utteranceUntilInterrupt": any_text,
            "durationUntilInterruptMs": number_text | st.integers(),
        },
    ),
    frame("dtmf", {"digit": st.sampled_from(list("0123456789*#ABCD")) | any_text}),
    frame("error", {"description": any_text}),
    frame("info", {"name": any_text, "value": any_text, "ts": st.integers()}),
    st.fixed_dictionaries(
        {"type": st.sampled_from(["transcript", "mark", "SETUP", "", "text"]) | short_text},
        optional={"voicePrompt": any_text, "callSid": sid},
    ).map(json.dumps),
    json_value.map(json.dumps),
    malformed_json,
    st.binary(max_size=200),
)


def admitted(setup: SetupFrame) -> bool:
    """Whether the gateway lets ``setup`` attach a call: our account, and its call's token."""
    binding = RelayBinding(setup.call_sid, setup.caller, setup.outbound)
    token = setup.custom_parameters.get(RELAY_TOKEN_PARAMETER)
    return setup.account_sid == ACCOUNT_SID and TOKENS.check(token, binding, ACCOUNT_SID).valid


def attaching(frames: list[Frame]) -> tuple[SetupFrame, str] | bool:
    """The setup frame that attaches the call, and its customer: the first whose caller routes.

    A setup without its call's token closes the socket (False: refused); one whose caller
    does not route is refused by telling the caller, and a later one may still attach, as
    one would after a failed attach. True: the socket stayed open, with no call attached.
    """
    for raw in frames:
        parsed = parse_frame(raw)
        if isinstance(parsed, SetupFrame):
            if not admitted(parsed):
                return False
            try:
                return parsed, to_e164(parsed.caller)
            except InvalidAddress:
                continue
    return True


def test_a_crash_in_a_session_would_be_seen() -> None:
    # The property below reads crashes from the log (the session logs and survives them):
    # make sure this process's log can be read that way.
    for module in (session, turns):
        with capture_logs() as logs:
            module.log.exception("probe")
        assert logs and logs[0].get("exc_info"), module.__name__


SOCKETS = st.one_of(
    st.lists(FRAMES, max_size=8),
    st.builds(lambda setup, rest: [setup, *rest], CALL, st.lists(FRAMES, min_size=1, max_size=8)),
)


@given(frames=SOCKETS, signed=st.sampled_from([True, True, True, False]))
async def test_relay_sockets_never_crash_and_ask_nothing_before_setup(
    gw: InProcessGateway, frames: list[Frame], signed: bool
) -> None:
    gw.recorder.clear()
    gw.recorder.accept_starts = True
    gw.recorder.queries = {}
    slots: RelaySlots = gw.app.state.relay_slots
    held = slots.in_use
    try:
        with capture_logs() as logs:
            sent = await gw.relay(frames, signed=signed)
    finally:
        gw.recorder.accept_starts = False
    crashes = [entry for entry in logs if entry.get("exc_info")]
    assert crashes == [], crashes
    assert slots.in_use == held
    if not signed:
        assert [m["type"] for m in sent] == ["websocket.close"]
        assert gw.recorder.attempts == []
        return
    assert sent[0]["type"] == "websocket.accept"
    attached = attaching(frames)
    writes = gw.recorder.writes()
    kind = "attached" if not isinstance(attached, bool) else "open" if attached else "refused"
    event(f"{kind}, {len(writes)} writes")
    if isinstance(attached, bool):
        assert writes == [], writes
        closed = [m for m in sent if m["type"] == "websocket.close"]
        assert [m.get("code") for m in closed] == ([] if attached else [1008]), sent
        return
    setup, customer = attached
    assert writes[0].operation == "start_workflow"
    assert writes[0].name == "voice_call_started"
    assert {write.workflow_id for write in writes} == {conversation_id(customer)}
    assert gw.app.state.calls.get(setup.call_sid) is None  # the ended call is let go
