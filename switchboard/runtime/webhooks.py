"""Signed JSON webhooks to ``HANDOFF_WEBHOOK_URL``: the handoff package and human-side events.

Every POST carries::

    Content-Type: application/json
    X-Switchboard-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes, keyed with
                             GATEWAY_API_KEY>
    X-Switchboard-Event: handoff | customer_message | handoff_timeout | resumed | closed
    X-Switchboard-Idempotency-Key: <the same value on every retry of one delivery>

Delivery is at least once (a retry follows a timeout whose POST may have arrived), so a
receiver dedupes on the idempotency key. To check a request, a receiver hashes the raw
body exactly as received, before any JSON parsing::

    from switchboard.runtime.webhooks import verify_signature

    if not verify_signature(raw_body, headers.get("X-Switchboard-Signature"), api_key):
        return 401
"""

from __future__ import annotations

import hashlib
import hmac

import httpx

SIGNATURE_HEADER = "X-Switchboard-Signature"
EVENT_HEADER = "X-Switchboard-Event"
IDEMPOTENCY_HEADER = "X-Switchboard-Idempotency-Key"
_PREFIX = "sha256="


class WebhookError(Exception):
    """The webhook answered with a status other than 2xx."""

    def __init__(self, http_status: int, message: str) -> None:
        super().__init__(http_status, message)
        self.http_status = http_status
        self.message = message

    def __str__(self) -> str:
        return f"handoff webhook answered {self.http_status}: {self.message}"


def sign(body: bytes, key: str) -> str:
    """The ``X-Switchboard-Signature`` value of ``body``: ``sha256=<hex HMAC-SHA256>``."""
    return _PREFIX + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, header: str | None, key: str) -> bool:
    """True when ``header`` is the signature of ``body`` (the raw bytes) under ``key``.

    The comparison takes constant time; a missing header, another scheme or an empty key is
    never valid.
    """
    if not header or not key or not header.startswith(_PREFIX):
        return False
    return hmac.compare_digest(header.encode(), sign(body, key).encode())


async def post_signed(
    http: httpx.AsyncClient, url: str, body: bytes, key: str, *, event: str, idempotency_key: str
) -> int:
    """POST ``body`` (JSON bytes) to ``url`` with the signature headers; returns the status.

    Redirects are not followed: the signature covers this URL's delivery only, and a
    webhook that moved should be reconfigured.

    Raises:
        WebhookError: the answer was not 2xx.
        httpx.TransportError: the request did not complete.
    """
    response = await http.post(
        url,
        content=body,
        headers={
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(body, key),
            EVENT_HEADER: event,
            IDEMPOTENCY_HEADER: idempotency_key,
        },
        follow_redirects=False,
    )
    if not response.is_success:
        raise WebhookError(response.status_code, response.reason_phrase)
    return response.status_code
