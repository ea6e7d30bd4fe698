"""Signed Twilio requests, as Twilio would send them: for the simulator, tests and benchmarks."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Mapping
from typing import Any
from xml.etree import ElementTree

import httpx
from twilio.request_validator import RequestValidator
from websockets.asyncio.client import ClientConnection, connect

from switchboard.contract.addresses import Channel, channel_address


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

    def sign_url(self, url: str) -> str:
        """``X-Twilio-Signature`` of a request with no parameters (a WebSocket upgrade)."""
        return str(self._validator.compute_signature(url, {}))

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


# --- voice ------------------------------------------------------------------------------


def incoming_call_form(
    caller: str,
    business: str,
    *,
    call_sid: str | None = None,
    account_sid: str = "AC" + "0" * 32,
) -> dict[str, str]:
    """The form Twilio posts to a number's Voice URL for an incoming call."""
    return {
        "AccountSid": account_sid,
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid or new_sid("CA"),
        "CallStatus": "ringing",
        "Called": business,
        "Caller": caller,
        "Direction": "inbound",
        "From": caller,
        "To": business,
        "CallToken": "",
    }


def _relay_noun(twiml: str) -> ElementTree.Element:
    noun = ElementTree.fromstring(twiml).find("./Connect/ConversationRelay")
    if noun is None or "url" not in noun.attrib:
        raise ValueError(f"no <Connect><ConversationRelay url=…> in {twiml[:200]!r}")
    return noun


def relay_url_of(twiml: str) -> str:
    """The ``url`` of the ``<ConversationRelay>`` in a TwiML document."""
    return _relay_noun(twiml).attrib["url"]


def relay_parameters_of(twiml: str) -> dict[str, str]:
    """The ``<Parameter name value>`` children of the ``<ConversationRelay>``.

    Twilio hands them to the socket in ``setup.customParameters`` (the relay token too).
    """
    return {
        child.attrib["name"]: child.attrib.get("value", "")
        for child in _relay_noun(twiml).findall("./Parameter")
        if "name" in child.attrib
    }


def setup_frame(
    caller: str,
    business: str,
    call_sid: str,
    *,
    account_sid: str = "AC" + "0" * 32,
    direction: str = "inbound",
    custom_parameters: Mapping[str, str] | None = None,
) -> dict[str, object]:
    """The ``setup`` message ConversationRelay sends first on a new socket.

    ``custom_parameters`` are the TwiML's ``<Parameter>`` values (``relay_parameters_of``).
    """
    inbound = direction == "inbound"
    return {
        "type": "setup",
        "sessionId": new_sid("VX"),
        "accountSid": account_sid,
        "parentCallSid": "",
        "callSid": call_sid,
        "from": caller if inbound else business,
        "to": business if inbound else caller,
        "forwardedFrom": "",
        "callType": "PSTN",
        "callerName": "",
        "direction": direction,
        "callStatus": "RINGING" if inbound else "IN-PROGRESS",
        "customParameters": dict(custom_parameters or {}),
    }


class RelayCall:
    """A call as ConversationRelay carries it: a signed socket speaking its JSON frames."""

    def __init__(self, ws: ClientConnection, call_sid: str) -> None:
        self.ws = ws
        self.call_sid = call_sid
        self.received: list[dict[str, Any]] = []

    @classmethod
    async def dial(
        cls,
        webhooks: TwilioWebhookClient,
        caller: str,
        business: str,
        *,
        account_sid: str = "AC" + "0" * 32,
        call_sid: str | None = None,
    ) -> RelayCall:
        """Place an incoming call: the Voice webhook, then the socket its TwiML names."""
        call_sid = call_sid or new_sid("CA")
        form = incoming_call_form(caller, business, call_sid=call_sid, account_sid=account_sid)
        answer = await webhooks.post("/twilio/voice", form)
        answer.raise_for_status()
        return await cls.connect(webhooks, answer.text, caller, business, call_sid, account_sid)

    @classmethod
    async def connect(
        cls,
        webhooks: TwilioWebhookClient,
        twiml: str,
        caller: str,
        business: str,
        call_sid: str,
        account_sid: str = "AC" + "0" * 32,
        direction: str = "inbound",
    ) -> RelayCall:
        """Open the signed socket a ``<Connect><ConversationRelay>`` document names.

        ``caller`` is the customer; on an outbound call (``direction="outbound-api"``) the
        setup names the business as ``from``. The document's ``<Parameter>`` values (the
        call's relay token among them) go into the setup's ``customParameters``.
        """
        url = relay_url_of(twiml)
        ws = await connect(url, additional_headers={"X-Twilio-Signature": webhooks.sign_url(url)})
        call = cls(ws, call_sid)
        await call.send(
            setup_frame(
                caller, business, call_sid, account_sid=account_sid, direction=direction,
                custom_parameters=relay_parameters_of(twiml),
            )
        )  # fmt: skip
        return call

    async def send(self, frame: dict[str, object] | str) -> None:
        """Send one frame (a dict as JSON, or raw text as is)."""
        await self.ws.send(frame if isinstance(frame, str) else json.dumps(frame))

    async def say(self, text: str) -> None:
        """The caller finished saying ``text`` (a final ``prompt``)."""
        await self.send({"type": "prompt", "voicePrompt": text, "lang": "en-US", "last": True})

    async def interrupt(self, heard: str, duration_ms: int | str = 460) -> None:
        """The caller barged in after hearing ``heard``."""
        await self.send(
            {
                "type": "interrupt",
                "utteranceUntilInterrupt": heard,
                "durationUntilInterruptMs": duration_ms,
            }
        )

    async def press(self, digits: str) -> None:
        """The caller pressed keys."""
        for digit in digits:
            await self.send({"type": "dtmf", "digit": digit})

    async def frame(self, within: float = 10.0) -> dict[str, Any]:
        """The next frame from the gateway."""
        async with asyncio.timeout(within):
            raw = await self.ws.recv()
        frame: dict[str, Any] = json.loads(raw)
        self.received.append(frame)
        return frame

    async def reply(self, within: float = 10.0) -> str:
        """Everything spoken until the next ``last: true`` text token, joined."""
        text = ""
        while True:
            frame = await self.frame(within)
            if frame.get("type") == "text":
                text += str(frame["token"])
                if frame.get("last"):
                    return text

    async def hang_up(self) -> None:
        """The caller hangs up (Twilio closes the socket normally)."""
        await self.ws.close()
