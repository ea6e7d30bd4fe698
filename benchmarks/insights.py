"""Insights benchmark: ``store.insights()`` over 100,000 closed conversations, on both backends.

``.venv/bin/python benchmarks/insights.py --help``. For each backend it creates a fresh store
(a SQLite file in a temporary directory; a database on a throwaway PostgreSQL cluster,
``tests.support.postgres.PostgresCluster``), writes the generated ``conversation_facts``
rows in bulk with SQL (repeat-contact flags computed here as the store keeps them), times a
few hundred ``save_conversation_facts`` calls on top, then times ``store.insights()`` one
request at a time: 30 days by day (the target: p95 ≤ 250 ms), and by week for one channel.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness import DATABASES, save_results, summary
from switchboard.contract.addresses import Channel
from switchboard.contract.intelligence import ConversationFacts, InsightsQuery
from switchboard.memory import MemoryStore, open_store
from switchboard.memory.sides import channel_mask

TARGET_P95_MS = 250.0
END = datetime(2026, 11, 27, tzinfo=UTC)
SENTIMENTS = ["positive", "neutral", "negative", "mixed"]
TOPICS = [f"topic-{i}" for i in range(24)]
REASONS = ["asked for a human", "rule: escalation high", "operator", "tool failed", "angry"]


def generate(n: int, days: int, seed: int) -> list[ConversationFacts]:
    """``n`` runs over ``days`` days before ``END``, by ``n // 5`` customers."""
    rng = random.Random(seed)
    customers = [f"+1415{rng.randint(2_000_000, 9_999_999)}" for _ in range(max(1, n // 5))]
    span = days * 86400
    runs: list[ConversationFacts] = []
    for i in range(n):
        started = END - timedelta(seconds=rng.uniform(0, span))
        customer = rng.choice(customers)
        handoffs = 1 if rng.random() < 0.15 else 0
        tool_calls = rng.randint(0, 3)
        voice = rng.random() < 0.3
        replies = rng.randint(1, 8) if voice else 0
        runs.append(
            ConversationFacts(
                conversation_id=f"conv-{customer}",
                run_id=f"run-{i}",
                customer=customer,
                channels=[Channel.VOICE]
                if voice
                else [rng.choice([Channel.SMS, Channel.WHATSAPP])],
                started_at=started,
                closed_at=started + timedelta(seconds=rng.uniform(60, 3 * 3600)),
                customer_turns=rng.choice([0, 1, 2, 3, 4, 6]),
                assistant_turns=rng.choice([0, 1, 2, 3, 5]),
                handle_seconds=rng.uniform(10, 900),
                first_response_ms=None if rng.random() < 0.1 else rng.lognormvariate(7, 0.5),
                handoffs=handoffs,
                handoff_reasons=[rng.choice(REASONS)] * handoffs,
                tool_calls=tool_calls,
                tool_failures=rng.randint(0, tool_calls) if rng.random() < 0.1 else 0,
                callbacks=1 if rng.random() < 0.03 else 0,
                interruptions=rng.randint(0, replies // 2),
                voice_replies=replies,
                tokens=rng.randint(200, 6000),
                outcome=rng.choice([None, "resolved", "escalated", "abandoned", "unresolved"]),
                resolved=rng.choice([None, True, True, False]),
                sentiment=rng.choice([None, *SENTIMENTS]),
                topic=rng.choice([None, *TOPICS]),
            )
        )
    return runs


def repeat_flags(runs: list[ConversationFacts]) -> list[bool]:
    """Each run's repeat-contact flag as the store keeps it (its customer's next run)."""
    flags = [False] * len(runs)
    by_customer: dict[str, list[int]] = {}
    for i, run in enumerate(runs):
        by_customer.setdefault(run.customer, []).append(i)
    for indexes in by_customer.values():
        indexes.sort(key=lambda i: runs[i].started_at)
        for this, following in itertools.pairwise(indexes):
            limit = runs[this].closed_at + timedelta(hours=24)
            flags[this] = runs[following].started_at <= limit
    return flags


def rows(runs: list[ConversationFacts]) -> list[dict[str, Any]]:
    return [
        {
            **run.model_dump(exclude={"channels", "handoff_reasons"}),
            "channels": json.dumps([str(c) for c in run.channels]),
            "channel_mask": channel_mask(run.channels),
            "day": run.started_at.astimezone(UTC).date(),
            "handoff_reasons": json.dumps(run.handoff_reasons),
            "repeat_contact": flag,
        }
        for run, flag in zip(runs, repeat_flags(runs), strict=True)
    ]


async def load_sqlite(store: MemoryStore, data: list[dict[str, Any]]) -> None:
    from switchboard.memory.sqlite.database import iso
    from switchboard.memory.sqlite.insights import _FACT_COLUMNS

    def value(row: dict[str, Any], column: str) -> Any:
        if column == "day":
            return iso(row["started_at"])[:10]
        if column in ("started_at", "closed_at"):
            return iso(row[column])
        return int(row[column]) if isinstance(row[column], bool) else row[column]

    values = [tuple(value(row, c) for c in _FACT_COLUMNS) for row in data]
    marks = ", ".join("?" * len(_FACT_COLUMNS))

    def write(db: Any) -> None:
        db.execute("BEGIN")
        db.executemany(
            f"INSERT INTO conversation_facts ({', '.join(_FACT_COLUMNS)}) VALUES ({marks})",
            values,
        )
        db.execute("COMMIT")

    await store._run(write)  # type: ignore[attr-defined]


async def load_postgres(store: MemoryStore, data: list[dict[str, Any]]) -> None:
    from switchboard.memory.postgres.insights import _FACT_COLUMNS

    columns = [*_FACT_COLUMNS, "repeat_contact"]
    async with store._db.connection() as conn:  # type: ignore[attr-defined]
        async with (
            conn.cursor() as cursor,
            cursor.copy(f"COPY conversation_facts ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for row in data:
                await copy.write_row([row[c] for c in columns])
        await conn.execute("ANALYZE conversation_facts")


async def bench_backend(
    url: str, runs: list[ConversationFacts], args: argparse.Namespace
) -> dict[str, Any]:
    store = open_store(url)
    await store.migrate()
    try:
        started = time.perf_counter()
        data = rows(runs)
        await (load_sqlite if store.backend == "sqlite" else load_postgres)(store, data)
        print(f"  {len(runs)} rows loaded in {time.perf_counter() - started:.1f} s", flush=True)
        saves: list[float] = []
        extra = generate(args.saves, args.days, args.seed + 1)
        for i, run in enumerate(extra):
            run = run.model_copy(update={"run_id": f"extra-{i}"})
            t = time.perf_counter()
            await store.save_conversation_facts(run)
            saves.append(time.perf_counter() - t)
        queries = {
            f"{args.days} days by day": InsightsQuery(
                start=END - timedelta(days=args.days), end=END, interval="day"
            ),
            f"{args.days} days by week, voice": InsightsQuery(
                start=END - timedelta(days=args.days), end=END, interval="week",
                channel=Channel.VOICE,
            ),
        }  # fmt: skip
        results: dict[str, Any] = {"save_conversation_facts": summary(saves)}
        for name, query in queries.items():
            for _ in range(args.warmup):
                await store.insights(query)
            times = []
            for _ in range(args.queries):
                t = time.perf_counter()
                insights = await store.insights(query)
                times.append(time.perf_counter() - t)
            results[name] = {**summary(times), "conversations": insights.totals.conversations}
        return results
    finally:
        await store.close()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=100_000, help="(100000)")
    parser.add_argument("--days", type=int, default=30, help="they started over (30)")
    parser.add_argument("--queries", type=int, default=20, help="timed queries per shape (20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed queries first (3)")
    parser.add_argument("--saves", type=int, default=300, help="timed saves (300)")
    parser.add_argument("--backends", default="sqlite,postgresql", help="sqlite,postgresql")
    parser.add_argument("--seed", type=int, default=7, help="random seed (7)")
    args = parser.parse_args()
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    return args


def main() -> None:
    args = parse_args()
    work = Path(tempfile.mkdtemp(prefix="switchboard-bench-insights-"))
    started = time.perf_counter()
    runs = generate(args.conversations, args.days, args.seed)
    print(f"{len(runs)} conversations generated in {time.perf_counter() - started:.1f} s")
    results: dict[str, Any] = {"config": vars(args), "backends": {}}
    for backend in args.backends:
        print(f"{backend}:", flush=True)
        with DATABASES[backend](work) as url:
            results["backends"][backend] = asyncio.run(bench_backend(url, runs, args))
    print(f"\n{'':34}{'n':>5}{'p50':>10}{'p95':>10}{'max':>10}   (ms)")
    for backend, measured in results["backends"].items():
        for name, s in measured.items():
            verdict = ""
            if name.endswith("by day"):
                verdict = "  ✓" if s["p95"] <= TARGET_P95_MS else "  ✗"
                verdict += f" target p95 ≤ {TARGET_P95_MS:g} ms"
            print(f"{backend + ': ' + name:34}{s['n']:>5}{s['p50']:>10}{s['p95']:>10}"
                  f"{s['max']:>10}{verdict}")  # fmt: skip
    save_results("insights", results, work)


if __name__ == "__main__":
    main()
