"""OpenTelemetry tracing of a process: on only when an OTLP endpoint is configured.

With ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) set,
``start_tracing`` builds a tracer provider that exports OTLP over HTTP/protobuf, every span
scrubbed first (``span_privacy``), and instruments httpx (Twilio, the model, webhooks).
Then ``connect`` puts Temporal's ``TracingInterceptor`` on every client (workers inherit
it), and ``create_app`` instruments the FastAPI app. Without an endpoint nothing is set up:
no provider, no instrumentation, no interceptor.

The provider is passed to each instrumentation rather than installed as OpenTelemetry's
global one (which can be set once per process), so tests can start and stop tracing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import structlog
from fastapi import FastAPI
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor

from switchboard.runtime.span_privacy import ScrubbingExporter
from switchboard.runtime.turn_tracing import TurnTracingInterceptor

log = structlog.get_logger(__name__)

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
"""Either one turns tracing on."""

UNTRACED_ROUTES = "/healthz$,/metrics$"
"""Scrapes and probes: frequent, and of no interest in a trace."""


def tracing_requested(environ: Mapping[str, str] = os.environ) -> bool:
    """True when an OTLP endpoint is set and ``OTEL_SDK_DISABLED`` is not ``true``."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return any(environ.get(name, "").strip() for name in ENDPOINT_VARIABLES)


class Tracing:
    """A process's tracing: the provider, and what is instrumented with it."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self._httpx = HTTPXClientInstrumentor()
        self._httpx.instrument(tracer_provider=provider)

    def interceptor(self) -> TracingInterceptor:
        """Temporal's interceptor: spans for client calls, workflow tasks and activities.

        Its workflows trace their activities under the latest turn (``turn_tracing``).
        """
        return TurnTracingInterceptor(self.provider.get_tracer("switchboard.temporal"))

    def instrument_app(self, app: FastAPI) -> None:
        """A server span for every request and socket (the ASGI send/receive spans left out)."""
        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=self.provider,
            excluded_urls=UNTRACED_ROUTES,
            exclude_spans=["receive", "send"],
        )

    def shutdown(self) -> None:
        """Export what is left and stop instrumenting httpx."""
        self._httpx.uninstrument()
        self.provider.shutdown()


_current: Tracing | None = None


def current_tracing() -> Tracing | None:
    """This process's tracing, or None when it is off."""
    return _current


def start_tracing(
    service_name: str, *, endpoint: str | None = None, environ: Mapping[str, str] = os.environ
) -> Tracing | None:
    """Turn tracing on for this process if an endpoint is configured; idempotent.

    ``service_name`` is the default for ``OTEL_SERVICE_NAME``. ``endpoint`` (a base URL,
    ``/v1/traces`` appended) overrides the environment; the other ``OTEL_*`` variables
    (headers, timeout, resource attributes, the batch processor's settings) are read by the
    SDK itself.
    """
    global _current
    if _current is not None:
        return _current
    if endpoint is None and not tracing_requested(environ):
        return None
    named = {} if environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service_name}
    provider = TracerProvider(resource=Resource.create(named))
    exporter = (
        OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces")
        if endpoint
        else OTLPSpanExporter()
    )
    provider.add_span_processor(BatchSpanProcessor(ScrubbingExporter(exporter)))
    _current = Tracing(provider)
    log.info("tracing_on", service=provider.resource.attributes.get(SERVICE_NAME))
    return _current


def stop_tracing() -> None:
    """Flush and turn tracing off (clients already connected keep their interceptor)."""
    global _current
    if _current is not None:
        _current.shutdown()
        _current = None


def client_interceptors() -> list[TracingInterceptor]:
    """The interceptors ``connect`` gives a new client: Temporal's tracing one when on."""
    return [_current.interceptor()] if _current else []


def worker_interceptors(client: Client) -> list[TracingInterceptor]:
    """The tracing interceptor for a worker on ``client``, unless the client has one.

    A worker inherits its client's interceptors; this covers a client made elsewhere.
    """
    if _current is None:
        return []
    interceptors = client.config().get("interceptors", [])
    if any(isinstance(each, TracingInterceptor) for each in interceptors):
        return []
    return [_current.interceptor()]


def instrument_app(app: FastAPI) -> None:
    """Instrument the gateway's app when tracing is on."""
    if _current is not None:
        _current.instrument_app(app)


__all__ = [
    "Tracing",
    "client_interceptors",
    "current_tracing",
    "instrument_app",
    "start_tracing",
    "stop_tracing",
    "tracing_requested",
    "worker_interceptors",
]
