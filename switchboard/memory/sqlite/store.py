"""``SqliteStore``: the ``MemoryStore`` over one SQLite file, composed of its three sides.

The profile side (``profiles``), the knowledge side (``knowledge``) and the insights side
(``insights``) share one connection (``database``); ``SqlStore`` hands each call to the side
that owns its tables and ranks recall and search and computes insights over them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from switchboard.memory.base import SqlStore
from switchboard.memory.embeddings import Embedder
from switchboard.memory.sqlite.database import SqliteDatabase
from switchboard.memory.sqlite.insights import SqliteInsights
from switchboard.memory.sqlite.keys import SqliteKeys
from switchboard.memory.sqlite.knowledge import SqliteKnowledge
from switchboard.memory.sqlite.profiles import SqliteProfiles

_T = TypeVar("_T")


class SqliteStore(SqlStore):
    """``MemoryStore`` on a SQLite file (``sqlite:///relative`` or ``sqlite:////absolute``).

    Args:
        url: The ``MEMORY_DATABASE_URL``.
        embedder: Embeds chunks and queries for hybrid search (None: full text only).
    """

    backend = "sqlite"

    def __init__(self, url: str, *, embedder: Embedder | None = None) -> None:
        db = SqliteDatabase(Path(url.removeprefix("sqlite:///")))
        super().__init__(
            embedder, SqliteProfiles(db), SqliteKnowledge(db), SqliteInsights(db), SqliteKeys(db)
        )
        self._db = db

    async def _run(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        """``fn`` on the connection's thread (``benchmarks/memory.py`` times it)."""
        return await self._db.run(fn)

    async def migrate(self) -> list[int]:
        """Apply the missing migrations, each in its own transaction."""
        return await self._db.migrate()

    async def close(self) -> None:
        """Close the connection and its thread."""
        await self._db.close()
