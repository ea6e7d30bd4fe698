"""``PostgresStore``: the ``MemoryStore`` over a PostgreSQL database, composed of three sides.

The profile side (``profiles``), the knowledge side (``knowledge``) and the insights side
(``insights``) share one connection pool (``database``); ``SqlStore`` hands each call to the
side that owns its tables and ranks recall and search and computes insights over them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from switchboard.memory.base import SqlStore
from switchboard.memory.embeddings import Embedder
from switchboard.memory.postgres.database import PostgresDatabase
from switchboard.memory.postgres.insights import PostgresInsights
from switchboard.memory.postgres.keys import PostgresKeys
from switchboard.memory.postgres.knowledge import PostgresKnowledge
from switchboard.memory.postgres.profiles import PostgresProfiles


class PostgresStore(SqlStore):
    """``MemoryStore`` on PostgreSQL (``postgresql://user:password@host:port/database``).

    The pool (``min_size`` to ``max_size`` connections) opens on first use; when no
    connection can be made within ``open_timeout`` seconds, the connection error is raised.

    Args:
        url: The ``MEMORY_DATABASE_URL``.
        embedder: Embeds chunks and queries for hybrid search (None: full text only).
        min_size: Connections the pool keeps open.
        max_size: Connections the pool opens at most.
        open_timeout: Seconds to make the first connection.
    """

    backend = "postgresql"

    def __init__(
        self,
        url: str,
        *,
        embedder: Embedder | None = None,
        min_size: int = 1,
        max_size: int = 10,
        open_timeout: float = 30.0,
    ) -> None:
        db = PostgresDatabase(url, min_size=min_size, max_size=max_size, open_timeout=open_timeout)
        super().__init__(
            embedder,
            PostgresProfiles(db),
            PostgresKnowledge(db),
            PostgresInsights(db),
            PostgresKeys(db),
        )
        self._db = db

    async def _rows(self, query: Any, params: Sequence[Any] | dict[str, Any]) -> list[Any]:
        """One statement's rows (``benchmarks/memory.py`` runs its own through this)."""
        return await self._db.rows(query, params)

    async def migrate(self) -> list[int]:
        """Apply the missing migrations, each in its own transaction, under an advisory lock."""
        return await self._db.migrate()

    async def close(self) -> None:
        """Close the pool and its connections."""
        await self._db.close()
