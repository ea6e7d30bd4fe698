"""The SQLite file's plumbing: its one connection and thread, write transactions, migrations.

One connection per process, used from one thread, so the event loop never blocks on the
disk and statements never interleave. Several processes (worker and gateway) share the file;
WAL lets readers run beside the single writer. Times are stored as UTC ISO-8601 text.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from switchboard.memory.sqlite.schema import MIGRATIONS

_T = TypeVar("_T")


def iso(at: datetime) -> str:
    """A time as stored: UTC ISO-8601 text, which sorts in time order (naive times are UTC)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def read_time(text: str) -> datetime:
    """A stored time (``iso``'s text) as a ``datetime``."""
    return datetime.fromisoformat(text)


class SqliteDatabase:
    """The connection to one SQLite file, opened on first use on the store's own thread.

    Args:
        path: The database file (its directory is created when the connection opens).
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="memory-sqlite")
        self._db: sqlite3.Connection | None = None

    async def run(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        """``fn(connection)`` on the connection's thread.

        Returns:
            What ``fn`` returns.
        """
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, fn)

    async def write(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        """``fn(connection)`` inside one write transaction (taken at once: it cannot deadlock).

        Returns:
            What ``fn`` returns; when it raises, the transaction rolls back.
        """
        return await self.run(_in_transaction(fn))

    def _call(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        if self._db is None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=10000")
            db.execute("PRAGMA foreign_keys=ON")
            self._db = db
        return fn(self._db)

    async def migrate(self) -> list[int]:
        """Apply the missing migrations, each in its own transaction.

        Returns:
            The versions applied now.
        """

        def apply(db: sqlite3.Connection) -> list[int]:
            db.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            applied: list[int] = []
            for version, name, sql in MIGRATIONS:
                db.execute("BEGIN IMMEDIATE")
                try:
                    done = db.execute(
                        "SELECT 1 FROM schema_migrations WHERE version = ?", (version,)
                    ).fetchone()
                    if done is None:
                        for statement in _statements(sql):
                            db.execute(statement)
                        db.execute(
                            "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                            (version, name, iso(datetime.now(UTC))),
                        )
                        applied.append(version)
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
            return applied

        return await self.run(apply)

    async def close(self) -> None:
        """Close the connection and its thread."""

        def shut(db: sqlite3.Connection) -> None:
            db.close()

        if self._db is not None:
            await self.run(shut)
            self._db = None
        self._executor.shutdown(wait=True)


def _in_transaction(
    fn: Callable[[sqlite3.Connection], _T],
) -> Callable[[sqlite3.Connection], _T]:
    """``fn`` inside one write transaction (taken at once, so it cannot deadlock)."""

    def run(db: sqlite3.Connection) -> _T:
        db.execute("BEGIN IMMEDIATE")
        try:
            result = fn(db)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return result

    return run


def _statements(sql: str) -> list[str]:
    """A migration's statements (``CREATE TRIGGER`` bodies kept whole)."""
    statements: list[str] = []
    current: list[str] = []
    for line in sql.strip().splitlines():
        current.append(line)
        text = "\n".join(current).strip()
        if text.endswith(";") and sqlite3.complete_statement(text):
            statements.append(text)
            current = []
    if "\n".join(current).strip():
        statements.append("\n".join(current))
    return statements
