"""Insights equal a brute-force count in Python over the same random facts, on both backends."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from switchboard.contract.addresses import Channel
from switchboard.contract.intelligence import (
    ConversationFacts,
    Insights,
    InsightsMetrics,
    InsightsQuery,
)
from switchboard.memory import MemoryStore, open_store

T0 = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
DAYS = 21
SENTIMENTS = ["positive", "neutral", "negative", "mixed"]
TOPICS = ["billing", "returns", "shipping", "account"]
REASONS = ["asked for a human", "rule: escalation high", "operator", "tool failed"]
CHANNELS = list(Channel)


def generate(seed: int = 20261127, customers: int = 60) -> list[ConversationFacts]:
    """A few hundred runs: each customer's runs in sequence, some within 24 h of the last."""
    rng = random.Random(seed)
    runs: list[ConversationFacts] = []
    for c in range(customers):
        customer = f"+1415555{c:04d}"
        at = T0 - timedelta(days=2) + timedelta(seconds=rng.uniform(0, 2 * 86400))
        n = 0
        while at < T0 + timedelta(days=DAYS + 1):
            closed = at + timedelta(seconds=rng.uniform(30, 4 * 3600))
            customer_turns = rng.choice([0, 1, 1, 2, 3, 4, 6])
            handoffs = rng.choice([0, 0, 0, 0, 1, 1, 2])
            tool_calls = rng.randint(0, 4)
            voice_replies = rng.randint(0, 8)
            runs.append(
                ConversationFacts(
                    conversation_id=f"conv-{customer}",
                    run_id=f"run-{c}-{n}",
                    customer=customer,
                    channels=rng.sample(CHANNELS, rng.randint(1, 3)),
                    started_at=at,
                    closed_at=closed,
                    customer_turns=customer_turns,
                    assistant_turns=rng.choice([0, 1, 2, 3, 5]),
                    handle_seconds=round(rng.uniform(0, 900), 3),
                    first_response_ms=(
                        None if rng.random() < 0.2 else round(rng.uniform(150, 6000), 3)
                    ),
                    handoffs=handoffs,
                    handoff_reasons=(
                        [rng.choice(REASONS) for _ in range(handoffs)]
                        if handoffs or rng.random() < 0.9
                        else ["withdrawn"]  # a reason without a handoff: not counted
                    ),
                    tool_calls=tool_calls,
                    tool_failures=rng.randint(0, tool_calls),
                    callbacks=rng.randint(0, 1),
                    interruptions=rng.randint(0, voice_replies),
                    voice_replies=voice_replies,
                    delivery_failures=rng.choice([0, 0, 0, 1]),
                    opted_out=rng.random() < 0.05,
                    tokens=rng.randint(0, 5000),
                    outcome=rng.choice([None, "resolved", "escalated", "abandoned"]),
                    resolved=rng.choice([None, True, False]),
                    sentiment=rng.choice([None, *SENTIMENTS]),
                    topic=rng.choice([None, *TOPICS]),
                )
            )
            n += 1
            # Often back within a day (a repeat contact when contained), else days later.
            gap = rng.uniform(600, 20 * 3600) if rng.random() < 0.4 else rng.uniform(1, 5) * 86400
            at = closed + timedelta(seconds=gap)
    return runs


# --- the brute force: the definitions of switchboard.insights.metrics, run for run ----------


def rate(numerator: float, denominator: float) -> float:
    return min(1.0, max(0.0, numerator / denominator)) if denominator else 0.0


def quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] * (1 - (position - low)) + ordered[high] * (position - low)


def counts(labels: list[str | None]) -> dict[str, int]:
    found: dict[str, int] = {}
    for label in labels:
        if label is not None:
            found[label] = found.get(label, 0) + 1
    return found


def brute(runs: list[ConversationFacts], every: list[ConversationFacts]) -> dict[str, Any]:
    engaged = [r for r in runs if r.customer_turns >= 1]
    contained = [r for r in engaged if r.handoffs == 0]
    handed_off = [r for r in engaged if r.handoffs > 0]
    known = [r for r in runs if r.resolved is not None]
    resolved = [r for r in runs if r.resolved is True]
    abandoned = [
        r
        for r in runs
        if (r.customer_turns >= 1 and r.assistant_turns == 0)
        or (r.customer_turns < 2 and r.resolved is not True)
    ]
    repeats = [
        r
        for r in contained
        if any(
            o.customer == r.customer
            and o.run_id != r.run_id
            and r.started_at < o.started_at <= r.closed_at + timedelta(hours=24)
            for o in every
        )
    ]
    tool_calls = sum(r.tool_calls for r in runs)
    tokens = sum(r.tokens for r in runs)
    response = [r.first_response_ms for r in runs if r.first_response_ms is not None]
    return {
        "conversations": len(runs),
        "containment_rate": rate(len(contained), len(engaged)),
        "handoff_rate": rate(len(handed_off), len(engaged)),
        "handoff_reasons": counts(
            [reason for r in runs if r.handoffs > 0 for reason in r.handoff_reasons]
        ),
        "resolution_rate": rate(len(resolved), len(known)),
        "abandonment_rate": rate(len(abandoned), len(runs)),
        "repeat_contact_rate": rate(len(repeats), len(contained)),
        "average_handle_seconds": (
            sum(r.handle_seconds for r in runs) / len(runs) if runs else 0.0
        ),
        "first_response_ms": {"p50": quantile(response, 0.5), "p95": quantile(response, 0.95)},
        "interruption_rate": rate(
            sum(r.interruptions for r in runs), sum(r.voice_replies for r in runs)
        ),
        "sentiment": counts([r.sentiment for r in runs]),
        "topics": counts([r.topic for r in runs]),
        "tool_success_rate": rate(tool_calls - sum(r.tool_failures for r in runs), tool_calls),
        "tokens_per_resolved": tokens / len(resolved) if resolved else 0.0,
        "engaged": len(engaged),
        "contained": len(contained),
        "handed_off": len(handed_off),
        "resolved": len(resolved),
        "abandoned": len(abandoned),
        "callbacks": sum(r.callbacks for r in runs),
        "delivery_failures": sum(r.delivery_failures for r in runs),
        "opted_out": sum(1 for r in runs if r.opted_out),
        "tokens": tokens,
    }


