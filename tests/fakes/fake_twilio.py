"""Fake of the Twilio REST Messages API (``/2010-04-01/Accounts/{sid}/Messages.json``).

Speaks the real wire protocol: form-encoded POSTs with HTTP Basic auth, JSON Message
resources and Twilio-style JSON error bodies. Records everything for assertions and
supports fault injection (transient 5xx/429, permanent per-recipient errors, latency).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.fakes._waiting import Changes

API_VERSION = "2010-04-01"

_ERROR_MESSAGES: dict[int, str] = {
    20003: "Authenticate",
    20429: "Too Many Requests",
    20500: "An internal server error has occurred",
    21211: "The 'To' number is not a valid phone number.",
    21602: "Message body is required.",
    21604: "A 'To' phone number is required.",
    21610: "Attempt to send to unsubscribed recipient",
    63016: "Failed to send freeform message because you are outside the allowed window.",
}


@dataclass
class _Failure:
    """One pending injected failure (see :meth:`FakeTwilio.fail_next`)."""

    status: int
    code: int
    accept: bool


def twilio_error(code: int, status: int, message: str | None = None) -> JSONResponse:
    """A Twilio-style JSON error response."""
    body = {
        "code": code,
        "message": message or _ERROR_MESSAGES.get(code, f"Error {code}"),
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return JSONResponse(body, status_code=status)


class FakeTwilio:
    """In-process Twilio Messages API. Serve ``.app`` with ``tests.fakes.server.serve``.

    State:
        messages: accepted Message resources (oldest first), each with the original
            form under ``"form"``.
        requests: every POST attempt as ``{"method", "form", "status", "sid"}``.
        lookups: every GET (list) request as ``{"method", "query", "status"}``.
    """

    def __init__(self, account_sid: str, auth_token: str) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.messages: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.lookups: list[dict[str, Any]] = []
        self._failures: list[_Failure] = []
        self._rejections: dict[str, tuple[int, int]] = {}
        self._delay = 0.0
        self._changes = Changes()
        self.on_accept: Callable[[dict[str, Any]], None] | None = None  # benchmarks time arrivals
        self.app = self._build_app()

    # ----------------------------------------------------------------- helpers
    def fail_next(
        self, count: int, status: int = 500, code: int | None = None, accept: bool = False
    ) -> None:
        """Make the next ``count`` POSTs answer ``status`` with a Twilio error body.

        ``code`` defaults to 20429 for 429 and 20500 otherwise. With ``accept=True`` the
        message is still recorded as accepted (Twilio processed it, the response was lost).
        """
        default = 20429 if status == 429 else 20500
        self._failures.extend(_Failure(status, code or default, accept) for _ in range(count))

    def reject_to(self, to: str, code: int, status: int = 400) -> None:
        """Answer every POST to ``to`` with a permanent error ``code`` (never accepted)."""
        self._rejections[to] = (code, status)

    def delay(self, seconds: float) -> None:
        """Add ``seconds`` of latency before answering each POST."""
        self._delay = seconds

    def messages_to(self, to: str) -> list[dict[str, Any]]:
        """Accepted messages addressed to ``to`` (oldest first)."""
        return [m for m in self.messages if m["to"] == to]

    async def wait_for_messages(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Return ``messages`` once at least ``count`` were accepted, else AssertionError."""
        if await self._changes.wait_until(lambda: len(self.messages) >= count, timeout):
            return list(self.messages)
        seen = [(m["to"], m["body"]) for m in self.messages]
        attempts = [(r["form"].get("To"), r["status"]) for r in self.requests]
        raise AssertionError(
            f"expected >= {count} Twilio messages within {timeout}s, got {len(seen)}: {seen}; "
            f"POST attempts (To, status): {attempts}"
        )

    def reset(self) -> None:
        """Forget all recorded state and injected faults."""
        self.messages.clear()
        self.requests.clear()
        self.lookups.clear()
        self._failures.clear()
        self._rejections.clear()
        self._delay = 0.0
        self._changes.notify()

    # ---------------------------------------------------------------- internals
    def _authorized(self, request: Request, account_sid: str) -> bool:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return (
            secrets.compare_digest(user, self.account_sid)
            and secrets.compare_digest(password, self.auth_token)
            and account_sid == self.account_sid
        )

    def _accept(self, form: dict[str, str], num_media: int) -> dict[str, Any]:
        sid = "SM" + secrets.token_hex(16)
        now = format_datetime(datetime.now(UTC))
        message: dict[str, Any] = {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": form.get("To", ""),
            "from": form.get("From"),
            "body": form.get("Body", ""),
            "status": "queued",
            "direction": "outbound-api",
            "date_created": now,
            "date_updated": now,
            "date_sent": None,
            "num_segments": "1",
            "num_media": str(num_media),
            "error_code": None,
            "error_message": None,
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "price": None,
            "price_unit": "USD",
            "api_version": API_VERSION,
            "uri": f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}.json",
            "form": form,
        }
        self.messages.append(message)
        if self.on_accept is not None:
            self.on_accept(message)
        return message

    def _matches(self, message: dict[str, Any], query: dict[str, str]) -> bool:
        if "To" in query and message["to"] != query["To"]:
            return False
        if "From" in query and message["from"] != query["From"]:
            return False
        created = parsedate_to_datetime(message["date_created"]).date()
        checks = {
            "DateSent>": created.__ge__,
            "DateSent<": created.__le__,
            "DateSent": created.__eq__,
        }
        return all(check(date.fromisoformat(query[k])) for k, check in checks.items() if k in query)

    def _build_app(self) -> FastAPI:
        app = FastAPI(title="fake-twilio")
        base = f"/{API_VERSION}/Accounts/{{account_sid}}/Messages.json"

        @app.post(base)
        async def create_message(account_sid: str, request: Request) -> JSONResponse:
            raw = await request.form()
            form = {k: str(v) for k, v in raw.items()}
            record: dict[str, Any] = {"method": "POST", "form": form, "status": 0, "sid": None}
            self.requests.append(record)
            response = await self._handle_post(
                account_sid, request, form, len(raw.getlist("MediaUrl"))
            )
            record["status"] = response.status_code
            if self.messages and self.messages[-1]["form"] is form:
                record["sid"] = self.messages[-1]["sid"]
            self._changes.notify()
            return response

        @app.get(base)
        async def list_messages(account_sid: str, request: Request) -> JSONResponse:
            query = dict(request.query_params)
            record: dict[str, Any] = {"method": "GET", "query": query, "status": 401}
            self.lookups.append(record)
            if not self._authorized(request, account_sid):
                return twilio_error(20003, 401)
            try:
                page_size = int(query.get("PageSize", "50"))
                found = [m for m in reversed(self.messages) if self._matches(m, query)]
            except ValueError as exc:
                record["status"] = 400
                return twilio_error(20001, 400, f"Invalid parameter: {exc}")
            record["status"] = 200
            uri = (
                f"{request.url.path}?{request.url.query}" if request.url.query else request.url.path
            )
            page = [{k: v for k, v in m.items() if k != "form"} for m in found[:page_size]]
            return JSONResponse(
                {
                    "messages": page,
                    "page": 0,
                    "page_size": page_size,
                    "start": 0,
                    "end": max(len(page) - 1, 0),
                    "uri": uri,
                    "first_page_uri": uri,
                    "next_page_uri": None,
                    "previous_page_uri": None,
                }
            )

        return app

    async def _handle_post(
        self, account_sid: str, request: Request, form: dict[str, str], num_media: int
    ) -> JSONResponse:
        if not self._authorized(request, account_sid):
            return twilio_error(20003, 401)
        if self._delay:
            await asyncio.sleep(self._delay)
        to = form.get("To", "")
        rejection = self._rejections.get(to)
        if self._failures:
            failure = self._failures.pop(0)
            if failure.accept and rejection is None:
                self._accept(form, num_media)
            return twilio_error(failure.code, failure.status)
        if rejection is not None:
            return twilio_error(*rejection)
        if not to:
            return twilio_error(21604, 400)
        if not form.get("Body") and not num_media and "ContentSid" not in form:
            return twilio_error(21602, 400)
        message = self._accept(form, num_media)
        return JSONResponse({k: v for k, v in message.items() if k != "form"}, status_code=201)
