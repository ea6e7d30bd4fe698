"""The console's playground: text or call the agent as a customer, the way Twilio would.

Nothing here reaches a conversation by a shortcut. A text is the inbound webhook form the
simulator builds (``switchboard.devtools.twilio_sim``), signed with the auth token for
``PUBLIC_BASE_URL`` and posted to this gateway's own ``/twilio/messaging`` in process, so
signature validation, dedupe and limits all run; the replies land in the conversation's
transcript (the sandbox outbox "sends" them), which the page follows on its stream. A call
is a ConversationRelay session: the signed ``/twilio/voice`` webhook, then the signed relay
socket, dialled on the gateway's own listening socket; the browser's socket carries what the
caller says one way and the agent's tokens the other.

Sandbox mode only: with Twilio credentials the agent's replies (a text's, a dropped call's
follow-up, a handoff's task) would go to real phones and real people.

The call socket is authenticated by its first frame (a browser cannot set a header on a
WebSocket). Without ``GATEWAY_API_KEY`` it is open to loopback callers, as ``/api`` is, but
only from a page of this gateway: a browser lets any site open a WebSocket to localhost,
and the socket would let that site call the agent as any customer and read what it says.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
from typing import Annotated, Any, Final, Literal
from urllib.parse import urlsplit

import httpx
import structlog
from fastapi import APIRouter, Depends, HTTPException, Request, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, Field, TypeAdapter, ValidationError
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from gateway.dependencies import SettingsDep, operator_auth
from gateway.signature import websocket_url
from switchboard.contract.addresses import Channel, InvalidAddress, conversation_id, to_e164
from switchboard.devtools.twilio_sim import (
    RelayCall,
    TwilioWebhookClient,
    inbound_message_form,
    incoming_call_form,
    new_sid,
    relay_parameters_of,
    relay_url_of,
    setup_frame,
)
from switchboard.runtime.config import SANDBOX_PHONE_NUMBER, Settings

router = APIRouter(prefix="/api/console/playground", tags=["console"])
log = structlog.get_logger(__name__)

SANDBOX_ONLY: Final = (
    "the playground texts only in sandbox mode: with Twilio credentials the agent's replies "
    "would go to real phones"
)
START_SECONDS: Final = 10.0
"""A call socket must send its ``start`` frame within this long."""
TEXT_CHARS: Final = 1600
_LOOPBACK: Final = frozenset({"127.0.0.1", "::1", "localhost"})


class PlaygroundText(BaseModel):
    """``POST /api/console/playground/messages``: the customer texts the business."""

    customer: str = Field(min_length=2, max_length=40, description="E.164 number")
    channel: Literal["sms", "whatsapp"] = "sms"
    text: str = Field(min_length=1, max_length=TEXT_CHARS)


class PlaygroundSent(BaseModel):
    """The webhook went through: the conversation it reached and the message's SID."""

    conversation: str
    message_sid: str


def _business(settings: Settings) -> str:
    return settings.twilio_phone_number or SANDBOX_PHONE_NUMBER


@router.post("/messages", status_code=202, dependencies=[Depends(operator_auth)])
async def send_text(
    body: PlaygroundText, request: Request, settings: SettingsDep
) -> PlaygroundSent:
    """Text the agent as ``customer`` through the signed ``/twilio/messaging`` webhook."""
    if not settings.sandbox:
        raise HTTPException(status_code=409, detail=SANDBOX_ONLY)
    try:
        customer = to_e164(body.customer)
    except InvalidAddress as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    form = inbound_message_form(
        customer, _business(settings), body.text, channel=Channel(body.channel),
        account_sid=settings.account_sid,
    )  # fmt: skip
    # In process: the request runs the whole app (middleware, signature, dedupe, limits)
    # without a socket, and without depending on where PUBLIC_BASE_URL points.
    transport = httpx.ASGITransport(app=request.app)
    async with httpx.AsyncClient(transport=transport, timeout=30) as http:
        webhooks = TwilioWebhookClient(
            http, "http://gateway.internal", settings.auth_token, settings.public_base_url
        )
        answer = await webhooks.post("/twilio/messaging", form)
    if answer.status_code == 503:
        raise HTTPException(status_code=503, detail="Temporal unavailable: the text was not taken")
    if answer.status_code >= 400:
        log.warning("playground_text_refused", status=answer.status_code)
        raise HTTPException(
            status_code=502, detail=f"/twilio/messaging answered {answer.status_code}"
        )
    return PlaygroundSent(conversation=conversation_id(customer), message_sid=form["MessageSid"])


