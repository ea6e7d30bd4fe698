"""Client spans for the model's HTTP calls: the OpenAI SDK speaks ``httpx2``, not ``httpx``.

OpenTelemetry's httpx instrumentation patches ``httpx`` only, so the model's client gets a
transport of its own that opens a client span per request (the semantic conventions'
names: method, ``url.full``, server, status) and propagates the trace in the request's
headers. Nothing of the request or response body is recorded.
"""

from __future__ import annotations

import httpx2
import openai
from opentelemetry import propagate
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer
from opentelemetry.util.types import AttributeValue

from switchboard.runtime.tracing import current_tracing

_CONNECTION_LIMITS = httpx2.Limits(max_connections=1000, max_keepalive_connections=100)
"""The OpenAI SDK's own defaults, which a transport of ours would otherwise lose."""


class TracedTransport(httpx2.AsyncBaseTransport):
    """Sends through ``inner``, each request in a client span of ``tracer``."""

    def __init__(self, inner: httpx2.AsyncBaseTransport, tracer: Tracer) -> None:
        self._inner = inner
        self._tracer = tracer

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """One request, one span; the trace context goes out in its headers."""
        url = request.url
        attributes: dict[str, AttributeValue] = {
            "http.request.method": request.method,
            "url.full": str(url.copy_with(query=None, fragment=None)),
            "server.address": url.host,
            "server.port": url.port or (443 if url.scheme == "https" else 80),
        }
        with self._tracer.start_as_current_span(
            request.method, kind=SpanKind.CLIENT, attributes=attributes
        ) as span:
            propagate.inject(request.headers)
            response = await self._inner.handle_async_request(request)
            span.set_attribute("http.response.status_code", response.status_code)
            if response.status_code >= 400:
                span.set_status(Status(StatusCode.ERROR))
            return response

    async def aclose(self) -> None:
        """Close the inner transport."""
        await self._inner.aclose()


def model_http_client() -> httpx2.AsyncClient | None:
    """The OpenAI client's HTTP client when tracing is on; None (the SDK's own) when off."""
    tracing = current_tracing()
    if tracing is None:
        return None
    transport = TracedTransport(
        httpx2.AsyncHTTPTransport(limits=_CONNECTION_LIMITS),
        tracing.provider.get_tracer("switchboard.model"),
    )
    return openai.DefaultAsyncHttpxClient(transport=transport)


__all__ = ["TracedTransport", "model_http_client"]
