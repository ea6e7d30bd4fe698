"""Request bodies: their size and media type, checked before anything reads them.

Every HTTP request body is capped by the path it goes to and checked before the app sees a
byte of it, which is before the Twilio signature or the operator key is checked: a form has
to be parsed whole before its signature can be verified, and FastAPI reads a JSON body
before a route's auth dependency runs, so any later cap would come too late. A declared
``Content-Length`` over the cap is answered 413 at once, unread; a chunked body is counted
as it streams and cut off with 413 as soon as it goes over. A body of the wrong media type
is answered 415, unparsed: Twilio's webhooks are forms, the operator API takes JSON. Both
answers close the connection, so what the client still sends is not read.

| path | at most | media type |
|---|---|---|
| ``POST /api/knowledge`` | 2 MiB | ``application/json`` |
| ``/api/*`` | 64 KiB | ``application/json`` |
| ``/codec/*`` | 8 MiB | ``application/json`` |
| ``/twilio/taskrouter`` | 1 MiB | ``application/x-www-form-urlencoded`` |
| ``/twilio/*`` | 64 KiB | ``application/x-www-form-urlencoded`` |
| anything else | 64 KiB | any |

On ``/api`` a request without a body (no ``Content-Length`` above 0, no
``Transfer-Encoding``) passes whatever its ``Content-Type``: ``POST
/api/conversations/{id}/resume`` takes none, and ``curl -d ''`` calls it a form. On
``/twilio`` a declared ``Content-Type`` must be a form even on an empty body: Twilio always
sends one, and the form parser would otherwise choose its parser by it.
ConversationRelay frames are capped by the server instead (``RELAY_FRAME_LIMIT``).
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger(__name__)

KIB = 1024
MIB = 1024 * KIB

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"

RELAY_FRAME_LIMIT = 64 * KIB
"""The largest ConversationRelay message the gateway reads (uvicorn's ``ws_max_size``).

Twilio's frames are a few hundred bytes (a ``prompt`` is one utterance); a larger one closes
the socket with 1009 (message too big) instead of the server's default of 16 MiB.
"""


@dataclass(frozen=True)
class BodyRule:
    """What a request body may be on some paths."""

    max_bytes: int
    """The largest body accepted, in bytes."""
    media_type: str | None
    """The only media type a body may have (parameters such as ``charset`` aside); None: any."""
    typed_when_empty: bool = False
    """Check the ``Content-Type`` of a request without a body too, when it declares one."""


TWILIO_FORMS = BodyRule(64 * KIB, FORM, typed_when_empty=True)
"""Twilio's webhooks: a message, a status callback or a call's form is a few KiB at most."""
TASKROUTER_EVENTS = BodyRule(1 * MIB, FORM, typed_when_empty=True)
"""TaskRouter events repeat the task's attributes: a handoff package carries up to 100
transcript lines, JSON-escaped and then form-encoded, so it gets more room than the others."""
OPERATOR_JSON = BodyRule(64 * KIB, JSON)
"""The operator API's commands (a message is at most 1,600 characters)."""
KNOWLEDGE_DOCUMENTS = BodyRule(2 * MIB, JSON)
"""``POST /api/knowledge``: one document (larger ones: split them, or use the knowledge CLI)."""
CODEC_PAYLOADS = BodyRule(8 * MIB, JSON)
"""The Temporal UI's codec calls: a batch of payloads (2 MiB each at most in Temporal), base64."""
OTHER_BODIES = BodyRule(64 * KIB, None)
"""Everything else (the sandbox's stand-in for Twilio's REST API takes forms from workers)."""


def rule_for(path: str) -> BodyRule:
    """The rule for a request to ``path`` (as decoded by the server)."""
    path = path.rstrip("/")
    if path == "/api/knowledge":
        return KNOWLEDGE_DOCUMENTS
    if path == "/api" or path.startswith("/api/"):
        return OPERATOR_JSON
    if path.startswith("/codec/"):
        return CODEC_PAYLOADS
    if path == "/twilio/taskrouter":
        return TASKROUTER_EVENTS
    if path.startswith("/twilio/"):
        return TWILIO_FORMS
    return OTHER_BODIES


def media_type(content_type: str | None) -> str:
    """``Content-Type`` without its parameters, lower case (``""`` when absent)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


class BodyTooLarge(Exception):
    """Raised from ``receive`` when a streamed body goes over its cap; answered 413."""


class BodyLimits:
    """ASGI middleware: 413 for a body over its path's cap, 415 for the wrong media type.

    Pure ASGI, so nothing is buffered: a streamed body is counted message by message, and
    the app (which may be parsing a form) is stopped with ``BodyTooLarge`` from ``receive``
    the moment the count goes over. Whatever the app answers then (FastAPI turns a failed
    body read into a 400) is dropped for the 413.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check an HTTP request's body on its way in; anything else passes untouched."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rule = rule_for(scope["path"])
        declared: int | None = None
        chunked = False
        declared_type: str | None = None
        for name, value in scope["headers"]:  # names are lower case (ASGI)
            if name == b"content-length":
                declared = _length(value)
            elif name == b"transfer-encoding":
                chunked = True
            elif name == b"content-type":
                declared_type = value.decode("latin-1")
        if declared is not None and declared > rule.max_bytes:
            await _too_large(send, scope, rule, declared)
            return
        has_body = chunked or (declared is not None and declared > 0)
        typed = has_body or (rule.typed_when_empty and declared_type is not None)
        if typed and rule.media_type and media_type(declared_type) != rule.media_type:
            log.info(
                "request_body_refused",
                path=scope["path"],
                status=415,
                content_type=media_type(declared_type)[:100],
            )
            await _answer(send, 415, f"the request body must be {rule.media_type}")
            return
        if not chunked:
            # The server holds a body to its declared length (and without one there is
            # none): only a chunked body can grow past what was checked above.
            await self.app(scope, receive, send)
            return
        await _Counted(self.app, rule, scope, receive, send).run()


class _Counted:
    """One request whose streamed body is counted against its cap."""

    def __init__(
        self, app: ASGIApp, rule: BodyRule, scope: Scope, receive: Receive, send: Send
    ) -> None:
        self._app = app
        self._rule = rule
        self._scope = scope
        self._receive = receive
        self._send = send
        self._received = 0
        self._over = False
        self._answering = False

    async def run(self) -> None:
        # Raised by our receive, through the app: answered below.
        with contextlib.suppress(BodyTooLarge):
            await self._app(self._scope, self._counted_receive, self._guarded_send)
        if self._over and not self._answering:
            await _too_large(self._send, self._scope, self._rule, self._received)

    async def _counted_receive(self) -> Message:
        if self._over:
            raise BodyTooLarge  # the app asked again after the first refusal
        message = await self._receive()
        if message["type"] == "http.request":
            self._received += len(message.get("body", b""))
            if self._received > self._rule.max_bytes:
                self._over = True
                raise BodyTooLarge
        return message

    async def _guarded_send(self, message: Message) -> None:
        if self._over:
            return  # the app's answer to a body it never got whole; ours is the 413
        if message["type"] == "http.response.start":
            self._answering = True
        await self._send(message)


def _length(raw: bytes) -> int | None:
    # The server has already refused a malformed length; this only guards against surprises.
    text = raw.strip()
    return int(text) if text.isdigit() else None


async def _too_large(send: Send, scope: Scope, rule: BodyRule, size: int) -> None:
    log.info("request_body_refused", path=scope["path"], status=413, size=size)
    await _answer(send, 413, f"the request body may be at most {rule.max_bytes} bytes")


async def _answer(send: Send, status: int, detail: str) -> None:
    """A FastAPI-shaped JSON error that closes the connection (the body is left unread)."""
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
