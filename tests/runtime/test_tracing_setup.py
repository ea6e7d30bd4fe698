"""Tracing is off without an endpoint; what spans export is scrubbed of customer data."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from switchboard.runtime.span_privacy import ScrubbingExporter, scrub_url
from switchboard.runtime.tracing import (
    client_interceptors,
    current_tracing,
    start_tracing,
    tracing_requested,
)


def test_tracing_is_requested_only_by_an_endpoint() -> None:
    assert not tracing_requested({})
    assert not tracing_requested({"OTEL_SERVICE_NAME": "x", "OTEL_EXPORTER_OTLP_ENDPOINT": " "})
    assert tracing_requested({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert tracing_requested({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"})
    assert not tracing_requested(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"}
    )


def test_without_an_endpoint_nothing_is_set_up() -> None:
    assert start_tracing("switchboard-test", environ={}) is None
    assert current_tracing() is None
    assert client_interceptors() == []


def test_urls_lose_their_query_and_fragment() -> None:
    assert scrub_url("https://api.example/v1/x?To=%2B14155550100&Body=hi#f") == (
        "https://api.example/v1/x"
    )
    assert scrub_url("/api/conversations/conv-+14155550100") == (
        "/api/conversations/conv-+•••••••0100"
    )


def test_exported_spans_carry_no_number_and_no_query() -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(ScrubbingExporter(memory)))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span(
        "GET /api/conversations/+14155550100",
        attributes={
            "temporalWorkflowID": "conv-+14155550100",
            "url.full": "https://h/x?From=%2B14155550100",
            "http.target": "/x?q=secret",
            "url.query": "q=secret",
            "tags": ["whatsapp:+14155550100"],
            "http.status_code": 200,
        },
    ) as span:
        span.add_event("exception", {"exception.message": "no route to +14155550100"})
        span.set_status(Status(StatusCode.ERROR, "failed for +14155550100"))
    [exported] = memory.get_finished_spans()
    text = repr((exported.name, exported.attributes, exported.events[0].attributes))
    text += exported.status.description or ""
    assert "14155550100" not in text
    assert "secret" not in text
    assert "url.query" not in (exported.attributes or {})
    assert exported.attributes is not None
    assert exported.attributes["temporalWorkflowID"] == "conv-+•••••••0100"
    assert exported.attributes["url.full"] == "https://h/x"
    assert exported.attributes["http.status_code"] == 200
    assert exported.name == "GET /api/conversations/+•••••••0100"
    provider.shutdown()
