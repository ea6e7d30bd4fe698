"""Relay tokens: minted for one call, customer and account, refused for anything else."""

from __future__ import annotations

import pytest

from switchboard.twilio.relay_token import (
    RELAY_TOKEN_TTL_SECONDS,
    RelayBinding,
    RelayTokens,
    TokenVerdict,
)

ACCOUNT = "AC" + "1" * 32
OTHER_ACCOUNT = "AC" + "2" * 32
CALL = "CA" + "1" * 32
NOW = 1_800_000_000.0

tokens = RelayTokens("auth-token", ACCOUNT)
inbound = RelayBinding(CALL, "+14155550100", outbound=False)


def verdict(token: str | None, binding: RelayBinding, account: str = ACCOUNT, **kw: float) -> str:
    return str(tokens.check(token, binding, account, now=kw.get("now", NOW)).verdict)


def test_a_token_admits_the_call_it_was_minted_for() -> None:
    token = tokens.mint(inbound, now=NOW)
    check = tokens.check(token, inbound, ACCOUNT, now=NOW + 1)
    assert check.valid and check.nonce and check.expires == NOW + RELAY_TOKEN_TTL_SECONDS
    # The numbers are compared as E.164: Twilio's spelling in setup may differ from the form's.
    assert verdict(token, RelayBinding(CALL, "+1 (415) 555-0100", outbound=False)) == "valid"


@pytest.mark.parametrize(
    ("binding", "account"),
    [
        (RelayBinding("CA" + "9" * 32, "+14155550100", outbound=False), ACCOUNT),
        (RelayBinding(CALL, "+14155550199", outbound=False), ACCOUNT),
        (RelayBinding(CALL, "+14155550100", outbound=True), ACCOUNT),
        (inbound, OTHER_ACCOUNT),
    ],
    ids=["another call", "another caller", "another direction", "another account"],
)
def test_a_token_refuses_anything_else(binding: RelayBinding, account: str) -> None:
    assert verdict(tokens.mint(inbound, now=NOW), binding, account) == TokenVerdict.MISMATCH


def test_a_token_expires() -> None:
    token = tokens.mint(inbound, now=NOW)
    assert verdict(token, inbound, now=NOW + RELAY_TOKEN_TTL_SECONDS) == TokenVerdict.EXPIRED


def test_another_auth_token_mints_nothing_we_take() -> None:
    forged = RelayTokens("another-auth-token", ACCOUNT).mint(inbound, now=NOW)
    assert verdict(forged, inbound) == TokenVerdict.MISMATCH


def test_an_outbound_token_binds_the_callee_but_not_the_call_sid() -> None:
    callee = RelayBinding(None, "+14155550100", outbound=True)
    token = tokens.mint(callee, now=NOW)
    placed = RelayBinding("CA" + "7" * 32, "+14155550100", outbound=True)
    assert verdict(token, placed) == TokenVerdict.VALID
    assert verdict(token, RelayBinding(CALL, "+14155550199", outbound=True)) == "mismatch"
    assert verdict(token, RelayBinding(CALL, "+14155550100", outbound=False)) == "mismatch"


@pytest.mark.parametrize(
    "token",
    ["", "v1", "v1.c.x.n.m", "v2.c.1.n.m", "v1.z.9999999999.n.m", "v1.c.9999999999..m",
     "v1.c.9999999999.n.m.extra", "v1.c." + "9" * 300 + ".n.m"],
)  # fmt: skip
def test_malformed_tokens_are_refused(token: str) -> None:
    assert verdict(token, inbound) in {TokenVerdict.MALFORMED, TokenVerdict.MISSING}


def test_a_token_never_names_the_customer() -> None:
    token = tokens.mint(inbound, now=NOW)
    assert "4155550100" not in token and CALL not in token


def test_an_empty_auth_token_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        RelayTokens("", ACCOUNT)


def test_a_token_with_non_ascii_digits_is_malformed_not_a_crash() -> None:
    tokens = RelayTokens("auth-token", "AC" + "a" * 32)
    binding = RelayBinding("CA" + "1" * 32, "+14155550100", outbound=False)
    check = tokens.check("v1.c.1²3.nonce.mac", binding, "AC" + "a" * 32)
    assert not check.valid
