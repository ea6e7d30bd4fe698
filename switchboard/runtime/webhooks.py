"""Signed JSON webhooks to ``HANDOFF_WEBHOOK_URL``: the handoff package and human-side events.

Intelligence rules' webhooks (``activities.rule_webhooks``) are signed the same way, with
their own secret (``INTELLIGENCE_WEBHOOK_SECRET``) and the event ``intelligence_rule``.

Every POST carries::

    Content-Type: application/json
    X-Switchboard-Event: handoff | customer_message | handoff_timeout | resumed | closed
    X-Switchboard-Idempotency-Key: <the same value on every retry of one delivery>
    X-Switchboard-Signature: t=<unix time of this attempt>,v1=<hex HMAC-SHA256>

The HMAC is keyed with ``HANDOFF_WEBHOOK_SECRET`` (a secret of its own: a receiver never
holds the operator key) over ``f"{t}.{idempotency key}.{event}."`` followed by the raw body
bytes. Binding the time, the delivery and the event means a captured request cannot be
replayed later, under another delivery key or as another event. Neither the event nor the
key contains a dot, so the signed string splits one way only.

Delivery is at least once (a retry follows a timeout whose POST may have arrived, and
carries a fresh ``t``), so a receiver dedupes on the idempotency key, remembering keys for
at least the tolerance. To check a request, a receiver hashes the raw body exactly as
received, before any JSON parsing::

    from switchboard.runtime.webhooks import verify_signature

    if not verify_signature(
        raw_body, headers.get("X-Switchboard-Signature"), secret,
        event=headers.get("X-Switchboard-Event"),
        idempotency_key=headers.get("X-Switchboard-Idempotency-Key"),
    ):
        return 401
"""

from __future__ import annotations

import hashlib
import hmac
import time

import httpx

SIGNATURE_HEADER = "X-Switchboard-Signature"
EVENT_HEADER = "X-Switchboard-Event"
IDEMPOTENCY_HEADER = "X-Switchboard-Idempotency-Key"
DEFAULT_TOLERANCE_S = 300
"""How old (or how far in the future) a signature's timestamp may be, in seconds."""
_VERSION = "v1"


class WebhookError(Exception):
    """The webhook answered with a status other than 2xx."""

    def __init__(self, http_status: int, message: str) -> None:
        super().__init__(http_status, message)
        self.http_status = http_status
        self.message = message

    def __str__(self) -> str:
        return f"handoff webhook answered {self.http_status}: {self.message}"


def signed_bytes(timestamp: int, idempotency_key: str, event: str, body: bytes) -> bytes:
    """What the HMAC covers: ``t.key.event.`` then the raw body."""
    return f"{timestamp}.{idempotency_key}.{event}.".encode() + body


def _digest(secret: str, timestamp: int, idempotency_key: str, event: str, body: bytes) -> str:
    signed = signed_bytes(timestamp, idempotency_key, event, body)
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(
    body: bytes,
    secret: str,
    *,
    event: str,
    idempotency_key: str,
    timestamp: int | None = None,
) -> str:
    """The ``X-Switchboard-Signature`` value: ``t=<unix time>,v1=<hex HMAC-SHA256>``.

    Raises:
        ValueError: an empty secret, or an event or key that is empty or contains a dot.
    """
    if not secret:
        raise ValueError("an empty webhook secret would let anyone sign")
    for name, value in (("event", event), ("idempotency key", idempotency_key)):
        if not value or "." in value:
            raise ValueError(f"the {name} must be non-empty and without dots: {value!r}")
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},{_VERSION}={_digest(secret, t, idempotency_key, event, body)}"


def verify_signature(
    body: bytes,
    header: str | None,
    secret: str,
    *,
    event: str | None,
    idempotency_key: str | None,
    tolerance: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """True when ``header`` signs this ``body``, ``event`` and ``idempotency_key`` recently.

    ``body`` is the raw request body; ``event`` and ``idempotency_key`` are the request's
    ``X-Switchboard-Event`` and ``X-Switchboard-Idempotency-Key`` headers. A timestamp more
    than ``tolerance`` seconds from ``now`` (default: the current time) is refused, so a
    captured request cannot be replayed later. The comparison takes constant time; a missing
    header, another scheme, an empty secret, event or key is never valid.
    """
    if not header or not secret or not event or not idempotency_key:
        return False
    if "." in event or "." in idempotency_key:
        return False
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit() and timestamp is None:
            timestamp = int(value)
        elif name == _VERSION:
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        return False
    expected = _digest(secret, timestamp, idempotency_key, event, body).encode()
    # Every candidate is compared, so the time taken does not say which one matched.
    matches = [hmac.compare_digest(expected, candidate.encode()) for candidate in candidates]
    return any(matches)


async def post_signed(
    http: httpx.AsyncClient,
    url: str,
    body: bytes,
    secret: str,
    *,
    event: str,
    idempotency_key: str,
) -> int:
    """POST ``body`` (JSON bytes) to ``url`` with the signature headers; returns the status.

    Each attempt is signed at the time it is sent. Redirects are not followed: the
    signature covers this URL's delivery only, and a webhook that moved should be
    reconfigured.

    Raises:
        WebhookError: the answer was not 2xx.
        httpx.TransportError: the request did not complete.
    """
    response = await http.post(
        url,
        content=body,
        headers={
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(body, secret, event=event, idempotency_key=idempotency_key),
            EVENT_HEADER: event,
            IDEMPOTENCY_HEADER: idempotency_key,
        },
        follow_redirects=False,
    )
    if not response.is_success:
        raise WebhookError(response.status_code, response.reason_phrase)
    return response.status_code