# --- a call as text ---------------------------------------------------------------------


class StartFrame(BaseModel):
    """The browser's first frame: the operator's key and who calls."""

    type: Literal["start"]
    key: str | None = Field(default=None, max_length=1000)
    customer: str = Field(min_length=2, max_length=40)


class SayFrame(BaseModel):
    """What the caller says (one finished utterance)."""

    type: Literal["say"]
    text: str = Field(min_length=1, max_length=TEXT_CHARS)


class HangupFrame(BaseModel):
    """The caller hangs up."""

    type: Literal["hangup"]


_CLIENT_FRAME: Final = TypeAdapter[SayFrame | HangupFrame](
    Annotated[SayFrame | HangupFrame, Field(discriminator="type")]
)


def same_origin(origin: str | None, host: str | None) -> bool:
    """Whether a socket's ``Origin`` is a page of the ``Host`` it reached.

    No ``Origin``: not a browser (a browser always sends one), so no page to trust or not.
    """
    if origin is None:
        return True
    try:
        netloc = urlsplit(origin).netloc
    except ValueError:
        return False
    return bool(netloc) and netloc.lower() == (host or "").lower()


def call_refusal(
    settings: Settings, key: str | None, host: str, *, same_site: bool = True
) -> tuple[int, str] | None:
    """The close code and reason for a call socket ``operator_auth`` would refuse; None if allowed.

    4401: a key is configured and this one is missing or wrong; 4403: no key is configured
    and the caller is remote, the page is another site's (``same_site`` False: see the
    module docstring), or the gateway is not in sandbox mode.
    """
    configured = settings.gateway_api_key
    if configured is None:
        if not settings.sandbox:
            return 4403, "set GATEWAY_API_KEY to use /api (required with Twilio credentials)"
        if host not in _LOOPBACK:
            return 4403, "set GATEWAY_API_KEY to use /api from other hosts"
        if not same_site:
            return 4403, "set GATEWAY_API_KEY to call from another site's page"
        return None
    secret = configured.get_secret_value().encode()
    if not secret or not hmac.compare_digest((key or "").strip().encode(), secret):
        return 4401, "missing or wrong key"
    return None


class _Browser:
    """The browser's socket: JSON frames out, one writer at a time."""

    def __init__(self, websocket: WebSocket) -> None:
        self.ws = websocket
        self._lock = asyncio.Lock()

    async def send(self, **frame: Any) -> None:
        async with self._lock:
            await self.ws.send_text(json.dumps(frame))

    async def error(self, detail: str) -> None:
        await self.send(type="error", detail=detail)


async def _start(browser: _Browser) -> StartFrame | None:
    """The first valid ``start`` frame (malformed ones answered and skipped); None: too late."""
    try:
        async with asyncio.timeout(START_SECONDS):
            while True:
                raw = await _receive_text(browser.ws)
                try:
                    return StartFrame.model_validate_json(raw)
                except ValidationError:
                    await browser.error('send {"type":"start","key":…,"customer":"+1…"} first')
    except TimeoutError:
        return None


async def _receive_text(websocket: WebSocket) -> str:
    """The next text frame (a binary one reads as "", which no frame model accepts)."""
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
    text = message.get("text")
    return text if isinstance(text, str) else ""


def _local_url(websocket: WebSocket) -> str:
    """This gateway's own listening socket, as the connection reached it."""
    host, port = websocket.scope.get("server") or ("127.0.0.1", 8000)
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def dial_locally(webhooks: TwilioWebhookClient, local: str, settings: Settings,
                       customer: str) -> RelayCall:  # fmt: skip
    """``RelayCall.dial`` against ``local``: the signed voice webhook, then the relay socket.

    The TwiML names the socket by ``PUBLIC_BASE_URL`` (a tunnel, say): the socket is opened
    on ``local`` instead, signed for the public URL exactly as Twilio signs it.
    """
    call_sid = new_sid("CA")
    business = _business(settings)
    form = incoming_call_form(customer, business, call_sid=call_sid,
                              account_sid=settings.account_sid)  # fmt: skip
    answer = await webhooks.post("/twilio/voice", form)
    answer.raise_for_status()
    public = relay_url_of(answer.text)  # ValueError: the gateway said it is busy
    socket_url = local.replace("http://", "ws://", 1) + local_path(public, settings)
    ws = await connect(
        socket_url, additional_headers={"X-Twilio-Signature": webhooks.sign_url(public)}
    )
    call = RelayCall(ws, call_sid)
    try:
        await call.send(
            setup_frame(customer, business, call_sid, account_sid=settings.account_sid,
                        custom_parameters=relay_parameters_of(answer.text))
        )  # fmt: skip
    except BaseException:
        await ws.close()  # else the session (and its relay slot) stays open with no one on it
        raise
    return call


