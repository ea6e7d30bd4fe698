"""Health and metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from gateway.dependencies import ConversationsDep, MetricsDep, RelaySlotsDep

router = APIRouter()


@router.get("/healthz")
async def healthz(conversations: ConversationsDep, slots: RelaySlotsDep) -> JSONResponse:
    """200 when Temporal is reachable; 503 when it is not, or while draining.

    Draining (``gateway.drain``, after SIGTERM) comes first: the load balancer must stop
    sending new calls here whatever Temporal's state.
    """
    if slots.draining:
        return JSONResponse({"status": "draining"}, status_code=503)
    if await conversations.healthy():
        return JSONResponse({"status": "ok", "temporal": "reachable"})
    return JSONResponse({"status": "degraded", "temporal": "unreachable"}, status_code=503)


@router.get("/metrics")
async def metrics(metrics: MetricsDep) -> Response:
    """Prometheus text format."""
    return Response(content=metrics.render(), media_type=CONTENT_TYPE_LATEST)
