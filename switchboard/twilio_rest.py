"""A small async client for the two Twilio REST calls we make: create and list Messages.

The official ``twilio`` package is synchronous (and retries on its own), so sends go
through ``httpx`` here; Temporal owns every retry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx


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


class TwilioRestClient:
    """Messages API calls against ``{base_url}/2010-04-01/Accounts/{sid}``."""

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
        return _parse_message(self._check(response))

    async def find_message(
        self, to: str, from_: str, body: str, since: datetime
    ) -> SentMessage | None:
        """The message with this exact body sent to ``to`` from ``from_`` at or after ``since``.

        Used to learn whether an attempt whose outcome we never saw reached Twilio.
        """
        slack = since - timedelta(seconds=5)  # clocks of two hosts
        params = {"To": to, "From": from_, "DateSent>": slack.date().isoformat(), "PageSize": "50"}
        response = await self._http.get(
            f"{self._account}/Messages.json", params=params, auth=self._auth
        )
        data = self._check(response)
        for item in data.get("messages") or []:
            message = _parse_message(item)
            if message.body != body or message.to != to:
                continue
            if message.date_created is None or message.date_created >= slack:
                return message
        return None

    @staticmethod
    def _check(response: httpx.Response) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            data = {}
        if response.is_success:
            return data if isinstance(data, dict) else {}
        code = data.get("code") if isinstance(data, dict) else None
        message = data.get("message") if isinstance(data, dict) else None
        raise TwilioError(
            response.status_code,
            int(code) if isinstance(code, int | str) and str(code).isdigit() else None,
            str(message or response.reason_phrase),
        )


def utc_from_timestamp(ts: float) -> datetime:
    """A UTC datetime from a POSIX timestamp."""
    return datetime.fromtimestamp(ts, tz=UTC)
