"""The send outbox: makes every outbound message idempotent across retries and crashes.

A reply is claimed under its idempotency key (conversation run + turn) before the Twilio
call. A later attempt that finds the key already ``sent`` returns the recorded SID without
calling Twilio; one that finds it ``sending`` (an earlier attempt died or timed out after
the request left) asks Twilio whether the message exists before sending again.

A row holds the customer's number and the message's text, so it is kept only as long as a
retry can still come: rows untouched for ``retention`` (``OUTBOX_RETENTION``, 24 h; a send's
retries end within an hour) are deleted, checked at most once a minute as sends go by.

Two backends behind one :class:`Outbox` protocol, chosen by :func:`open_outbox`: with
PostgreSQL memory the outbox is a table in that database (``PostgresOutbox``), so a retry on
any host sees the claims of every other; otherwise it is a SQLite file (``SqliteOutbox``),
which guards the sends of the workers on one host only.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from switchboard.runtime.config import Settings

_T = TypeVar("_T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    key TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    to_address TEXT NOT NULL,
    from_address TEXT NOT NULL,
    body TEXT NOT NULL,
    answers TEXT NOT NULL DEFAULT '[]',
    state TEXT NOT NULL,
    sid TEXT,
    twilio_status TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    claimed_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_updated ON outbox(updated_at);
"""
PURGE_EVERY = 60.0
"""Seconds between looks for rows past their retention."""
DEFAULT_RETENTION = 24 * 3600.0
MIN_RETENTION = 2 * 3600.0
"""Longer than any send's retries (an hour at most): a purged key can never be sent again."""


@dataclass(frozen=True)
class OutboxRecord:
    """One reply in the outbox."""

    key: str
    state: str
    sid: str | None
    twilio_status: str | None
    attempts: int
    claimed_at: float
    body: str
    answers: list[str]


class Outbox(Protocol):
    """The record of sends, one row per idempotency key (``SqliteOutbox``, ``PostgresOutbox``)."""

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

        A ``new`` record was never tried; ``sending`` means an earlier attempt left with no
        answer seen; ``failed`` that Twilio refused it; ``sent`` means nothing must be sent
        (and no attempt is begun). One transaction: of two racing claims, the second sees the
        first's attempt.
        """
        ...

    async def mark_sent(self, key: str, sid: str, status: str) -> None:
        """Record that Twilio accepted the message."""
        ...

    async def mark_failed(self, key: str, status: str) -> None:
        """Record that Twilio refused the message for good."""
        ...

    async def purge(self, now: float | None = None) -> int:
        """Delete the rows untouched for the retention period; how many went."""
        ...

    async def aclose(self) -> None:
        """Release the outbox's connections."""
        ...


def check_retention(retention: float) -> float:
    """``retention`` in seconds, refused when a purged key could still be retried."""
    if retention < MIN_RETENTION:
        raise ValueError(f"outbox retention must be at least {MIN_RETENTION / 3600:g} h")
    return retention


def open_outbox(settings: Settings) -> Outbox:
    """The outbox for ``settings``: in the PostgreSQL memory database, else a SQLite file.

    With PostgreSQL memory every host's workers share the one table, so a send retried (or a
    local activity re-run after a crash) on another host still finds its claim.
    """
    retention = settings.outbox_retention.total_seconds()
    url = settings.memory_database_url
    if url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        from switchboard.runtime.outbox_postgres import PostgresOutbox

        return PostgresOutbox(url, retention=retention)
    return SqliteOutbox(settings.outbox_path, retention=retention)


def sqlite_path(database_url: str) -> Path:
    """The file behind a ``sqlite:///relative`` or ``sqlite:////absolute`` URL.

    Raises:
        ValueError: the URL is not a SQLite URL.
    """
    prefix = "sqlite:///"
    if not database_url.startswith(prefix):
        raise ValueError(
            f"only sqlite:/// database URLs are supported by the outbox yet, got {database_url!r}"
        )
    return Path(database_url[len(prefix) :])


class SqliteOutbox:
    """Outbox in a SQLite file (WAL mode, safe for several processes on one host)."""

    def __init__(self, path: Path, *, retention: float = DEFAULT_RETENTION) -> None:
        self._retention = check_retention(retention)
        self._purged_at = 0.0
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA busy_timeout=5000")
        self._conn.executescript(_SCHEMA)
        self._lock = asyncio.Lock()

    async def _run(self, fn: Callable[..., _T], *args: object) -> _T:
        # sqlite3 blocks; run it off the event loop, one statement at a time.
        async with self._lock:
            return await asyncio.to_thread(fn, *args)

    def _claim(
        self, key: str, conversation_id: str, to: str, from_: str, body: str, answers: list[str]
    ) -> OutboxRecord:
        now = time.time()
        if now - self._purged_at > PURGE_EVERY:
            self._purge(now)
        with self._conn:  # one transaction: the record as it was, and this attempt begun
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.execute(
                "INSERT OR IGNORE INTO outbox (key, conversation_id, to_address, from_address,"
                " body, answers, state, attempts, claimed_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, 'new', 0, ?, ?)",
                (key, conversation_id, to, from_, body, json.dumps(answers), now, now),
            )
            row = self._conn.execute(
                "SELECT key, state, sid, twilio_status, attempts, claimed_at, body, answers"
                " FROM outbox WHERE key = ?",
                (key,),
            ).fetchone()
            if row[1] != "sent":
                # A new attempt sends this request's content, whatever an unsent one had.
                self._conn.execute(
                    "UPDATE outbox SET state = 'sending', attempts = attempts + 1, body = ?,"
                    " answers = ?, updated_at = ? WHERE key = ?",
                    (body, json.dumps(answers), now, key),
                )
        key_, state, sid, status, attempts, claimed_at, sent_body, sent_answers = row
        return OutboxRecord(
            key=key_, state=state, sid=sid, twilio_status=status, attempts=attempts,
            claimed_at=claimed_at, body=sent_body, answers=json.loads(sent_answers),
        )  # fmt: skip

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

        A ``new`` record was never tried; ``sending`` means an earlier attempt left with no
        answer seen; ``sent`` means nothing must be sent (and no attempt is begun).
        """
        return await self._run(self._claim, key, conversation_id, to, from_, body, answers or [])

    async def purge(self, now: float | None = None) -> int:
        """Delete the rows untouched for the retention period; how many went."""
        return await self._run(self._purge, time.time() if now is None else now)

    def _purge(self, now: float) -> int:
        self._purged_at = now
        deleted = self._conn.execute(
            "DELETE FROM outbox WHERE updated_at < ?", (now - self._retention,)
        )
        return deleted.rowcount

    def _mark(self, key: str, state: str, sid: str | None, status: str | None) -> None:
        self._conn.execute(
            "UPDATE outbox SET state = ?, sid = ?, twilio_status = ?, updated_at = ? WHERE key = ?",
            (state, sid, status, time.time(), key),
        )

    async def mark_sent(self, key: str, sid: str, status: str) -> None:
        """Record that Twilio accepted the message."""
        await self._run(self._mark, key, "sent", sid, status)

    async def mark_failed(self, key: str, status: str) -> None:
        """Record that Twilio refused the message for good."""
        await self._run(self._mark, key, "failed", None, status)

    def close(self) -> None:
        """Close the database connection."""
        self._conn.close()

    async def aclose(self) -> None:
        """Close the database connection (the :class:`Outbox` spelling)."""
        self.close()