def local_path(public: str, settings: Settings) -> str:
    """The path (and query) this gateway serves the socket named ``public`` on.

    ``PUBLIC_BASE_URL`` may carry a path its proxy strips (``https://example.com/sb``): the
    gateway serves ``wss://example.com/sb/twilio/relay`` on ``/twilio/relay``.
    """
    base = websocket_url(settings.public_base_url)
    if public.startswith(base + "/") or public.startswith(base + "?"):
        return public[len(base) :]
    return "/" + public.split("://", 1)[-1].partition("/")[2]


@router.websocket("/call")
async def call(websocket: WebSocket) -> None:
    """A call as text (see the module docstring and the console's API contract)."""
    settings: Settings = websocket.app.state.settings
    await websocket.accept()
    browser = _Browser(websocket)
    try:
        start = await _start(browser)
    except WebSocketDisconnect:
        return
    if start is None:
        await websocket.close(code=1008, reason="no start frame")
        return
    client = websocket.client.host if websocket.client else ""
    same_site = same_origin(websocket.headers.get("origin"), websocket.headers.get("host"))
    if (refused := call_refusal(settings, start.key, client, same_site=same_site)) is not None:
        await websocket.close(code=refused[0], reason=refused[1])
        return
    if not settings.sandbox:
        await browser.error(SANDBOX_ONLY.replace("texts", "calls"))
        await websocket.close(code=4409, reason="sandbox mode only")
        return
    try:
        customer = to_e164(start.customer)
    except InvalidAddress as exc:
        await browser.error(str(exc))
        await websocket.close(code=1008, reason="invalid customer")
        return
    local = _local_url(websocket)
    async with httpx.AsyncClient(timeout=15) as http:
        webhooks = TwilioWebhookClient(http, local, settings.auth_token, settings.public_base_url)
        try:
            relay = await dial_locally(webhooks, local, settings, customer)
        except (httpx.HTTPError, OSError, ValueError, ConnectionClosed, InvalidHandshake,
                InvalidURI) as exc:  # fmt: skip
            log.warning("playground_call_failed", error=type(exc).__name__)
            await browser.error(f"the call could not be connected: {type(exc).__name__}")
            await websocket.close(code=1011, reason="call not connected")
            return
    log.info("playground_call", call_sid=relay.call_sid)
    try:
        await browser.send(type="connected", conversation=conversation_id(customer))
        await _relay(browser, relay)
    finally:
        await relay.hang_up()  # closing the browser's socket hangs up the call
        with contextlib.suppress(Exception):
            await websocket.close()


async def _relay(browser: _Browser, relay: RelayCall) -> None:
    """Carry frames both ways until either side is done."""
    tasks = [
        asyncio.create_task(_caller_to_agent(browser, relay)),
        asyncio.create_task(_agent_to_caller(browser, relay)),
    ]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _caller_to_agent(browser: _Browser, relay: RelayCall) -> None:
    with contextlib.suppress(WebSocketDisconnect, ConnectionClosed):
        while True:
            raw = await _receive_text(browser.ws)
            try:
                frame = _CLIENT_FRAME.validate_json(raw)
            except ValidationError:
                await browser.error('expected {"type":"say","text":…} or {"type":"hangup"}')
                continue
            if isinstance(frame, HangupFrame):
                return
            await relay.say(frame.text)


async def _agent_to_caller(browser: _Browser, relay: RelayCall) -> None:
    with contextlib.suppress(WebSocketDisconnect, ConnectionClosed):
        async for raw in relay.ws:
            try:
                frame = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(frame, dict):
                continue
            kind = frame.get("type")
            if kind == "text":
                token = frame.get("token")
                await browser.send(
                    type="token", token=str(token or ""), last=bool(frame.get("last"))
                )
            elif kind == "end":
                await browser.send(type="end", reason=_end_reason(frame.get("handoffData")))
                return
        await browser.send(type="end", reason=None)  # the gateway closed the session


def _end_reason(handoff_data: object) -> str | None:
    """Why the agent ended the call: the handoff's reason, when it says."""
    if not isinstance(handoff_data, str) or not handoff_data:
        return None
    try:
        parsed = json.loads(handoff_data)
    except ValueError:
        return handoff_data[:200]
    reason = parsed.get("reason") if isinstance(parsed, dict) else None
    return str(reason)[:200] if reason else "handoff"
