"""Relay admission: a ``setup`` attaches a call once, with its own token, for our account."""

from __future__ import annotations

import json

from structlog.testing import capture_logs

from gateway.voice.admission import RelayAdmission
from gateway.voice.frames import SetupFrame, parse_frame
from switchboard.twilio.relay_token import (
    RELAY_TOKEN_PARAMETER,
    RELAY_TOKEN_TTL_SECONDS,
    RelayBinding,
    RelayTokens,
)

ACCOUNT = "AC" + "1" * 32
CALLER = "+14155550100"
CALL = "CA" + "1" * 32


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


tokens = RelayTokens("auth-token", ACCOUNT)


def setup(token: str | None, *, caller: str = CALLER, account: str = ACCOUNT) -> SetupFrame:
    frame = parse_frame(
        json.dumps({"type": "setup", "sessionId": "VX1", "callSid": CALL, "from": caller,
                    "to": "+15005550001", "accountSid": account,
                    "customParameters": {RELAY_TOKEN_PARAMETER: token} if token else {}})
    )  # fmt: skip
    assert isinstance(frame, SetupFrame)
    return frame


def test_a_token_is_admitted_once_and_forgotten_after_it_expires() -> None:
    clock = Clock()
    admission = RelayAdmission(tokens, clock=clock)
    token = tokens.mint(RelayBinding(CALL, CALLER, outbound=False), now=clock.now)
    assert admission.refusal(setup(token)) is None
    assert admission.refusal(setup(token)) == "reused"
    clock.now += RELAY_TOKEN_TTL_SECONDS
    assert admission.refusal(setup(token)) == "expired"
    fresh = tokens.mint(RelayBinding(CALL, CALLER, outbound=False), now=clock.now)
    assert admission.refusal(setup(fresh)) is None
    assert len(admission._used) == 1  # the expired one was let go


def test_refusals_name_the_reason_and_mask_the_number() -> None:
    clock = Clock()
    admission = RelayAdmission(tokens, clock=clock)
    token = tokens.mint(RelayBinding(CALL, CALLER, outbound=False), now=clock.now)
    with capture_logs() as logs:
        assert admission.refusal(setup(None)) == "missing"
        assert admission.refusal(setup(token, caller="+14155550199")) == "mismatch"
        assert admission.refusal(setup(token, account="AC" + "2" * 32)) == "account"
    assert [entry["reason"] for entry in logs] == ["missing", "mismatch", "account"]
    assert all("4155550" not in str(entry) and token not in str(entry) for entry in logs)
    # Still unused: a refused setup never spends the token it carried.
    assert admission.refusal(setup(token)) is None
