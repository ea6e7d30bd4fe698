"""A test OTLP/HTTP collector: receives ``POST /v1/traces`` protobuf and keeps every span."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.support.server import serve


@dataclass
class ReceivedSpan:
    """One exported span, decoded."""

    name: str
    trace_id: str
    span_id: str
    parent_id: str
    kind: int
    service: str
    attributes: dict[str, Any]
    events: list[dict[str, Any]]
    links: list[str]
    start_ns: int

    def text(self) -> str:
        """Everything the span says, as one string (for "is X anywhere in it" checks)."""
        return repr((self.name, self.attributes, self.events))


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(each) for each in value.array_value.values]
    return getattr(value, kind) if kind else None


@dataclass
class OtlpCollector:
    """The spans received so far, and the app that receives them."""

    spans: list[ReceivedSpan] = field(default_factory=list)

    async def _traces(self, request: Request) -> Response:
        body = ExportTraceServiceRequest.FromString(await request.body())
        for resource_spans in body.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.spans.append(
                        ReceivedSpan(
                            name=span.name,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_id=span.parent_span_id.hex(),
                            kind=span.kind,
                            service=str(resource.get("service.name", "")),
                            attributes={a.key: _value(a.value) for a in span.attributes},
                            events=[
                                {a.key: _value(a.value) for a in event.attributes}
                                for event in span.events
                            ],
                            links=[link.trace_id.hex() for link in span.links],
                            start_ns=span.start_time_unix_nano,
                        )
                    )
        return Response(
            ExportTraceServiceResponse().SerializeToString(),
            media_type="application/x-protobuf",
        )

    def trace(self, trace_id: str) -> list[ReceivedSpan]:
        """Every span of one trace."""
        return [span for span in self.spans if span.trace_id == trace_id]

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[str]:
        """Serve on a free port; yields the base URL to export to."""
        app = Starlette(routes=[Route("/v1/traces", self._traces, methods=["POST"])])
        async with serve(app) as url:
            yield url
