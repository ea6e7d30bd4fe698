"""Conversation intelligence on PostgreSQL: operator results, conversation facts, aggregates.

Each write is one statement: a batch of results goes in as one JSON array
(``jsonb_to_recordset``), a run's facts with its repeat-contact flag and its predecessor's in
data-modifying ``WITH`` clauses. The insights of a range are two scans, sent on two pooled
connections at once: the per-day counts with the first-response times (an array per day, read
in the binary format), and the label counts (grouping sets: sentiment, topic, handoff
reasons). ``day``, the UTC day of ``started_at``, is stored so its statistics tell the planner
a range holds a few days (a hash aggregate, not a sort).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from psycopg.types.json import Jsonb

from switchboard.contract.intelligence import (
    ConversationFacts,
    Evidence,
    InsightsQuery,
    OperatorResult,
    OperatorTrigger,
)
from switchboard.insights import COUNT_COLUMNS, DayCounts, InsightsRows
from switchboard.memory.postgres.database import read_time, utc
from switchboard.memory.postgres.stored_runs import PostgresStoredRuns
from switchboard.memory.sides import channel_mask, customer_key, stored_millis

_RESULT_COLUMNS = (
    "conversation_id, run_id, operator, version, first_turn, last_turn, customer, trigger, "
    "result, evidence, at, model, latency_ms, tokens, error"
)
_RESULT_TYPES = (
    "conversation_id text, run_id text, operator text, version text, first_turn integer, "
    "last_turn integer, customer text, trigger text, result jsonb, evidence jsonb, "
    "at timestamptz, model text, latency_ms double precision, tokens integer, error text"
)

_LATEST_RUN = (
    "SELECT run_id FROM operator_results WHERE conversation_id = %(conversation)s "
    "GROUP BY run_id ORDER BY min(at) FILTER (WHERE trigger <> 'reanalysis') DESC NULLS LAST, "
    "min(at) DESC, run_id LIMIT 1"
)
"""The latest run: its first result (reanalyses aside) is the newest."""

_FACT_TYPES: dict[str, str] = {
    "conversation_id": "text", "run_id": "text", "customer": "text", "channels": "jsonb",
    "channel_mask": "integer", "started_at": "timestamptz", "day": "date",
    "closed_at": "timestamptz", "customer_turns": "integer", "assistant_turns": "integer",
    "handle_seconds": "double precision", "first_response_ms": "double precision",
    "handoffs": "integer", "handoff_reasons": "jsonb", "tool_calls": "integer",
    "tool_failures": "integer", "callbacks": "integer", "interruptions": "integer",
    "voice_replies": "integer", "delivery_failures": "integer", "opted_out": "boolean",
    "tokens": "integer", "outcome": "text", "resolved": "boolean", "sentiment": "text",
    "topic": "text",
}  # fmt: skip
"""``conversation_facts``' columns as a run's facts fill them, with their types."""
_FACT_COLUMNS = tuple(_FACT_TYPES)

_SAVE_FACTS = (
    "WITH following AS (SELECT min(started_at) AS at FROM conversation_facts "
    "WHERE customer = %(customer)s AND started_at > %(started_at)s "
    "AND (conversation_id, run_id) <> (%(conversation_id)s, %(run_id)s)), "
    f"saved AS (INSERT INTO conversation_facts ({', '.join(_FACT_COLUMNS)}, repeat_contact) "
    f"SELECT {', '.join(f'%({c})s::{t}' for c, t in _FACT_TYPES.items())}, "
    "coalesce(following.at <= %(closed_at)s + interval '24 hours', false) FROM following "
    "ON CONFLICT (conversation_id, run_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in (*_FACT_COLUMNS[2:], "repeat_contact"))
    + " RETURNING 1), "
    "before AS (UPDATE conversation_facts f "
    "SET repeat_contact = %(started_at)s <= f.closed_at + interval '24 hours' "
    "FROM (SELECT conversation_id, run_id FROM conversation_facts "
    "WHERE customer = %(customer)s AND started_at < %(started_at)s "
    "AND (conversation_id, run_id) <> (%(conversation_id)s, %(run_id)s) "
    "ORDER BY started_at DESC LIMIT 1) b "
    "WHERE f.conversation_id = b.conversation_id AND f.run_id = b.run_id RETURNING 1) "
    "SELECT (SELECT count(*) FROM saved), (SELECT count(*) FROM before)"
)
"""Upsert a run's facts, its repeat-contact flag (the customer's next run starts within 24 h
of its close) and the flag of the customer's run before it (whose next run it now is)."""

_LABEL_SETS = {3: "sentiment", 5: "topic", 6: "handoff_reason"}
"""``GROUPING(sentiment, topic, reasons)`` of each grouping set: the kind of label it counts."""


def _read_result(row: Sequence[Any]) -> OperatorResult:
    (conversation, run, operator, version, first, last, customer, trigger, result, evidence,
     at, model, latency, tokens, error) = row  # fmt: skip
    return OperatorResult(
        conversation_id=conversation,
        run_id=run,
        customer=customer,
        operator=operator,
        version=version,
        trigger=OperatorTrigger(trigger),
        turns=(first, last),
        result=result,
        evidence=[Evidence.model_validate(e) for e in evidence],
        at=read_time(at),
        model=model,
        latency_ms=latency,
        tokens=tokens,
        error=error,
    )


