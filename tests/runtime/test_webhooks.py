"""The handoff webhook's signature: a secret of its own, over time, delivery, event and body.

``reference`` recomputes the scheme from its description (README, handoff section), so the
tests pin the wire format rather than the module's agreement with itself.
"""

from __future__ import annotations

import hashlib
import hmac
import time

import pytest

from switchboard.runtime.webhooks import DEFAULT_TOLERANCE_S, sign, verify_signature

SECRET = "whsec-test"
BODY = b'{"conversation_id": "conv-+14155550100", "reason": "asked"}'
KEY = "0b6f0c1e-run:handoff:1"
EVENT = "handoff"
T = 1_760_000_000


def reference(secret: str, t: int, key: str, event: str, body: bytes) -> str:
    signed = f"{t}.{key}.{event}.".encode() + body
    return f"t={t},v1=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def check(header: str | None, *, body: bytes = BODY, secret: str = SECRET,
          event: str | None = EVENT, key: str | None = KEY, now: float = T + 1,
          tolerance: float = DEFAULT_TOLERANCE_S) -> bool:  # fmt: skip
    return verify_signature(
        body, header, secret, event=event, idempotency_key=key, now=now, tolerance=tolerance
    )


def test_the_header_is_t_and_v1_over_time_key_event_and_body() -> None:
    header = sign(BODY, SECRET, event=EVENT, idempotency_key=KEY, timestamp=T)
    assert header == reference(SECRET, T, KEY, EVENT, BODY)
    assert check(header)


def test_sign_stamps_the_current_time() -> None:
    before = int(time.time())
    header = sign(BODY, SECRET, event=EVENT, idempotency_key=KEY)
    stamped = int(header.split(",")[0].removeprefix("t="))
    assert before <= stamped <= int(time.time())
    assert verify_signature(BODY, header, SECRET, event=EVENT, idempotency_key=KEY)


def test_a_captured_delivery_cannot_be_replayed_later() -> None:
    header = reference(SECRET, T, KEY, EVENT, BODY)
    assert check(header, now=T + DEFAULT_TOLERANCE_S)
    assert not check(header, now=T + DEFAULT_TOLERANCE_S + 1)
    assert not check(header, now=T - DEFAULT_TOLERANCE_S - 1)  # from the future
    assert not check(header, now=T + 3600, tolerance=300)
    assert check(header, now=T + 3600, tolerance=7200)


def test_nothing_signed_can_be_changed() -> None:
    header = reference(SECRET, T, KEY, EVENT, BODY)
    assert not check(header, body=BODY + b" ")
    assert not check(header, event="closed")  # replayed as another event
    assert not check(header, key="0b6f0c1e-run:handoff:2")  # under another delivery key
    assert not check(header.replace(f"t={T}", f"t={T + 1}"))  # a fresher timestamp
    assert not check(header, secret="operator-api-key")


@pytest.mark.parametrize(
    "header",
    [None, "", "sha256=" + "0" * 64, f"t={T}", "v1=" + "0" * 64, f"t=soon,v1={'0' * 64}"],
)
def test_malformed_headers_fail(header: str | None) -> None:
    assert not check(header)


def test_an_empty_secret_event_or_key_never_verifies_or_signs() -> None:
    empty_key = reference("", T, KEY, EVENT, BODY)
    assert not check(empty_key, secret="")
    assert not check(reference(SECRET, T, "", EVENT, BODY), key="")
    assert not check(reference(SECRET, T, KEY, "", BODY), event="")
    assert not check(reference(SECRET, T, KEY, EVENT, BODY), event=None)
    with pytest.raises(ValueError, match="empty webhook secret"):
        sign(BODY, "", event=EVENT, idempotency_key=KEY)


def test_dots_in_the_event_or_key_are_refused_so_the_signed_string_splits_one_way() -> None:
    # With key "a.b" and event "c", "t.a.b.c." could also be read as key "a", event "b.c".
    with pytest.raises(ValueError):
        sign(BODY, SECRET, event=EVENT, idempotency_key="a.b")
    with pytest.raises(ValueError):
        sign(BODY, SECRET, event="x.y", idempotency_key=KEY)
    assert not check(reference(SECRET, T, "a", "b.c", BODY), key="a", event="b.c")


def test_several_v1_values_are_accepted_when_one_matches() -> None:
    good = reference(SECRET, T, KEY, EVENT, BODY).split(",")[1]
    assert check(f"t={T},v1={'0' * 64},{good}")
