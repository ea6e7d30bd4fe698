"""``X-Twilio-Signature`` validation, checked against an independent reference signer.

The reference follows twilio.md §3.1: the URL, then for each parameter name in sorted order
each of its (de-duplicated, sorted) values appended as ``name + value``; base64 of the
HMAC-SHA1 of that string keyed with the auth token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable

import pytest
from starlette.datastructures import FormData

from gateway.signature import SignatureValidator

TOKEN = "12345"
BASE = "https://mycompany.example.com"
URL = f"{BASE}/twilio/messaging"
PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+12349013030",
    "Digits": "1234",
    "From": "+12349013030",
    "To": "+18005551212",
}


def reference_signature(token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """Twilio's algorithm, written from the spec and not from the ``twilio`` package."""
    values: dict[str, set[str]] = {}
    for name, value in params:
        values.setdefault(name, set()).add(value)
    data = url
    for name in sorted(values):
        for value in sorted(values[name]):
            data += name + value
    digest = hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def sign(params: dict[str, str], url: str = URL, token: str = TOKEN) -> str:
    return reference_signature(token, url, params.items())


@pytest.fixture
def validator() -> SignatureValidator:
    return SignatureValidator(TOKEN, BASE)


def test_reference_signer_matches_a_hand_computed_value() -> None:
    # The signed string spelled out by hand, so the reference itself is checked.
    data = (
        URL
        + "CallSidCA1234567890ABCDE"
        + "Caller+12349013030"
        + "Digits1234"
        + "From+12349013030"
        + "To+18005551212"
    )
    expected = base64.b64encode(hmac.new(b"12345", data.encode(), hashlib.sha1).digest()).decode()
    assert sign(PARAMS) == expected


def test_twilio_published_vector(validator: SignatureValidator) -> None:
    # The example of Twilio's security docs and SDK test suites (token "12345").
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    expected = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert reference_signature(TOKEN, url, PARAMS.items()) == expected
    assert validator.valid(url, PARAMS, expected)


def test_correct_signature_validates(validator: SignatureValidator) -> None:
    assert validator.valid(URL, PARAMS, sign(PARAMS))


def test_validator_sign_agrees_with_reference(validator: SignatureValidator) -> None:
    assert validator.sign(URL, PARAMS) == sign(PARAMS)


def test_unicode_values(validator: SignatureValidator) -> None:
    params = {**PARAMS, "Body": "Olá 👋", "ProfileName": "Jhonata"}
    assert validator.valid(URL, params, sign(params))


def test_no_params(validator: SignatureValidator) -> None:
    assert validator.valid(URL, {}, sign({}))


def test_wrong_token_fails(validator: SignatureValidator) -> None:
    assert not validator.valid(URL, PARAMS, sign(PARAMS, token="other-token"))


def test_tampered_param_fails(validator: SignatureValidator) -> None:
    signature = sign(PARAMS)
    assert not validator.valid(URL, {**PARAMS, "Digits": "1235"}, signature)


def test_extra_param_fails(validator: SignatureValidator) -> None:
    signature = sign(PARAMS)
    assert not validator.valid(URL, {**PARAMS, "Extra": "x"}, signature)


def test_removed_param_fails(validator: SignatureValidator) -> None:
    signature = sign(PARAMS)
    params = dict(PARAMS)
    del params["Digits"]
    assert not validator.valid(URL, params, signature)


@pytest.mark.parametrize("signature", [None, ""])
def test_missing_signature_fails(validator: SignatureValidator, signature: str | None) -> None:
    assert not validator.valid(URL, PARAMS, signature)


def test_garbage_signature_fails(validator: SignatureValidator) -> None:
    assert not validator.valid(URL, PARAMS, "not-a-signature")


def test_different_query_string_fails(validator: SignatureValidator) -> None:
    signature = sign(PARAMS, url=f"{URL}?tenant=a")
    assert validator.valid(f"{URL}?tenant=a", PARAMS, signature)
    assert not validator.valid(f"{URL}?tenant=b", PARAMS, signature)
    assert not validator.valid(URL, PARAMS, signature)


def test_different_path_fails(validator: SignatureValidator) -> None:
    assert not validator.valid(f"{BASE}/twilio/messaging/status", PARAMS, sign(PARAMS))


def test_signature_with_default_port_validates_without_it(validator: SignatureValidator) -> None:
    signature = sign(PARAMS, url="https://mycompany.example.com:443/twilio/messaging")
    assert validator.valid(URL, PARAMS, signature)


def test_signature_without_port_validates_with_it(validator: SignatureValidator) -> None:
    assert validator.valid(
        "https://mycompany.example.com:443/twilio/messaging", PARAMS, sign(PARAMS)
    )


def test_http_default_port_is_80() -> None:
    validator = SignatureValidator(TOKEN, "http://localhost")
    signature = sign(PARAMS, url="http://localhost:80/twilio/messaging")
    assert validator.valid("http://localhost/twilio/messaging", PARAMS, signature)


