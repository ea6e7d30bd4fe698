"""What ``GET /api/insights`` reports, defined precisely, and how it is computed.

Which conversations count: closed conversation runs (one ``ConversationFacts`` row each,
written once at close) that started in ``[from, to)``; with ``channel``, only the runs that
used that channel (among others, maybe). Conversations still open do not count yet.

Metrics, for the totals and for each bucket of the series (over that bucket's runs):

- ``conversations``: the runs counted.
- ``engaged``: runs with at least one customer turn (``customer_turns >= 1``).
- ``contained``: engaged runs with no handoff (``handoffs == 0``); ``handed_off``: engaged
  runs with at least one handoff.
- ``containment_rate`` = contained ÷ engaged.
- ``handoff_rate`` = handed off ÷ engaged (so containment + handoff = 1 when any engaged).
- ``handoff_reasons``: reason → how many handoffs gave it: each entry of the
  ``handoff_reasons`` of a run with a handoff (``handoffs >= 1``) counts once.
- ``resolution_rate`` = resolved ÷ runs with a known outcome, where known means ``resolved``
  is not None (the outcome operator judged the run) and resolved means it is True.
- ``abandonment_rate`` = abandoned ÷ conversations, where a run is abandoned when the customer
  wrote and never got a reply (``customer_turns >= 1 and assistant_turns == 0``) or when it
  has fewer than two customer turns and is not resolved (``customer_turns < 2 and resolved
  is not True``).
- ``repeat_contact_rate`` = repeat contacts ÷ contained, where a repeat contact is a contained
  run whose customer started another run (on any channel, counted here or not: it may start
  after ``to``) after this one started and at most 24 hours after this one closed. Only
  closed runs are known, so a follow-up still open is not seen until it closes.
- ``average_handle_seconds`` = the sum of ``handle_seconds`` ÷ conversations.
- ``first_response_ms``: ``p50`` and ``p95`` of ``first_response_ms`` (stored to the
  microsecond) over the runs that have one, interpolated linearly between the closest ranks
  (as ``percentile_cont`` and numpy's default do); None when no run has one.
- ``interruption_rate`` = the sum of ``interruptions`` ÷ the sum of ``voice_replies``
  (capped at 1).
- ``sentiment``, ``topics``: label → runs whose final label it is (runs without one are left
  out).
- ``tool_success_rate`` = (tool calls - tool failures) ÷ tool calls, summed over the runs.
- ``tokens_per_resolved`` = the sum of ``tokens`` (every run counted) ÷ resolved runs;
  ``cost`` = that sum * ``LLM_PRICE_PER_1K_TOKENS`` / 1000 and ``cost_per_resolved`` = cost ÷
  resolved runs, both None when no price is set.
- ``resolved``, ``abandoned``: the numerators above; ``callbacks``, ``delivery_failures``,
  ``tokens``: sums; ``opted_out``: runs in which the customer opted out.

Rates are fractions in [0, 1], and 0 when their denominator is 0.

The series: buckets of a UTC calendar day (from 00:00) or an ISO week (from Monday 00:00
UTC), every bucket from the one that holds ``from`` to the last that starts before ``to``,
empty ones included (all zeros). A bucket's ``start`` may lie before ``from``: only runs that
started in ``[from, to)`` count in it.

A backend reads additive counts per UTC day in SQL (``COUNT_COLUMNS``, label counts, and the
first-response times); ``compute`` folds the days into buckets and totals and derives the
rates and the percentiles, so both backends share every definition.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from switchboard.contract.intelligence import (
    Insights,
    InsightsBucket,
    InsightsMetrics,
    InsightsQuery,
    Percentiles,
)

REPEAT_WINDOW = timedelta(hours=24)
"""A contained run followed by another of the customer's within this long is a repeat contact."""

LABEL_KINDS = ("sentiment", "topic", "handoff_reason")
"""The kinds of ``InsightsRows.labels``."""


