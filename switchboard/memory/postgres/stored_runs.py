"""Stored conversation runs on PostgreSQL, as a re-analysis reads them.

Pages are keyset pages in (``closed_at``, ``run_id``) order over ``conversations`` (index
``conversations_closed``); a batch's transcripts are one query on ``transcript_lines``' (run,
seq) key; "already analysed" is one query on the results' (conversation, run, …) key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from switchboard.contract.addresses import Channel
from switchboard.contract.reanalysis import RunCursor, RunSelection, StoredRun
from switchboard.memory.models import FactLabels, TranscriptLine
from switchboard.memory.postgres.database import PostgresDatabase, read_time, utc
from switchboard.memory.sides import selection_where


def _where(selection: RunSelection, after: RunCursor | None) -> tuple[str, dict[str, Any]]:
    return selection_where(selection, after, lambda name: f"%({name})s", utc)


class PostgresStoredRuns:
    """Reads of stored runs for re-analysis (a part of ``PostgresInsights``).

    Args:
        db: The store's connection pool.
    """

    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    async def count_stored_runs(self, selection: RunSelection) -> int:
        """How many stored runs ``selection`` picks (its limit applied)."""
        where, params = _where(selection, None)
        limit = f" LIMIT {int(selection.limit)}" if selection.limit is not None else ""
        rows = await self._db.rows(
            f"SELECT count(*) FROM (SELECT 1 FROM conversations{where}{limit}) s", params
        )
        return int(rows[0][0])

    async def stored_runs(
        self, selection: RunSelection, after: RunCursor | None, limit: int
    ) -> list[StoredRun]:
        """A page of stored runs in (closed_at, run id) order, after ``after``."""
        where, params = _where(selection, after)
        rows = await self._db.rows(
            "SELECT conversation_id, run_id, customer, closed_at FROM conversations"
            f"{where} ORDER BY closed_at, run_id LIMIT %(limit)s",
            {**params, "limit": limit},
        )
        return [
            StoredRun(conversation_id=c, run_id=r, customer=who, closed_at=read_time(at))
            for c, r, who, at in rows
        ]

    async def stored_transcripts(self, run_ids: Sequence[str]) -> dict[str, list[TranscriptLine]]:
        """The stored transcripts of ``run_ids``, each in order."""
        rows = await self._db.rows(
            "SELECT run_id, role, text, channel, at FROM transcript_lines "
            "WHERE run_id = ANY(%(runs)s) ORDER BY run_id, seq",
            {"runs": list(run_ids)},
        )
        found: dict[str, list[TranscriptLine]] = {}
        for run, role, text, channel, at in rows:
            found.setdefault(run, []).append(
                TranscriptLine(role=role, text=text, channel=Channel(channel), at=read_time(at))
            )
        return found

    async def analysed(
        self, runs: Sequence[StoredRun], versions: dict[str, str]
    ) -> set[tuple[str, str]]:
        """The (run id, operator) pairs holding a result of the operator's given version."""
        rows = await self._db.rows(
            "SELECT DISTINCT r.run_id, r.operator FROM operator_results r "
            "JOIN unnest(%(conversations)s::text[], %(runs)s::text[]) AS s(c, run) "
            "ON r.conversation_id = s.c AND r.run_id = s.run "
            "JOIN unnest(%(operators)s::text[], %(versions)s::text[]) AS o(name, version) "
            "ON r.operator = o.name AND r.version = o.version "
            "WHERE r.error IS NULL",
            {
                "conversations": [r.conversation_id for r in runs],
                "runs": [r.run_id for r in runs],
                "operators": list(versions),
                "versions": list(versions.values()),
            },
        )
        return {(run, operator) for run, operator in rows}

    async def relabel_facts(self, run: StoredRun, labels: FactLabels) -> None:
        """Set the labels of a run's stored facts that ``labels`` holds."""
        values = labels.model_dump(exclude_none=True)
        sets = ", ".join(f"{column} = %({column})s" for column in values)
        await self._db.rows(
            f"UPDATE conversation_facts SET {sets} "
            "WHERE conversation_id = %(conversation)s AND run_id = %(run)s RETURNING 1",
            {**values, "conversation": run.conversation_id, "run": run.run_id},
        )
