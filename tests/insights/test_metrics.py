"""The pieces of ``switchboard.insights``: buckets, percentiles, rates from counts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from switchboard.contract.intelligence import InsightsQuery
from switchboard.insights import DayCounts, InsightsRows, bucket_starts, compute, percentile


def at(day: int, hour: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)  # 2026-03-02 is a Monday


def test_day_buckets_cover_the_range() -> None:
    assert bucket_starts(at(2), at(5), "day") == [at(2), at(3), at(4)]
    assert bucket_starts(at(2, 13), at(4, 1), "day") == [at(2), at(3), at(4)]
    assert bucket_starts(at(2), at(2), "day") == []


def test_week_buckets_start_on_monday_utc() -> None:
    assert bucket_starts(at(4, 12), at(17), "week") == [at(2), at(9), at(16)]
    assert bucket_starts(at(9), at(16), "week") == [at(9)]
    naive = datetime(2026, 3, 4, 12)  # naive times are UTC
    assert bucket_starts(naive, at(10), "week") == [at(2), at(9)]
    # Sunday 20:00 at UTC-5 is Monday 01:00 UTC: in the next week.
    eastern = datetime(2026, 3, 8, 20, tzinfo=timezone(timedelta(hours=-5)))
    assert bucket_starts(eastern, at(10), "week") == [at(9)]


def test_percentiles_interpolate_between_ranks() -> None:
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.95) == 7.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.95) == 95.05


def test_rates_from_counts_and_empty_buckets() -> None:
    query = InsightsQuery(start=at(2), end=at(4), interval="day")
    rows = InsightsRows(
        days={
            date(2026, 3, 3): DayCounts(
                conversations=4, engaged=3, contained=2, handed_off=1, known_outcome=2,
                resolved=1, abandoned=1, repeat_contacts=1, handle_seconds=100.0,
                interruptions=3, voice_replies=2, tool_calls=4, tool_failures=1, tokens=900,
            )
        },
        labels=[(date(2026, 3, 3), "topic", "billing", 2), (date(2026, 3, 3), "topic", "x", 3)],
        response_ms={date(2026, 3, 3): [300.0, 100.0, 200.0]},
    )  # fmt: skip
    insights = compute(query, rows)
    empty, day = insights.series
    assert empty.start == at(2) and empty.conversations == 0 and empty.containment_rate == 0
    assert empty.first_response_ms.p50 is None
    assert day.containment_rate == 2 / 3 and day.handoff_rate == 1 / 3
    assert day.resolution_rate == 0.5 and day.abandonment_rate == 0.25
    assert day.repeat_contact_rate == 0.5 and day.average_handle_seconds == 25.0
    assert day.interruption_rate == 1.0  # capped
    assert day.tool_success_rate == 0.75 and day.tokens_per_resolved == 900.0
    assert day.first_response_ms.p50 == 200.0
    assert list(day.topics.items()) == [("x", 3), ("billing", 2)]  # most frequent first
    assert insights.totals.conversations == 4
    dumped = insights.model_dump(mode="json")
    assert dumped["from"] == "2026-03-02T00:00:00Z" and dumped["to"] == "2026-03-04T00:00:00Z"
    assert set(dumped["series"][0]) >= {"start", "conversations", "first_response_ms"}
    assert query.start + timedelta(days=2) == insights.end
    assert day.cost is None and day.cost_per_resolved is None  # no price set
    priced = compute(query.model_copy(update={"price_per_1k_tokens": 2.0}), rows)
    assert priced.totals.cost == 1.8 and priced.totals.cost_per_resolved == 1.8
    assert priced.series[0].cost == 0.0 and priced.series[0].cost_per_resolved is None
