"""The HTTP client of a Streamable HTTP MCP server's session, with its responses bounded.

The ``mcp`` SDK caps each server-sent event (``DEFAULT_MAX_SSE_EVENT_SIZE``) but reads a
plain JSON answer whole, so a server that answers a call with hundreds of megabytes would
exhaust the worker's memory before the result is cut for the model. Here every response
that is not an event stream is read through a byte cap: past ``MAX_RESPONSE_BYTES`` the
read fails (``ResponseTooLarge``, which the SDK reports as the request's error), and the
connection is closed. Responses are asked for uncompressed, so the cap is what is held.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx2
from mcp.client.streamable_http import DEFAULT_MAX_SSE_EVENT_SIZE

MAX_RESPONSE_BYTES = DEFAULT_MAX_SSE_EVENT_SIZE
"""The most bytes of one JSON response read, as for one event of a stream (1 MiB)."""


class ResponseTooLarge(httpx2.StreamError):
    """A server's response went past ``MAX_RESPONSE_BYTES``."""


def bounded_http_client(
    headers: dict[str, str], auth: httpx2.Auth | None, *, limit: int = MAX_RESPONSE_BYTES
) -> httpx2.AsyncClient:
    """A client for one MCP server: its headers and auth, MCP's timeouts, responses capped."""
    return httpx2.AsyncClient(
        headers={"Accept-Encoding": "identity", **headers},
        timeout=httpx2.Timeout(30.0, read=300.0),
        auth=auth,
        transport=_BoundedTransport(httpx2.AsyncHTTPTransport(), limit),
    )


class _BoundedTransport(httpx2.AsyncBaseTransport):
    def __init__(self, inner: httpx2.AsyncBaseTransport, limit: int) -> None:
        self._inner = inner
        self._limit = limit

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self._inner.handle_async_request(request)
        kind = response.headers.get("content-type", "").lower()
        if not kind.startswith("text/event-stream"):  # an event stream: capped per event
            stream = response.stream
            assert isinstance(stream, httpx2.AsyncByteStream)
            response.stream = _Bounded(stream, self._limit)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


class _Bounded(httpx2.AsyncByteStream):
    def __init__(self, stream: httpx2.AsyncByteStream, limit: int) -> None:
        self._stream = stream
        self._limit = limit

    async def __aiter__(self) -> AsyncIterator[bytes]:
        read = 0
        async for chunk in self._stream:
            read += len(chunk)
            if read > self._limit:
                raise ResponseTooLarge(f"the server's response is over {self._limit:,} bytes")
            yield chunk

    async def aclose(self) -> None:
        await self._stream.aclose()