class PostgresInsights(PostgresStoredRuns):
    """The insights side of ``PostgresStore``: operator results, facts and their aggregates.

    With the reads of stored runs a re-analysis pages through (``PostgresStoredRuns``).

    Args:
        db: The store's connection pool.
    """

    async def save_operator_results(self, results: Sequence[OperatorResult]) -> None:
        """Upsert results by (conversation, run, operator, version, first turn, last turn)."""
        rows = [
            {
                "conversation_id": r.conversation_id,
                "run_id": r.run_id,
                "operator": r.operator,
                "version": r.version,
                "first_turn": r.turns[0],
                "last_turn": r.turns[1],
                "customer": customer_key(r.customer),
                "trigger": str(r.trigger),
                "result": r.result,
                "evidence": [e.model_dump() for e in r.evidence],
                "at": utc(r.at).isoformat(),
                "model": r.model,
                "latency_ms": r.latency_ms,
                "tokens": r.tokens,
                "error": r.error,
            }
            for r in results
        ]
        await self._db.rows(
            f"INSERT INTO operator_results ({_RESULT_COLUMNS}) SELECT {_RESULT_COLUMNS} "
            f"FROM jsonb_to_recordset(%(rows)s) AS r({_RESULT_TYPES}) "
            "ON CONFLICT (conversation_id, run_id, operator, version, first_turn, last_turn) "
            "DO UPDATE SET customer = excluded.customer, trigger = excluded.trigger, "
            "result = excluded.result, evidence = excluded.evidence, at = excluded.at, "
            "model = excluded.model, latency_ms = excluded.latency_ms, "
            "tokens = excluded.tokens, error = excluded.error RETURNING 1",
            {"rows": Jsonb(rows)},
        )

    async def operator_results(self, conversation_id: str) -> list[OperatorResult]:
        """The latest run's results, oldest first."""
        rows = await self._db.rows(
            f"SELECT {_RESULT_COLUMNS} FROM operator_results "
            f"WHERE conversation_id = %(conversation)s AND run_id = ({_LATEST_RUN}) "
            "ORDER BY at, id",
            {"conversation": conversation_id},
        )
        return [_read_result(row) for row in rows]

    async def save_conversation_facts(self, facts: ConversationFacts) -> None:
        """Upsert the run's row; set its repeat-contact flag and its predecessor's."""
        await self._db.rows(
            _SAVE_FACTS,
            {
                **facts.model_dump(include=set(_FACT_COLUMNS) - {"day"}),
                "customer": customer_key(facts.customer),
                "channels": Jsonb([str(c) for c in facts.channels]),
                "channel_mask": channel_mask(facts.channels),
                "started_at": utc(facts.started_at),
                "day": utc(facts.started_at).date(),
                "closed_at": utc(facts.closed_at),
                "handoff_reasons": Jsonb(facts.handoff_reasons),
                "first_response_ms": stored_millis(facts.first_response_ms),
            },
        )

    async def insights_rows(self, query: InsightsQuery) -> InsightsRows:
        """Per-day counts with first-response times, and labels: two queries at once."""
        where = "started_at >= %(start)s AND started_at < %(end)s"
        params: dict[str, Any] = {"start": utc(query.start), "end": utc(query.end)}
        if query.channel is not None:
            where += " AND (channel_mask & %(mask)s) <> 0"
            params["mask"] = channel_mask([query.channel])
        columns = ", ".join(COUNT_COLUMNS.values())
        counts, labels = await asyncio.gather(
            self._db.rows(
                f"SELECT day, {columns}, array_agg(first_response_ms) "
                "FILTER (WHERE first_response_ms IS NOT NULL) "
                f"FROM conversation_facts WHERE {where} GROUP BY day",
                params,
                binary=True,
            ),
            self._db.rows(
                "SELECT day, GROUPING(sentiment, topic, reasons), sentiment, topic, reasons, "
                "count(*) FROM (SELECT day, sentiment, topic, "
                "CASE WHEN handoffs > 0 THEN handoff_reasons END AS reasons "
                f"FROM conversation_facts WHERE {where}) f "
                "GROUP BY GROUPING SETS ((day, sentiment), (day, topic), (day, reasons))",
                params,
            ),
        )
        rows = InsightsRows()
        for day, *values, response in counts:
            rows.days[day] = DayCounts.of_row(values)
            rows.response_ms[day] = list(response or [])
        for day, grouping, sentiment, topic, reasons, n in labels:
            kind = _LABEL_SETS[grouping]
            if kind == "handoff_reason":  # runs with the same reasons count together
                rows.labels.extend((day, kind, reason, int(n)) for reason in reasons or [])
            elif (label := sentiment if kind == "sentiment" else topic) is not None:
                rows.labels.append((day, kind, label, int(n)))
        return rows

    async def forget(self, customer: str) -> bool:
        """Delete the customer's results and facts (False: there were none)."""
        rows = await self._db.rows(
            "WITH r AS (DELETE FROM operator_results WHERE customer = %(customer)s RETURNING 1), "
            "f AS (DELETE FROM conversation_facts WHERE customer = %(customer)s RETURNING 1) "
            "SELECT (SELECT count(*) FROM r) + (SELECT count(*) FROM f)",
            {"customer": customer},
        )
        return bool(rows and rows[0][0])
