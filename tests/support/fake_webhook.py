"""Fake receiver of the handoff webhook (``HANDOFF_WEBHOOK_URL``).

Checks ``X-Switchboard-Signature`` on its own rather than through the project's helper, so a
test proves the wire format, not that the code agrees with itself: ``t=<unix>,v1=<hex>``,
where ``v1`` is the HMAC-SHA256, keyed with ``HANDOFF_WEBHOOK_SECRET``, of
``"{t}.{X-Switchboard-Idempotency-Key}.{X-Switchboard-Event}."`` followed by the raw body,
and ``t`` is within five minutes of now. A bad, missing or stale signature answers 401 and
is not delivered. Records every request; supports injected failures.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.support.waiting import Changes

WEBHOOK_PATH = "/hooks/handoff"


class FakeWebhook:
    """An in-process webhook receiver. Serve ``.app``; the URL is ``base + WEBHOOK_PATH``.

    State:
        deliveries: accepted POSTs (oldest first) as ``{"event", "idempotency_key",
            "body" (parsed JSON), "raw" (bytes), "headers"}``.
        requests: every POST as ``{"status", "signature_valid", "raw", "headers"}``.
    """

    def __init__(self, secret: str, tolerance: float = 300) -> None:
        self.secret = secret
        self.tolerance = tolerance
        self.deliveries: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self._failures: list[int] = []
        self._changes = Changes()
        self.app = self._build_app()

    def fail_next(self, count: int, status: int = 500) -> None:
        """Answer the next ``count`` correctly signed POSTs with ``status`` (not delivered)."""
        self._failures.extend([status] * count)

    def events(self, event: str) -> list[dict[str, Any]]:
        """Parsed bodies of the deliveries with ``X-Switchboard-Event: event``."""
        return [d["body"] for d in self.deliveries if d["event"] == event]

    async def wait_for_deliveries(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Return ``deliveries`` once at least ``count`` arrived, else AssertionError."""
        if await self._changes.wait_until(lambda: len(self.deliveries) >= count, timeout):
            return list(self.deliveries)
        seen = [(r["status"], r["signature_valid"]) for r in self.requests]
        raise AssertionError(
            f"expected >= {count} webhook deliveries within {timeout}s, got "
            f"{len(self.deliveries)}; requests (status, signature valid): {seen}"
        )

    def reset(self) -> None:
        """Forget recorded requests and injected failures."""
        self.deliveries.clear()
        self.requests.clear()
        self._failures.clear()
        self._changes.notify()

    def _valid(self, raw: bytes, headers: dict[str, str]) -> bool:
        fields: dict[str, str] = {}
        for part in headers.get("x-switchboard-signature", "").split(","):
            name, _, value = part.strip().partition("=")
            fields[name] = value
        key = headers.get("x-switchboard-idempotency-key", "")
        event = headers.get("x-switchboard-event", "")
        if not fields.get("t", "").isdigit() or not key or not event:
            return False
        timestamp = int(fields["t"])
        if abs(time.time() - timestamp) > self.tolerance:
            return False
        signed = f"{timestamp}.{key}.{event}.".encode() + raw
        expected = hmac.new(self.secret.encode(), signed, hashlib.sha256).hexdigest()
        return hmac.compare_digest(fields.get("v1", ""), expected)

    def _build_app(self) -> FastAPI:
        app = FastAPI(title="fake-webhook")

        @app.post(WEBHOOK_PATH)
        async def receive(request: Request) -> JSONResponse:
            raw = await request.body()
            headers = dict(request.headers)
            valid = self._valid(raw, headers)
            record: dict[str, Any] = {
                "status": 401, "signature_valid": valid, "raw": raw, "headers": headers,
            }  # fmt: skip
            self.requests.append(record)
            try:
                if not valid:
                    return JSONResponse({"error": "bad signature"}, status_code=401)
                if self._failures:
                    record["status"] = self._failures.pop(0)
                    return JSONResponse({"error": "injected"}, status_code=record["status"])
                if request.headers.get("content-type") != "application/json":
                    record["status"] = 415
                    return JSONResponse({"error": "JSON expected"}, status_code=415)
                self.deliveries.append(
                    {
                        "event": request.headers.get("x-switchboard-event"),
                        "idempotency_key": request.headers.get("x-switchboard-idempotency-key"),
                        "body": json.loads(raw),
                        "raw": raw,
                        "headers": headers,
                    }
                )
                record["status"] = 200
                return JSONResponse({"ok": True})
            finally:
                self._changes.notify()

        return app