@dataclass
class DayCounts:
    """The additive counts of one UTC day's runs, as ``COUNT_COLUMNS`` reads them."""

    conversations: int = 0
    engaged: int = 0
    contained: int = 0
    handed_off: int = 0
    known_outcome: int = 0
    resolved: int = 0
    abandoned: int = 0
    repeat_contacts: int = 0
    handle_seconds: float = 0.0
    interruptions: int = 0
    voice_replies: int = 0
    tool_calls: int = 0
    tool_failures: int = 0
    tokens: int = 0
    callbacks: int = 0
    delivery_failures: int = 0
    opted_out: int = 0

    @classmethod
    def of_row(cls, row: Sequence[Any]) -> DayCounts:
        """The counts from a row of the ``COUNT_COLUMNS`` values, in their order (NULL: 0)."""
        values: dict[str, Any] = {
            f.name: float(v or 0) if f.name == "handle_seconds" else int(v or 0)
            for f, v in zip(fields(cls), row, strict=True)
        }
        return cls(**values)

    def add(self, other: DayCounts) -> None:
        """Add ``other``'s counts to these."""
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


_ENGAGED = "customer_turns >= 1"
_CONTAINED = f"{_ENGAGED} AND handoffs = 0"

COUNT_COLUMNS: dict[str, str] = {
    "conversations": "count(*)",
    "engaged": f"sum(CASE WHEN {_ENGAGED} THEN 1 ELSE 0 END)",
    "contained": f"sum(CASE WHEN {_CONTAINED} THEN 1 ELSE 0 END)",
    "handed_off": f"sum(CASE WHEN {_ENGAGED} AND handoffs > 0 THEN 1 ELSE 0 END)",
    "known_outcome": "sum(CASE WHEN resolved IS NOT NULL THEN 1 ELSE 0 END)",
    "resolved": "sum(CASE WHEN resolved IS TRUE THEN 1 ELSE 0 END)",
    "abandoned": (
        "sum(CASE WHEN (customer_turns >= 1 AND assistant_turns = 0) "
        "OR (customer_turns < 2 AND resolved IS NOT TRUE) THEN 1 ELSE 0 END)"
    ),
    "repeat_contacts": f"sum(CASE WHEN {_CONTAINED} AND repeat_contact IS TRUE THEN 1 ELSE 0 END)",
    "handle_seconds": "sum(handle_seconds)",
    "interruptions": "sum(interruptions)",
    "voice_replies": "sum(voice_replies)",
    "tool_calls": "sum(tool_calls)",
    "tool_failures": "sum(tool_failures)",
    "tokens": "sum(tokens)",
    "callbacks": "sum(callbacks)",
    "delivery_failures": "sum(delivery_failures)",
    "opted_out": "sum(CASE WHEN opted_out THEN 1 ELSE 0 END)",
}
"""``DayCounts``' fields as SQL aggregates over ``conversation_facts`` rows (both backends:
SQLite's 0/1 integers and PostgreSQL's booleans read the same through ``IS TRUE``)."""

assert list(COUNT_COLUMNS) == [f.name for f in fields(DayCounts)]


@dataclass
class InsightsRows:
    """What a backend reads for one ``InsightsQuery``, per UTC day of ``started_at``."""

    days: dict[date, DayCounts] = field(default_factory=dict)
    labels: list[tuple[date, str, str, int]] = field(default_factory=list)
    """(day, kind, label, count); kind is one of ``LABEL_KINDS``."""
    response_ms: dict[date, list[float]] = field(default_factory=dict)
    """Every run's ``first_response_ms`` (those that have one), in any order."""


def utc(at: datetime) -> datetime:
    """A time in UTC (naive times are UTC)."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _bucket_of(day: date, interval: str) -> date:
    return day if interval == "day" else day - timedelta(days=day.weekday())


def bucket_starts(start: datetime, end: datetime, interval: str) -> list[datetime]:
    """The starts of the buckets covering ``[start, end)``: UTC days, or ISO weeks."""
    first = _bucket_of(utc(start).date(), interval)
    step = timedelta(days=1 if interval == "day" else 7)
    at, end = datetime.combine(first, time(), tzinfo=UTC), utc(end)
    starts: list[datetime] = []
    while at < end:
        starts.append(at)
        at += step
    return starts


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile of sorted values, interpolated linearly (None for no values)."""
    if not ordered:
        return None
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _rate(numerator: float, denominator: float) -> float:
    return min(1.0, max(0.0, numerator / denominator)) if denominator > 0 else 0.0


