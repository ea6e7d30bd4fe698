"""``SqliteStore``: the ``MemoryStore`` over one SQLite file, composed of its two sides.

The profile side (``profiles``) and the knowledge side (``knowledge``) share one connection
(``database``); the store hands each call to the side that owns its tables, and ``SqlStore``
ranks recall and search over the primitives.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from switchboard.memory.base import ProfileParts, SqlStore
from switchboard.memory.chunking import Chunk
from switchboard.memory.embeddings import Embedder
from switchboard.memory.models import (
    ConversationRecord,
    DocumentIn,
    KnowledgeHit,
    NewObservation,
    Profile,
    RecallQuery,
    TraitValue,
)
from switchboard.memory.sqlite.database import SqliteDatabase
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
        super().__init__(embedder)
        self._db = SqliteDatabase(Path(url.removeprefix("sqlite:///")))
        self._profiles = SqliteProfiles(self._db)
        self._knowledge = SqliteKnowledge(self._db)

    async def _run(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        """``fn`` on the connection's thread (``benchmarks/memory.py`` times it)."""
        return await self._db.run(fn)

    async def migrate(self) -> list[int]:
        """Apply the missing migrations, each in its own transaction."""
        return await self._db.migrate()

    async def close(self) -> None:
        """Close the connection and its thread."""
        await self._db.close()

    # --- profiles -------------------------------------------------------------------------

    async def resolve(self, address: str) -> str | None:
        """The customer an address belongs to (see ``MemoryStore.resolve``)."""
        return await self._profiles.resolve(address)

    async def add_identifier(self, customer: str, address: str, *, at: datetime) -> None:
        """Attach an address to a customer (moving it from another profile if need be)."""
        await self._profiles.add_identifier(customer, address, at=at)

    async def set_trait(
        self, customer: str, name: str, value: TraitValue, *, source: str, at: datetime
    ) -> None:
        """Set a trait unless a newer value is stored."""
        await self._profiles.set_trait(customer, name, value, source=source, at=at)

    async def add_observation(self, customer: str, observation: NewObservation) -> bool:
        """Store an observation once per key."""
        return await self._profiles.add_observation(customer, observation)

    async def save_conversation(self, record: ConversationRecord) -> bool:
        """Store a closed run once: summary, transcript, and the addresses it used."""
        return await self._profiles.save_conversation(record)

    async def get_profile(self, customer: str, *, limit: int = 50) -> Profile | None:
        """The whole profile, newest observations and summaries first."""
        return await self._profiles.get_profile(customer, limit=limit)

    async def forget(self, customer: str) -> bool:
        """Delete the profile; identifiers, traits, observations, conversations cascade."""
        return await self._profiles.forget(customer)

    async def _profile_parts(self, query: RecallQuery) -> ProfileParts:
        return await self._profiles.recall_parts(query)

    # --- knowledge ------------------------------------------------------------------------

    async def _fts_chunks(self, terms: list[str], limit: int) -> list[tuple[int, float]]:
        return await self._knowledge.fts_chunks(terms, limit)

    async def _term_count(self, term: str) -> int:
        return await self._knowledge.term_count(term)

    async def _chunks(self, ids: list[int]) -> dict[int, KnowledgeHit]:
        return await self._knowledge.chunks(ids)

    async def _knowledge_revision(self) -> str:
        return await self._knowledge.revision()

    async def _all_vectors(self) -> list[tuple[int, bytes]]:
        return await self._knowledge.all_vectors()

    async def _document_digest(self, name: str) -> tuple[str, int] | None:
        return await self._knowledge.document_digest(name)

    async def _replace_document(
        self, document: DocumentIn, digest: str, chunks: list[Chunk], vectors: list[bytes | None]
    ) -> None:
        await self._knowledge.replace_document(document, digest, chunks, vectors)

    async def delete_document(self, name: str) -> bool:
        """Remove a document and its chunks."""
        return await self._knowledge.delete_document(name)

    async def documents(self) -> Sequence[tuple[str, int]]:
        """Every document's name and chunk count."""
        return await self._knowledge.documents()
