"""CORS for ``/codec``: the Temporal UI calls it from the operator's browser, on its own origin.

Only ``/codec/*`` answers cross-origin, and only to the origins in ``TEMPORAL_UI_ORIGINS``
(default: the dev server's UI, ``http://localhost:8233``); every other path keeps the
browser's same-origin rule. A preflight (``OPTIONS`` with ``Access-Control-Request-Method``)
is answered here, before authentication, since browsers send it without credentials; the
real request then needs the operator's bearer token like any ``/api`` call. The headers are
added to every ``/codec`` answer from an allowed origin, a 401 included, so the UI can tell
the operator why it was refused.
"""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PREFIX = "/codec/"
ALLOWED_HEADERS = "Authorization, Content-Type, X-Namespace"
PREFLIGHT_MAX_AGE = "600"


class CodecCors:
    """ASGI middleware: CORS on ``/codec/*`` for the configured UI origins.

    Args:
        app: The application.
        origins: The origins allowed (scheme, host and port, no trailing slash).
    """

    def __init__(self, app: ASGIApp, origins: list[str]) -> None:
        self.app = app
        self.origins = frozenset(origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a preflight, or add the CORS headers to the app's answer."""
        if scope["type"] != "http" or not str(scope["path"]).startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        allowed = origin is not None and origin in self.origins
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await _preflight(send, origin if allowed else None)
            return
        if not allowed:
            await self.app(scope, receive, send)
            return

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                out["Access-Control-Allow-Origin"] = str(origin)
                out["Access-Control-Allow-Credentials"] = "true"
                out.add_vary_header("Origin")
            await send(message)

        await self.app(scope, receive, with_cors)


async def _preflight(send: Send, origin: str | None) -> None:
    # An origin not allowed gets a plain 400 without CORS headers: the browser stops there.
    headers = [(b"vary", b"Origin"), (b"content-length", b"0")]
    if origin is not None:
        headers += [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-allow-methods", b"POST, OPTIONS"),
            (b"access-control-allow-headers", ALLOWED_HEADERS.encode()),
            (b"access-control-allow-credentials", b"true"),
            (b"access-control-max-age", PREFLIGHT_MAX_AGE.encode()),
        ]
    await send(
        {"type": "http.response.start", "status": 204 if origin else 400, "headers": headers}
    )
    await send({"type": "http.response.body", "body": b""})
