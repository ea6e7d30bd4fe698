"""The send outbox as a table in the PostgreSQL memory database, shared by every host.

Same rows and semantics as ``SqliteOutbox`` (``switchboard.runtime.outbox``): a claim is one
transaction (insert if absent, then the row locked with ``SELECT … FOR UPDATE`` and its
attempt begun), so of two workers claiming one key at once, on any hosts, the second waits
for the first and sees its attempt. The table is created on first use, idempotently, under
an advisory lock (two workers starting together must not race on ``CREATE TABLE``); it is
not a memory-store migration because it belongs to the sends, not to the memory. A host
upgraded from the local-file outbox brings its claims over once (``import_local``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from switchboard.memory.postgres.database import PostgresDatabase
from switchboard.runtime.outbox import (
    DEFAULT_RETENTION,
    PURGE_EVERY,
    OutboxRecord,
    check_retention,
)
from switchboard.runtime.outbox_import import LegacyRow, import_legacy_file

OUTBOX_LOCK = 0x5377_4F75_7462_6F78
"""The ``pg_advisory_xact_lock`` key the table's creation serialises on ("SwOutbox")."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS send_outbox (
    key TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    to_address TEXT NOT NULL,
    from_address TEXT NOT NULL,
    body TEXT NOT NULL,
    answers JSONB NOT NULL DEFAULT '[]',
    state TEXT NOT NULL,
    sid TEXT,
    twilio_status TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    claimed_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS send_outbox_updated ON send_outbox(updated_at);
"""


class PostgresOutbox:
    """Outbox in the ``send_outbox`` table of a PostgreSQL database (its own small pool).

    Times are POSIX seconds from the claiming worker's clock, as in the SQLite outbox: the
    recovery lookup compares them with Twilio's clock, allowing for skew.

    Args:
        url: The ``MEMORY_DATABASE_URL`` (``postgresql://…``).
        retention: Seconds a row is kept after its last attempt (at least two hours).
    """

    def __init__(self, url: str, *, retention: float = DEFAULT_RETENTION) -> None:
        self._retention = check_retention(retention)
        self._db = PostgresDatabase(url, min_size=1, max_size=4, open_timeout=10.0)
        self._ready = False
        self._creating = asyncio.Lock()
        self._purged_at = 0.0

    async def _ensure_table(self, conn: AsyncConnection[Any]) -> None:
        if self._ready:
            return
        async with self._creating:
            if not self._ready:
                async with conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (OUTBOX_LOCK,))
                    await conn.execute(_SCHEMA)
                self._ready = True

    async def claim(
        self,
        key: str,
        conversation_id: str,
        to: str,
        from_: str,
        body: str,
        answers: list[str] | None = None,
    ) -> OutboxRecord:
        """Begin an attempt to send ``key``; returns the record as it was before this attempt.

        A ``new`` record was never tried; ``sending`` means an earlier attempt (on any host)
        left with no answer seen; ``sent`` means nothing must be sent (and no attempt is begun).
        """
        now = time.time()
        params = {"key": key, "conv": conversation_id, "to": to, "from": from_, "body": body,
                  "answers": Jsonb(answers or []), "now": now}  # fmt: skip
        if now - self._purged_at > PURGE_EVERY:
            await self.purge(now)
        async with self._db.connection() as conn:
            await self._ensure_table(conn)
            async with conn.transaction():
                await conn.execute(
                    "INSERT INTO send_outbox (key, conversation_id, to_address, from_address,"
                    " body, answers, state, attempts, claimed_at, updated_at)"
                    " VALUES (%(key)s, %(conv)s, %(to)s, %(from)s, %(body)s, %(answers)s,"
                    " 'new', 0, %(now)s, %(now)s) ON CONFLICT (key) DO NOTHING",
                    params,
                )
                cursor = await conn.execute(
                    "SELECT key, state, sid, twilio_status, attempts, claimed_at, body, answers"
                    " FROM send_outbox WHERE key = %(key)s FOR UPDATE",
                    params,
                )
                row = await cursor.fetchone()
                if row is None:  # purged between the two statements: the activity retries
                    raise RuntimeError(f"outbox row {key!r} vanished during its claim")
                if row[1] != "sent":
                    # A new attempt sends this request's content, whatever an unsent one had.
                    await conn.execute(
                        "UPDATE send_outbox SET state = 'sending', attempts = attempts + 1,"
                        " body = %(body)s, answers = %(answers)s, updated_at = %(now)s"
                        " WHERE key = %(key)s",
                        params,
                    )
        key_, state, sid, status, attempts, claimed_at, sent_body, sent_answers = row
        return OutboxRecord(
            key=key_, state=state, sid=sid, twilio_status=status, attempts=attempts,
            claimed_at=float(claimed_at), body=sent_body, answers=list(sent_answers),
        )  # fmt: skip

    async def import_local(self, path: Path) -> int:
        """Copy the claims of a pre-upgrade local outbox file (``.data/outbox.db``) in, once.

        Its rows within retention are inserted unless the table already has their key (the
        table's row wins), then the file is renamed ``outbox.db.imported``; safe to run twice
        or from several workers at once. No file: nothing happens. An unreadable file is left
        in place with a warning. See ``switchboard.runtime.outbox_import``.

        Returns:
            How many rows were new here.
        """
        return await import_legacy_file(path, self._retention, self._insert_imported)

    async def _insert_imported(self, rows: Sequence[LegacyRow]) -> int:
        async with self._db.connection() as conn:
            await self._ensure_table(conn)
            # One transaction: a concurrent importer (another worker on the host) waits on
            # these keys and then finds them present, so each row is counted once.
            async with conn.transaction(), conn.cursor() as cursor:
                await cursor.executemany(
                    "INSERT INTO send_outbox (key, conversation_id, to_address, from_address,"
                    " body, answers, state, sid, twilio_status, attempts, claimed_at,"
                    " updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                    " ON CONFLICT (key) DO NOTHING",
                    [(*row[:5], Jsonb(row.answers), *row[6:]) for row in rows],
                )
                return cursor.rowcount  # executemany: the rows inserted, summed

    async def purge(self, now: float | None = None) -> int:
        """Delete the rows untouched for the retention period; how many went."""
        now = time.time() if now is None else now
        self._purged_at = now
        async with self._db.connection() as conn:
            await self._ensure_table(conn)
            cursor = await conn.execute(
                "DELETE FROM send_outbox WHERE updated_at < %s", (now - self._retention,)
            )
            return cursor.rowcount

    async def _mark(self, key: str, state: str, sid: str | None, status: str | None) -> None:
        async with self._db.connection() as conn:
            await self._ensure_table(conn)
            await conn.execute(
                "UPDATE send_outbox SET state = %s, sid = %s, twilio_status = %s,"
                " updated_at = %s WHERE key = %s",
                (state, sid, status, time.time(), key),
            )

    async def mark_sent(self, key: str, sid: str, status: str) -> None:
        """Record that Twilio accepted the message."""
        await self._mark(key, "sent", sid, status)

    async def mark_failed(self, key: str, status: str) -> None:
        """Record that Twilio refused the message for good."""
        await self._mark(key, "failed", None, status)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._db.close()
