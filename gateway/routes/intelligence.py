"""Operator API for conversation intelligence: a conversation's operator results, and insights.

``GET /api/conversations/{id}/intelligence`` answers the results of the conversation's
latest run, oldest first; ``GET /api/insights`` the aggregates over the conversations that
started in ``[from, to)`` (definitions in ``switchboard.insights.metrics``).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from fastapi import APIRouter, Depends, HTTPException, Query

from gateway.conversations import TemporalUnavailable
from gateway.dependencies import ConversationsDep, SettingsDep, StoreDep, operator_auth
from switchboard.contract.addresses import Channel, InvalidAddress, conversation_id, customer_of
from switchboard.contract.intelligence import Insights, InsightsQuery, IntelligenceView

router = APIRouter(prefix="/api", dependencies=[Depends(operator_auth)], tags=["intelligence"])

DEFAULT_RANGE = timedelta(days=30)
"""Without ``from``, insights cover this long before ``to``."""
MAX_RANGE = timedelta(days=366)
"""The longest ``[from, to)`` one request may ask for."""
INTERVALS = ("day", "week")


@router.get("/conversations/{conversation}/intelligence")
async def conversation_intelligence(
    conversation: str, store: StoreDep, conversations: ConversationsDep
) -> IntelligenceView:
    """The operator results of the conversation's latest run, oldest first.

    A conversation with no results answers an empty list when it exists (open, or closed
    and still known to Temporal), 404 otherwise.
    """
    try:
        cid = conversation_id(customer_of(conversation))
    except InvalidAddress as exc:
        raise HTTPException(status_code=404, detail=f"no conversation {conversation!r}") from exc
    results = await store.operator_results(cid)
    if not results:
        try:
            view = await conversations.describe(cid)
        except TemporalUnavailable as exc:
            raise HTTPException(status_code=503, detail=f"Temporal unavailable: {exc}") from exc
        if view is None:
            raise HTTPException(status_code=404, detail=f"no conversation {conversation!r}")
    return IntelligenceView(conversation_id=cid, results=results)


def _time(name: str, raw: str) -> datetime:
    """An ISO-8601 time or date from the query string (UTC when it has no offset)."""
    text = raw.strip()
    for candidate in (text, text.replace(" ", "+")):  # a "+" offset sent unencoded
        try:
            parsed = datetime.fromisoformat(candidate)
        except ValueError:
            continue
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    raise HTTPException(
        status_code=422,
        detail=f"{name}: not an ISO-8601 time or date: {raw!r} "
        "(for example 2026-11-01 or 2026-11-01T00:00:00Z)",
    )


@router.get("/insights")
async def insights(
    store: StoreDep,
    settings: SettingsDep,
    start: str | None = Query(
        default=None, alias="from", description="ISO-8601; default: 30 days before `to`"
    ),
    end: str | None = Query(
        default=None, alias="to", description="ISO-8601, exclusive; default: the end of today"
    ),
    channel: str | None = Query(default=None, description="sms, whatsapp or voice"),
    interval: str = Query(default="day", description="day or week (UTC)"),
) -> Insights:
    """Aggregates over the conversations that started in ``[from, to)``, with a series.

    Defaults: ``to`` is the end of today (the next midnight, UTC) and ``from`` 30 days
    before ``to``; ``interval`` is ``day``. The range may span at most 366 days.
    """
    if interval not in INTERVALS:
        raise HTTPException(
            status_code=422, detail=f"interval must be day or week, not {interval!r}"
        )
    wanted: Channel | None = None
    if channel:
        try:
            wanted = Channel(channel.strip().lower())
        except ValueError as exc:
            names = ", ".join(c.value for c in Channel)
            raise HTTPException(
                status_code=422, detail=f"channel must be one of {names}, not {channel!r}"
            ) from exc
    if end:
        until = _time("to", end)
    else:
        tomorrow = datetime.now(UTC).date() + timedelta(days=1)
        until = datetime.combine(tomorrow, time(), tzinfo=UTC)
    since = _time("from", start) if start else until - DEFAULT_RANGE
    if since >= until:
        raise HTTPException(status_code=422, detail="from must be before to")
    if until - since > MAX_RANGE:
        raise HTTPException(
            status_code=422,
            detail=f"from and to may be at most {MAX_RANGE.days} days apart",
        )
    query = InsightsQuery(
        start=since,
        end=until,
        channel=wanted,
        interval=interval,
        price_per_1k_tokens=settings.llm_price_per_1k_tokens,
    )
    return await store.insights(query)
