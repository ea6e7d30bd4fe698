"""``PostgresStore``: the ``MemoryStore`` over a PostgreSQL database, composed of its two sides.

The profile side (``profiles``) and the knowledge side (``knowledge``) share one connection
pool (``database``); the store hands each call to the side that owns its tables, and
``SqlStore`` ranks recall and search over the primitives.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

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
from switchboard.memory.postgres.database import PostgresDatabase
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
        super().__init__(embedder)
        self._db = PostgresDatabase(
            url, min_size=min_size, max_size=max_size, open_timeout=open_timeout
        )
        self._profiles = PostgresProfiles(self._db)
        self._knowledge = PostgresKnowledge(self._db)

    async def _rows(self, query: Any, params: Sequence[Any] | dict[str, Any]) -> list[Any]:
        """One statement's rows (``benchmarks/memory.py`` runs its own through this)."""
        return await self._db.rows(query, params)

    async def migrate(self) -> list[int]:
        """Apply the missing migrations, each in its own transaction, under an advisory lock."""
        return await self._db.migrate()

    async def close(self) -> None:
        """Close the pool and its connections."""
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
