"""Signed Twilio requests, as Twilio would send them: for the simulator, tests and benchmarks."""

from __future__ import annotations

import secrets
from collections.abc import Mapping

import httpx
from twilio.request_validator import RequestValidator

from switchboard.addresses import Channel, channel_address


def new_sid(prefix: str = "SM") -> str:
    """A random Twilio-style SID (``SM`` + 32 hex digits)."""
    return prefix + secrets.token_hex(16)


def inbound_message_form(
    customer: str,
    business: str,
    body: str,
    *,
    channel: Channel = Channel.SMS,
    message_sid: str | None = None,
    account_sid: str = "AC" + "0" * 32,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The form Twilio posts for an inbound SMS or WhatsApp message."""
    sid = message_sid or new_sid()
    form = {
        "ToCountry": "US",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "SmsSid": sid,
        "SmsStatus": "received",
        "Body": body,
        "To": channel_address(business, channel),
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": account_sid,
        "From": channel_address(customer, channel),
        "ApiVersion": "2010-04-01",
    }
    if channel is Channel.WHATSAPP:
        form["WaId"] = customer.lstrip("+")
        form["ProfileName"] = "Customer"
    form.update(extra or {})
    return form


class TwilioWebhookClient:
    """Posts correctly signed webhooks to a gateway, exactly as Twilio signs them."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        gateway_url: str,
        auth_token: str,
        public_base_url: str | None = None,
    ) -> None:
        self._http = http
        self._gateway = gateway_url.rstrip("/")
        self._public = (public_base_url or gateway_url).rstrip("/")
        self._validator = RequestValidator(auth_token)

    def signature(self, path: str, form: Mapping[str, str]) -> str:
        """``X-Twilio-Signature`` for a POST of ``form`` to ``path`` (which may carry a query)."""
        return str(self._validator.compute_signature(f"{self._public}{path}", dict(form)))

    async def post(
        self,
        path: str,
        form: Mapping[str, str],
        *,
        signature: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """POST a form to the gateway, signed (or with the given ``signature``)."""
        sent_headers = {"X-Twilio-Signature": signature or self.signature(path, form)}
        sent_headers.update(headers or {})
        return await self._http.post(
            f"{self._gateway}{path}", data=dict(form), headers=sent_headers
        )
