"""The knowledge base on PostgreSQL: documents, their chunks, and native full-text search.

``SqlStore`` ranks and fuses; this reads and writes the rows it asks for. Chunks carry a
generated ``tsvector``; every ingest and deletion moves the ``knowledge_revision`` in
``store_meta`` forward, atomically with the change.
"""

from __future__ import annotations

from collections.abc import Sequence

from switchboard.memory.chunking import Chunk
from switchboard.memory.models import DocumentIn, KnowledgeHit
from switchboard.memory.postgres.database import PostgresDatabase
from switchboard.memory.text_search import tsquery


class PostgresKnowledge:
    """The knowledge side of ``PostgresStore``: its ``SqlStore`` primitives and document methods.

    Args:
        db: The store's connection pool.
    """

    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    async def fts_chunks(self, terms: list[str], limit: int) -> list[tuple[int, float]]:
        """Chunk ids matching any term, best first, with their ``ts_rank`` (higher better)."""
        expression = tsquery(terms)
        if not expression:
            return []
        # ts_rank (term frequency, section words weighted A) rather than ts_rank_cd (cover
        # density): a common word matches a quarter of a large knowledge base, every match is
        # scored, and ts_rank costs ~2 µs a row against ts_rank_cd's ~15 (benchmarks/).
        rows = await self._db.rows(
            "SELECT id, ts_rank(tsv, q) AS rank "
            "FROM chunks, to_tsquery('english', %s) AS q WHERE tsv @@ q "
            "ORDER BY rank DESC, id LIMIT %s",
            (expression, limit),
        )
        return [(int(i), float(score)) for i, score in rows]

    async def term_count(self, term: str) -> int:
        """How many chunks contain ``term`` ("" counts every chunk)."""
        if not term:
            rows = await self._db.rows("SELECT count(*) FROM chunks", ())
        else:
            rows = await self._db.rows(
                "SELECT count(*) FROM chunks WHERE tsv @@ to_tsquery('english', %s)",
                (tsquery([term]) or "''",),
            )
        return int(rows[0][0])

    async def chunks(self, ids: list[int]) -> dict[int, KnowledgeHit]:
        """Chunks by id, with their document's name (score 0)."""
        if not ids:
            return {}
        rows = await self._db.rows(
            "SELECT c.id, d.name, c.section, c.text FROM chunks c "
            "JOIN documents d ON d.id = c.document_id WHERE c.id = ANY(%s::bigint[])",
            (ids,),
        )
        return {
            int(i): KnowledgeHit(document=name, section=section, text=text, score=0.0)
            for i, name, section, text in rows
        }

    async def revision(self) -> str:
        """The ``knowledge_revision``: it changes whenever a document is ingested or deleted."""
        rows = await self._db.rows(
            "SELECT value FROM store_meta WHERE key = %s", ("knowledge_revision",)
        )
        return str(rows[0][0])

    async def all_vectors(self) -> list[tuple[int, bytes]]:
        """Every embedded chunk's id and vector, by id."""
        rows = await self._db.rows(
            "SELECT id, embedding FROM chunks WHERE embedding IS NOT NULL ORDER BY id", ()
        )
        return [(int(i), bytes(blob)) for i, blob in rows]

    async def document_digest(self, name: str) -> tuple[str, int] | None:
        """The stored document's content digest and chunk count (None: no such document)."""
        rows = await self._db.rows("SELECT sha256, chunks FROM documents WHERE name = %s", (name,))
        return (str(rows[0][0]), int(rows[0][1])) if rows else None

    async def replace_document(
        self, document: DocumentIn, digest: str, chunks: list[Chunk], vectors: list[bytes | None]
    ) -> None:
        """Store a document's chunks in place of the old ones, in one pipelined transaction."""
        # The upsert locks the document's row, so concurrent ingests of one name take turns.
        async with self._db.connection() as conn, conn.pipeline(), conn.transaction():
            await conn.execute(
                "INSERT INTO documents (name, content_type, sha256, chunks, ingested_at) "
                "VALUES (%s, %s, %s, %s, now()) ON CONFLICT (name) DO UPDATE "
                "SET content_type = excluded.content_type, sha256 = excluded.sha256, "
                "chunks = excluded.chunks, ingested_at = excluded.ingested_at",
                (document.name, document.content_type, digest, len(chunks)),
            )
            await conn.execute(
                "DELETE FROM chunks WHERE document_id = (SELECT id FROM documents WHERE name = %s)",
                (document.name,),
            )
            await conn.execute(
                "INSERT INTO chunks (document_id, seq, section, text, embedding) "
                "SELECT d.id, c.seq, c.section, c.text, c.embedding FROM documents d "
                "CROSS JOIN unnest(%s::integer[], %s::text[], %s::text[], %s::bytea[]) "
                "AS c(seq, section, text, embedding) WHERE d.name = %s",
                (
                    [c.seq for c in chunks],
                    [c.section for c in chunks],
                    [c.text for c in chunks],
                    vectors,
                    document.name,
                ),
            )
            await conn.execute(
                "UPDATE store_meta SET value = (value::bigint + 1)::text "
                "WHERE key = 'knowledge_revision'"
            )

    async def delete_document(self, name: str) -> bool:
        """Remove a document and its chunks (False: there is none by that name)."""
        rows = await self._db.rows(
            "WITH d AS (DELETE FROM documents WHERE name = %s RETURNING 1), "
            "r AS (UPDATE store_meta SET value = (value::bigint + 1)::text "
            "WHERE key = 'knowledge_revision' AND EXISTS (SELECT 1 FROM d)) "
            "SELECT count(*) FROM d",
            (name,),
        )
        return bool(rows[0][0])

    async def documents(self) -> Sequence[tuple[str, int]]:
        """Every document's name and chunk count, by name (byte order)."""
        rows = await self._db.rows(
            'SELECT name, chunks FROM documents ORDER BY name COLLATE "C"', ()
        )
        return [(str(n), int(c)) for n, c in rows]
