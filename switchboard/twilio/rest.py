"""A small async client for the Twilio REST calls we make: create and list Messages and Calls.

The official ``twilio`` package is synchronous (and retries on its own), so sends go
through ``httpx`` here; Temporal owns every retry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

LOOKUP_SKEW = timedelta(seconds=5)
"""How far Twilio's clock (a resource's ``date_created``, to the second) may lag ours."""


class TwilioError(Exception):
    """A non-2xx answer from Twilio, with its error code when it gave one."""

    def __init__(self, http_status: int, code: int | None, message: str) -> None:
        super().__init__(http_status, code, message)
        self.http_status = http_status
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"Twilio {self.http_status} (code {self.code}): {self.message}"


@dataclass(frozen=True)
class SentMessage:
    """The fields of a Message resource we use."""

    sid: str
    status: str
    to: str
    from_: str
    body: str
    date_created: datetime | None


def _parse_message(data: dict[str, Any]) -> SentMessage:
    created = data.get("date_created")
    return SentMessage(
        sid=str(data["sid"]),
        status=str(data.get("status") or "queued"),
        to=str(data.get("to") or ""),
        from_=str(data.get("from") or ""),
        body=str(data.get("body") or ""),
        date_created=parsedate_to_datetime(created) if created else None,
    )


@dataclass(frozen=True)
class CallResource:
    """The fields of a Call resource we use."""

    sid: str
    status: str
    to: str
    from_: str
    date_created: datetime | None


def _parse_call(data: dict[str, Any]) -> CallResource:
    created = data.get("date_created")
    return CallResource(
        sid=str(data["sid"]),
        status=str(data.get("status") or "queued"),
        to=str(data.get("to") or ""),
        from_=str(data.get("from") or ""),
        date_created=parsedate_to_datetime(created) if created else None,
    )


def check_response(
    response: httpx.Response, error: type[TwilioError] = TwilioError
) -> dict[str, Any]:
    """The JSON body of a 2xx answer; otherwise ``error`` with Twilio's status, code and message.

    Twilio's APIs (2010-04-01, TaskRouter, ...) share one error body:
    ``{"code", "message", "more_info", "status"}``; a body that is not JSON (a proxy's HTML
    page) still gives the HTTP status.
    """
    try:
        data = response.json()
    except ValueError:
        data = {}
    if response.is_success:
        return data if isinstance(data, dict) else {}
    code = data.get("code") if isinstance(data, dict) else None
    message = data.get("message") if isinstance(data, dict) else None
    raise error(
        response.status_code,
        int(code) if isinstance(code, int | str) and str(code).isdigit() else None,
        str(message or response.reason_phrase),
    )


class TwilioRestClient:
    """Messages and Calls API calls against ``{base_url}/2010-04-01/Accounts/{sid}``."""

    def __init__(self, http: httpx.AsyncClient, base_url: str, account_sid: str, token: str):
        self._http = http
        self._account = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}"
        self._auth = httpx.BasicAuth(account_sid, token)

    async def create_message(self, form: dict[str, str]) -> SentMessage:
        """POST Messages.json.

        Raises:
            TwilioError: Twilio answered with an error status.
            httpx.TransportError: the request did not complete.
        """
        response = await self._http.post(
            f"{self._account}/Messages.json", data=form, auth=self._auth
        )
        return _parse_message(check_response(response))

    async def find_message(
        self, to: str, from_: str, since: datetime, body: str | None = None
    ) -> SentMessage | None:
        """The oldest message to ``to`` from ``from_`` created at or after ``since``.

        Used to learn whether an attempt whose outcome we never saw reached Twilio. ``body``:
        the text a plain send carried, which the message must have too (several parts of one
        reply go out in a row); None for a template send (``ContentSid``), whose body is what
        Twilio rendered, not anything we hold, so it is matched by number and time alone.

        The list is filtered by ``To`` and ``From`` only: ``DateSent`` stays empty while a
        message is queued (behind the sender's rate, or just accepted), so a ``DateSent>``
        filter could hide the very message we look for; the creation time is compared here.
        The oldest match is taken: our attempt was claimed before its request left, so it is
        the first message created after the claim.
        """
        slack = since - LOOKUP_SKEW
        params = {"To": to, "From": from_, "PageSize": "50"}
        response = await self._http.get(
            f"{self._account}/Messages.json", params=params, auth=self._auth
        )
        data = check_response(response)
        found: SentMessage | None = None
        for item in data.get("messages") or []:  # newest first
            message = _parse_message(item)
            if message.to != to or (body is not None and message.body != body):
                continue
            if message.date_created is None or message.date_created >= slack:
                found = message
        return found

    async def create_call(self, form: dict[str, str]) -> CallResource:
        """POST Calls.json (``To``, ``From`` and one of ``Twiml``, ``Url``, ``ApplicationSid``).

        Raises:
            TwilioError: Twilio answered with an error status.
            httpx.TransportError: the request did not complete.
        """
        response = await self._http.post(f"{self._account}/Calls.json", data=form, auth=self._auth)
        return _parse_call(check_response(response))

    async def find_call(self, to: str, from_: str, since: datetime) -> CallResource | None:
        """The newest call placed to ``to`` from ``from_`` created at or after ``since``.

        Used to learn whether an attempt whose outcome we never saw reached Twilio. The list
        is filtered by ``To`` and ``From`` only: ``StartTime`` stays empty while a call is
        queued (calls beyond the account's CPS wait), so a ``StartTime>`` filter could hide
        the very call we look for; the creation time is compared here instead.
        """
        slack = since - LOOKUP_SKEW
        params = {"To": to, "From": from_, "PageSize": "20"}
        response = await self._http.get(
            f"{self._account}/Calls.json", params=params, auth=self._auth
        )
        data = check_response(response)
        for item in data.get("calls") or []:
            call = _parse_call(item)
            if call.to != to:
                continue
            if call.date_created is None or call.date_created >= slack:
                return call
        return None


def utc_from_timestamp(ts: float) -> datetime:
    """A UTC datetime from a POSIX timestamp."""
    return datetime.fromtimestamp(ts, tz=UTC)
