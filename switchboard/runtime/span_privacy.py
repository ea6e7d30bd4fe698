"""Customer data out of the spans: an exporter wrapper that scrubs every span before it leaves.

The instrumentations record what they record (FastAPI the request path, httpx the full
URL, Temporal's interceptor the workflow id ``conv-<E.164>``), so rather than trust each
one, every span is rewritten on its way out: phone numbers masked wherever they appear (the
name, every attribute, every event, the status), query strings and fragments cut from every
URL attribute and ``url.query`` dropped. Bodies are never recorded by these
instrumentations, and no header is unless ``OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_*``
asks for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Status
from opentelemetry.util.types import Attributes

from switchboard.runtime.log_privacy import mask_numbers_in

URL_ATTRIBUTES = frozenset({"http.url", "url.full", "http.target", "url.path"})
"""Attributes holding a URL or a path: their query string and fragment are cut."""

DROPPED_ATTRIBUTES = frozenset({"url.query"})
"""Attributes never exported."""


def scrub_text(text: str) -> str:
    """``text`` with every phone number masked but its last four digits."""
    return mask_numbers_in(text) if ("+" in text or "%2" in text) else text


def scrub_url(url: str) -> str:
    """``url`` without its query string or fragment, numbers masked."""
    for mark in ("?", "#"):
        url = url.split(mark, 1)[0]
    return scrub_text(url)


def scrub_attributes(attributes: Attributes) -> dict[str, Any]:
    """The attributes to export: URLs cut, numbers masked, ``url.query`` gone."""
    scrubbed: dict[str, Any] = {}
    for key, value in (attributes or {}).items():
        if key in DROPPED_ATTRIBUTES:
            continue
        if isinstance(value, str):
            scrubbed[key] = scrub_url(value) if key in URL_ATTRIBUTES else scrub_text(value)
        elif isinstance(value, Sequence) and not isinstance(value, bytes | str):
            scrubbed[key] = tuple(scrub_text(v) if isinstance(v, str) else v for v in value)
        else:
            scrubbed[key] = value
    return scrubbed


def scrub_span(span: ReadableSpan) -> ReadableSpan:
    """A copy of ``span`` safe to export."""
    status = span.status
    if status.description:
        status = Status(status.status_code, scrub_text(status.description))
    return ReadableSpan(
        name=scrub_text(span.name),
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=scrub_attributes(span.attributes),
        events=[
            Event(event.name, scrub_attributes(event.attributes), event.timestamp)
            for event in span.events
        ],
        links=span.links,
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class ScrubbingExporter(SpanExporter):
    """Exports through ``inner`` every span scrubbed by ``scrub_span``."""

    def __init__(self, inner: SpanExporter) -> None:
        self._inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Scrub, then export."""
        return self._inner.export([scrub_span(span) for span in spans])

    def shutdown(self) -> None:
        """Shut the inner exporter down."""
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flush the inner exporter."""
        return self._inner.force_flush(timeout_millis)


__all__ = ["ScrubbingExporter", "scrub_attributes", "scrub_span", "scrub_text", "scrub_url"]