def _metrics(
    counts: DayCounts,
    labels: dict[str, dict[str, int]],
    response_ms: list[float],
    price_per_1k: float | None,
) -> dict[str, object]:
    response_ms.sort()
    cost = None if price_per_1k is None else counts.tokens * price_per_1k / 1000
    return {
        "conversations": counts.conversations,
        "containment_rate": _rate(counts.contained, counts.engaged),
        "handoff_rate": _rate(counts.handed_off, counts.engaged),
        "handoff_reasons": _ranked(labels["handoff_reason"]),
        "resolution_rate": _rate(counts.resolved, counts.known_outcome),
        "abandonment_rate": _rate(counts.abandoned, counts.conversations),
        "repeat_contact_rate": _rate(counts.repeat_contacts, counts.contained),
        "average_handle_seconds": (
            counts.handle_seconds / counts.conversations if counts.conversations else 0.0
        ),
        "first_response_ms": Percentiles(
            p50=percentile(response_ms, 0.5), p95=percentile(response_ms, 0.95)
        ),
        "interruption_rate": _rate(counts.interruptions, counts.voice_replies),
        "sentiment": _ranked(labels["sentiment"]),
        "topics": _ranked(labels["topic"]),
        "tool_success_rate": _rate(counts.tool_calls - counts.tool_failures, counts.tool_calls),
        "tokens_per_resolved": counts.tokens / counts.resolved if counts.resolved else 0.0,
        "engaged": counts.engaged,
        "contained": counts.contained,
        "handed_off": counts.handed_off,
        "resolved": counts.resolved,
        "abandoned": counts.abandoned,
        "callbacks": counts.callbacks,
        "delivery_failures": counts.delivery_failures,
        "opted_out": counts.opted_out,
        "tokens": counts.tokens,
        "cost": cost,
        "cost_per_resolved": (
            cost / counts.resolved if cost is not None and counts.resolved else None
        ),
    }


def _ranked(counts: dict[str, int]) -> dict[str, int]:
    """Label counts, the most frequent first (then by label)."""
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def _label_table() -> dict[str, dict[str, int]]:
    return {kind: defaultdict(int) for kind in LABEL_KINDS}


def compute(query: InsightsQuery, rows: InsightsRows) -> Insights:
    """The insights for ``query`` from the per-day rows a backend read for it."""
    interval = query.interval
    starts = bucket_starts(query.start, query.end, interval)
    keys = [s.date() for s in starts]
    counts = {key: DayCounts() for key in keys}
    labels = {key: _label_table() for key in keys}
    response: dict[date, list[float]] = {key: [] for key in keys}
    total_counts, total_labels, total_response = DayCounts(), _label_table(), []

    for day, day_counts in rows.days.items():
        counts[_bucket_of(day, interval)].add(day_counts)
        total_counts.add(day_counts)
    for day, kind, label, n in rows.labels:
        labels[_bucket_of(day, interval)][kind][label] += n
        total_labels[kind][label] += n
    for day in sorted(rows.response_ms):
        values = sorted(rows.response_ms[day])  # sorted runs: merging them is cheap below
        response[_bucket_of(day, interval)].extend(values)
        total_response.extend(values)

    return Insights(
        start=utc(query.start),
        end=utc(query.end),
        channel=query.channel,
        interval=interval,
        totals=InsightsMetrics.model_validate(
            _metrics(total_counts, total_labels, total_response, query.price_per_1k_tokens)
        ),
        series=[
            InsightsBucket.model_validate(
                {
                    "start": start,
                    **_metrics(counts[key], labels[key], response[key], query.price_per_1k_tokens),
                }
            )
            for start, key in zip(starts, keys, strict=True)
        ],
    )
