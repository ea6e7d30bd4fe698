"""Stored conversation runs on SQLite, as a re-analysis reads them.

Pages are keyset pages in (``closed_at``, ``run_id``) order over the ``conversations`` table
(index ``conversations_closed``), so page N costs what page 1 does; transcripts of a batch are
one query on ``transcript_lines``' (run, seq) key; "already analysed" is one query on the
results' (conversation, run, …) key.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from switchboard.contract.addresses import Channel
from switchboard.contract.reanalysis import RunCursor, RunSelection, StoredRun
from switchboard.memory.models import FactLabels, TranscriptLine
from switchboard.memory.sides import selection_where
from switchboard.memory.sqlite.database import SqliteDatabase, iso, read_time


def _where(selection: RunSelection, after: RunCursor | None) -> tuple[str, dict[str, Any]]:
    return selection_where(selection, after, lambda name: f":{name}", iso)


class SqliteStoredRuns:
    """Reads of stored runs for re-analysis (a part of ``SqliteInsights``).

    Args:
        db: The store's connection.
    """

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def count_stored_runs(self, selection: RunSelection) -> int:
        """How many stored runs ``selection`` picks (its limit applied)."""
        where, params = _where(selection, None)
        limit = f" LIMIT {int(selection.limit)}" if selection.limit is not None else ""

        def count(db: sqlite3.Connection) -> int:
            [n] = db.execute(
                f"SELECT count(*) FROM (SELECT 1 FROM conversations{where}{limit})", params
            ).fetchone()
            return int(n)

        return await self._db.run(count)

    async def stored_runs(
        self, selection: RunSelection, after: RunCursor | None, limit: int
    ) -> list[StoredRun]:
        """A page of stored runs in (closed_at, run id) order, after ``after``."""
        where, params = _where(selection, after)
        params["limit"] = limit

        def page(db: sqlite3.Connection) -> list[StoredRun]:
            return [
                StoredRun(
                    conversation_id=conversation,
                    run_id=run,
                    customer=customer,
                    closed_at=read_time(closed),
                )
                for conversation, run, customer, closed in db.execute(
                    "SELECT conversation_id, run_id, customer, closed_at FROM conversations"
                    f"{where} ORDER BY closed_at, run_id LIMIT :limit",
                    params,
                )
            ]

        return await self._db.run(page)

    async def stored_transcripts(self, run_ids: Sequence[str]) -> dict[str, list[TranscriptLine]]:
        """The stored transcripts of ``run_ids``, each in order."""
        marks = ", ".join("?" * len(run_ids))

        def read(db: sqlite3.Connection) -> dict[str, list[TranscriptLine]]:
            found: dict[str, list[TranscriptLine]] = {}
            for run, role, text, channel, at in db.execute(
                "SELECT run_id, role, text, channel, at FROM transcript_lines "
                f"WHERE run_id IN ({marks}) ORDER BY run_id, seq",
                list(run_ids),
            ):
                found.setdefault(run, []).append(
                    TranscriptLine(role=role, text=text, channel=Channel(channel), at=read_time(at))
                )
            return found

        return await self._db.run(read)

    async def analysed(
        self, runs: Sequence[StoredRun], versions: dict[str, str]
    ) -> set[tuple[str, str]]:
        """The (run id, operator) pairs holding a result of the operator's given version."""
        pairs = [(r.conversation_id, r.run_id) for r in runs]
        wanted = list(versions.items())
        sql = (
            "SELECT DISTINCT run_id, operator FROM operator_results "
            f"WHERE (conversation_id, run_id) IN (VALUES {', '.join(['(?, ?)'] * len(pairs))}) "
            f"AND (operator, version) IN (VALUES {', '.join(['(?, ?)'] * len(wanted))}) "
            "AND error IS NULL"
        )
        params = [v for pair in pairs for v in pair] + [v for pair in wanted for v in pair]

        def read(db: sqlite3.Connection) -> set[tuple[str, str]]:
            return {(run, operator) for run, operator in db.execute(sql, params)}

        return await self._db.run(read)

    async def relabel_facts(self, run: StoredRun, labels: FactLabels) -> None:
        """Set the labels of a run's stored facts that ``labels`` holds."""
        values = labels.model_dump(exclude_none=True)
        if "resolved" in values:
            values["resolved"] = int(values["resolved"])
        sets = ", ".join(f"{column} = :{column}" for column in values)

        def save(db: sqlite3.Connection) -> None:
            db.execute(
                f"UPDATE conversation_facts SET {sets} "
                "WHERE conversation_id = :conversation AND run_id = :run",
                {**values, "conversation": run.conversation_id, "run": run.run_id},
            )

        await self._db.write(save)
