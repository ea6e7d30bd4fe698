"""The PostgreSQL plumbing: the psycopg connection pool, one-statement reads, migrations.

Every connection is in autocommit mode: a write is one statement (its profile upsert and its
rows in data-modifying ``WITH`` clauses), so it is atomic without an explicit transaction and
costs one round trip; the few multi-statement operations run in a transaction. Any number of
processes share the database.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from switchboard.memory.postgres.schema import MIGRATIONS

MIGRATION_LOCK = 0x5377_6D65_6D6F_7279
"""The ``pg_advisory_xact_lock`` key migrations serialise on ("Swmemory")."""


def utc(at: datetime) -> datetime:
    """A time as stored: naive times are UTC (as the SQLite backend reads them)."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def read_time(at: datetime) -> datetime:
    """A stored time in UTC, whatever the session's time zone."""
    return at.astimezone(UTC)


def _conninfo(url: str) -> str:
    """A libpq URL from a ``MEMORY_DATABASE_URL`` (SQLAlchemy's ``+psycopg`` dropped)."""
    if url.startswith("postgresql+psycopg://"):
        return "postgresql://" + url.removeprefix("postgresql+psycopg://")
    return url


class PostgresDatabase:
    """A pool of autocommit connections to one database, opened on first use.

    Args:
        url: The ``MEMORY_DATABASE_URL`` (``postgresql://…``; ``+psycopg`` is accepted).
        min_size: Connections the pool keeps open.
        max_size: Connections the pool opens at most.
        open_timeout: Seconds to make the first connection before its error is raised.
    """

    def __init__(self, url: str, *, min_size: int, max_size: int, open_timeout: float) -> None:
        self._conninfo = _conninfo(url)
        self._min_size = min_size
        self._max_size = max_size
        self._open_timeout = open_timeout
        self._pool: AsyncConnectionPool[AsyncConnection[Any]] | None = None
        self._opening = asyncio.Lock()

    async def _open(self) -> AsyncConnectionPool[AsyncConnection[Any]]:
        """The pool, opened on first use (its first connection made, so errors show here)."""
        async with self._opening:
            if self._pool is None:
                pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
                    self._conninfo,
                    min_size=self._min_size,
                    max_size=self._max_size,
                    kwargs={"autocommit": True},
                    open=False,
                    name="switchboard-memory",
                )
                try:
                    await pool.open(wait=True, timeout=self._open_timeout)
                except PoolTimeout:
                    await pool.close()
                    # The pool only logs why it cannot connect: one more try raises the reason.
                    conn = await AsyncConnection.connect(self._conninfo)
                    await conn.close()
                    raise
                except BaseException:
                    await pool.close()
                    raise
                self._pool = pool
            return self._pool

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection[Any]]:
        """A connection from the pool (opening the pool on first use), for one ``async with``.

        Yields:
            The connection, in autocommit mode.
        """
        pool = self._pool if self._pool is not None else await self._open()
        async with pool.connection() as conn:
            yield conn

    async def rows(
        self, query: Any, params: Sequence[Any] | dict[str, Any], *, binary: bool = False
    ) -> list[Any]:
        """One statement's rows (``binary``: in the binary format, quicker for big arrays)."""
        async with self.connection() as conn:
            cursor = await conn.execute(query, params, binary=binary)
            return await cursor.fetchall()

    async def migrate(self) -> list[int]:
        """Apply the missing migrations, each in its own transaction, under an advisory lock.

        Returns:
            The versions applied now.
        """
        applied: list[int] = []
        async with self.connection() as conn:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                    "name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
                )
            for version, name, sql in MIGRATIONS:
                async with conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
                    cursor = await conn.execute(
                        "SELECT 1 FROM schema_migrations WHERE version = %s", (version,)
                    )
                    if await cursor.fetchone() is not None:
                        continue
                    await conn.execute(sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations VALUES (%s, %s, %s)",
                        (version, name, datetime.now(UTC)),
                    )
                applied.append(version)
        return applied

    async def close(self) -> None:
        """Close the pool and its connections."""
        async with self._opening:
            if self._pool is not None:
                await self._pool.close()
                self._pool = None