def assert_metrics(got: InsightsMetrics, expected: dict[str, Any], where: str) -> None:
    dumped = got.model_dump(mode="python")
    for key, value in expected.items():
        actual = dumped[key]
        if key == "first_response_ms":
            for p in ("p50", "p95"):
                if value[p] is None:
                    assert actual[p] is None, (where, key, p)
                else:
                    assert actual[p] == pytest.approx(value[p], rel=1e-12), (where, key, p)
        elif isinstance(value, float):
            assert actual == pytest.approx(value, rel=1e-12, abs=1e-12), (where, key)
        else:
            assert actual == value, (where, key)


def in_query(run: ConversationFacts, query: InsightsQuery) -> bool:
    return query.start <= run.started_at < query.end and (
        query.channel is None or query.channel in run.channels
    )


def bucket_of(at: datetime, interval: str) -> datetime:
    day = datetime(at.year, at.month, at.day, tzinfo=UTC)
    return day if interval == "day" else day - timedelta(days=day.weekday())


def check(insights: Insights, query: InsightsQuery, every: list[ConversationFacts]) -> None:
    runs = [r for r in every if in_query(r, query)]
    assert insights.start == query.start and insights.end == query.end
    assert_metrics(insights.totals, brute(runs, every), "totals")
    step = timedelta(days=1 if query.interval == "day" else 7)
    expected_starts = []
    at = bucket_of(query.start, query.interval)
    while at < query.end:
        expected_starts.append(at)
        at += step
    assert [b.start for b in insights.series] == expected_starts
    for bucket in insights.series:
        inside = [r for r in runs if bucket_of(r.started_at, query.interval) == bucket.start]
        assert_metrics(bucket, brute(inside, every), f"bucket {bucket.start:%Y-%m-%d}")
    assert sum(b.conversations for b in insights.series) == len(runs)


QUERIES = [
    InsightsQuery(start=T0, end=T0 + timedelta(days=DAYS)),
    InsightsQuery(  # not on day boundaries, one channel
        start=T0 + timedelta(days=3, hours=5, minutes=7),
        end=T0 + timedelta(days=11, hours=7),
        channel=Channel.VOICE,
    ),
    InsightsQuery(start=T0 - timedelta(days=9), end=T0 + timedelta(days=DAYS + 9), interval="week"),
    InsightsQuery(
        start=T0 + timedelta(days=2, hours=12),
        end=T0 + timedelta(days=16),
        channel=Channel.SMS,
        interval="week",
    ),
    InsightsQuery(start=T0 + timedelta(days=40), end=T0 + timedelta(days=43)),  # empty
]


async def fill(store: MemoryStore) -> list[ConversationFacts]:
    """Save the generated runs in random order, then some again; the runs as finally saved."""
    every = generate()
    assert 300 <= len(every) <= 800
    rng = random.Random(7)
    order = every[:]
    rng.shuffle(order)  # runs arrive in any order: the repeat flags must still come out right
    for run in order:
        await store.save_conversation_facts(run)
    # Saved again (retries), some with new labels: the last save is what counts.
    for i in rng.sample(range(len(every)), 40):
        every[i] = every[i].model_copy(update={"sentiment": rng.choice(SENTIMENTS)})
        await store.save_conversation_facts(every[i])
    return every


async def test_insights_equal_brute_force(memory_url: str) -> None:
    store = open_store(memory_url)
    await store.migrate()
    try:
        every = await fill(store)
        for query in QUERIES:
            check(await store.insights(query), query, every)
        totals = (await store.insights(QUERIES[0])).totals
        # The fixture is rich enough for the comparison to mean something.
        assert totals.conversations > 150
        assert 0 < totals.repeat_contact_rate < 1 and 0 < totals.containment_rate < 1
        assert 0 < totals.abandonment_rate < 1 and 0 < totals.resolution_rate < 1
        assert len(totals.handoff_reasons) == len(REASONS)
        assert set(totals.sentiment) == set(SENTIMENTS) and set(totals.topics) == set(TOPICS)
        assert totals.first_response_ms.p50 is not None
        empty = await store.insights(QUERIES[-1])
        assert empty.totals == InsightsMetrics() and len(empty.series) == 3
        assert all(b.conversations == 0 for b in empty.series)
    finally:
        await store.close()