def test_non_default_port_must_match(validator: SignatureValidator) -> None:
    signature = sign(PARAMS, url="https://mycompany.example.com:8443/twilio/messaging")
    assert not validator.valid(URL, PARAMS, signature)


def test_disabled_accepts_anything() -> None:
    validator = SignatureValidator(TOKEN, BASE, enabled=False)
    assert validator.valid(URL, PARAMS, None)
    assert validator.valid(URL, PARAMS, "")
    assert validator.valid("https://elsewhere.example/x", {"A": "1"}, "garbage")


def test_repeated_parameter_in_a_multi_dict(validator: SignatureValidator) -> None:
    pairs = [("A", "2"), ("B", "x"), ("A", "1")]
    signature = reference_signature(TOKEN, URL, pairs)
    # A copy: FormData takes an invariant ``list[tuple[str, str | UploadFile]]``.
    assert validator.valid(URL, FormData(list(pairs)), signature)
    # Signing only the last value (what a plain dict would keep) gives another signature.
    assert signature != reference_signature(TOKEN, URL, [("A", "1"), ("B", "x")])
    assert not validator.valid(URL, FormData([("A", "2"), ("B", "x")]), signature)


def test_starlette_form_data_with_single_values(validator: SignatureValidator) -> None:
    assert validator.valid(URL, FormData(list(PARAMS.items())), sign(PARAMS))


@pytest.mark.parametrize(
    ("base", "path", "query", "expected"),
    [
        (BASE, "/twilio/messaging", "", URL),
        (f"{BASE}/", "/twilio/messaging", "", URL),
        (BASE, "/twilio/messaging", "a=1&b=2", f"{URL}?a=1&b=2"),
        (
            "https://h.example/prefix/",
            "/twilio/voice",
            "x=y",
            "https://h.example/prefix/twilio/voice?x=y",
        ),
    ],
)
def test_public_url(base: str, path: str, query: str, expected: str) -> None:
    assert SignatureValidator(TOKEN, base).public_url(path, query) == expected


def test_public_url_round_trip(validator: SignatureValidator) -> None:
    url = validator.public_url("/twilio/messaging", "tenant=a")
    assert validator.valid(url, PARAMS, sign(PARAMS, url=f"{URL}?tenant=a"))


# --- the ConversationRelay socket upgrade ---------------------------------------------------

RELAY_PUBLIC = "https://abc123.ngrok.app"


def test_relay_url_maps_the_public_scheme_to_websocket() -> None:
    assert SignatureValidator(TOKEN, RELAY_PUBLIC).relay_url("/twilio/relay") == (
        "wss://abc123.ngrok.app/twilio/relay"
    )
    assert SignatureValidator(TOKEN, "http://localhost:8000").relay_url("/r", "a=1") == (
        "ws://localhost:8000/r?a=1"
    )


def test_relay_signature_over_the_url_as_written_in_the_twiml() -> None:
    relay = SignatureValidator(TOKEN, RELAY_PUBLIC)
    signature = reference_signature(TOKEN, "wss://abc123.ngrok.app/twilio/relay", [])
    assert relay.valid_relay("/twilio/relay", "", signature)
    assert not relay.valid_relay("/twilio/other", "", signature)
    assert not relay.valid_relay("/twilio/relay", "", "forged")
    assert not relay.valid_relay("/twilio/relay", "", None)


def test_relay_signature_over_another_host_is_refused() -> None:
    # The URL as received (its host from the request's own Host header) is not checked:
    # a socket Twilio signed for another host of the account does not open here.
    relay = SignatureValidator(TOKEN, RELAY_PUBLIC)
    for url in ("ws://10.0.0.5:8000/twilio/relay", "wss://other.example/twilio/relay"):
        assert not relay.valid_relay("/twilio/relay", "", reference_signature(TOKEN, url, []))


def test_relay_signature_with_a_query_in_the_url_or_as_parameters() -> None:
    relay = SignatureValidator(TOKEN, RELAY_PUBLIC)
    url = "wss://abc123.ngrok.app/twilio/relay"
    in_url = reference_signature(TOKEN, url + "?tenant=t_1", [])
    as_params = reference_signature(TOKEN, url, [("tenant", "t_1")])
    for signature in (in_url, as_params):
        assert relay.valid_relay("/twilio/relay", "tenant=t_1", signature)
    assert not relay.valid_relay("/twilio/relay", "tenant=t_2", in_url)
    assert not relay.valid_relay("/twilio/relay", "tenant=t_2", as_params)


def test_an_empty_auth_token_is_refused() -> None:
    # With an empty HMAC key anyone could compute a valid signature.
    with pytest.raises(ValueError, match="empty auth token"):
        SignatureValidator("", BASE)
