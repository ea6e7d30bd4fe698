"""The knowledge base on SQLite: documents, their chunks, and FTS5 full-text search.

``SqlStore`` ranks and fuses; this reads and writes the rows it asks for. Every ingest and
deletion moves the ``knowledge_revision`` in ``store_meta`` forward, in the same transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime

from switchboard.memory.chunking import Chunk
from switchboard.memory.models import DocumentIn, KnowledgeHit
from switchboard.memory.sqlite.database import SqliteDatabase, iso
from switchboard.memory.text_search import fts5_query


class SqliteKnowledge:
    """The knowledge side of ``SqliteStore``: its ``SqlStore`` primitives and document methods.

    Args:
        db: The store's connection.
    """

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def fts_chunks(self, terms: list[str], limit: int) -> list[tuple[int, float]]:
        """Chunk ids matching any term, best first, with the negated BM25 (higher better)."""

        def search(db: sqlite3.Connection) -> list[tuple[int, float]]:
            rows = db.execute(
                "SELECT rowid, bm25(chunks_fts, 2.0, 1.0) FROM chunks_fts "
                "WHERE chunks_fts MATCH ? ORDER BY bm25(chunks_fts, 2.0, 1.0) LIMIT ?",
                (fts5_query(terms), limit),
            ).fetchall()
            return [(int(i), -float(score)) for i, score in rows]  # bm25: lower is better

        return await self._db.run(search)

    async def term_count(self, term: str) -> int:
        """How many chunks contain ``term`` ("" counts every chunk)."""

        def count(db: sqlite3.Connection) -> int:
            if not term:
                return int(db.execute("SELECT count(*) FROM chunks").fetchone()[0])
            return int(
                db.execute(
                    "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?",
                    (fts5_query([term]),),
                ).fetchone()[0]
            )

        return await self._db.run(count)

    async def chunks(self, ids: list[int]) -> dict[int, KnowledgeHit]:
        """Chunks by id, with their document's name (score 0)."""
        if not ids:
            return {}

        def read(db: sqlite3.Connection) -> dict[int, KnowledgeHit]:
            marks = ",".join("?" * len(ids))
            return {
                int(i): KnowledgeHit(document=name, section=section, text=text, score=0.0)
                for i, name, section, text in db.execute(
                    "SELECT c.id, d.name, c.section, c.text FROM chunks c "
                    f"JOIN documents d ON d.id = c.document_id WHERE c.id IN ({marks})",
                    ids,
                )
            }

        return await self._db.run(read)

    async def revision(self) -> str:
        """The ``knowledge_revision``: it changes whenever a document is ingested or deleted."""
        return await self._db.run(
            lambda db: str(
                db.execute(
                    "SELECT value FROM store_meta WHERE key = 'knowledge_revision'"
                ).fetchone()[0]
            )
        )

    async def all_vectors(self) -> list[tuple[int, bytes]]:
        """Every embedded chunk's id and vector."""
        return await self._db.run(
            lambda db: [
                (int(i), bytes(blob))
                for i, blob in db.execute(
                    "SELECT id, embedding FROM chunks WHERE embedding IS NOT NULL"
                )
            ]
        )

    async def document_digest(self, name: str) -> tuple[str, int] | None:
        """The stored document's content digest and chunk count (None: no such document)."""

        def read(db: sqlite3.Connection) -> tuple[str, int] | None:
            row = db.execute(
                "SELECT sha256, chunks FROM documents WHERE name = ?", (name,)
            ).fetchone()
            return (str(row[0]), int(row[1])) if row else None

        return await self._db.run(read)

    async def replace_document(
        self, document: DocumentIn, digest: str, chunks: list[Chunk], vectors: list[bytes | None]
    ) -> None:
        """Store a document's chunks in place of the old ones, in one transaction."""
        now = iso(datetime.now(UTC))

        def replace(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM documents WHERE name = ?", (document.name,))
            cursor = db.execute(
                "INSERT INTO documents (name, content_type, sha256, chunks, ingested_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (document.name, document.content_type, digest, len(chunks), now),
            )
            doc_id = cursor.lastrowid
            db.executemany(
                "INSERT INTO chunks (document_id, seq, section, text, embedding) "
                "VALUES (?, ?, ?, ?, ?)",
                [
                    (doc_id, c.seq, c.section, c.text, v)
                    for c, v in zip(chunks, vectors, strict=True)
                ],
            )
            self._bump_revision(db)

        await self._db.write(replace)

    @staticmethod
    def _bump_revision(db: sqlite3.Connection) -> None:
        db.execute(
            "UPDATE store_meta SET value = CAST(value AS INTEGER) + 1 "
            "WHERE key = 'knowledge_revision'"
        )

    async def delete_document(self, name: str) -> bool:
        """Remove a document and its chunks (False: there is none by that name)."""

        def delete(db: sqlite3.Connection) -> bool:
            gone = db.execute("DELETE FROM documents WHERE name = ?", (name,)).rowcount > 0
            if gone:
                self._bump_revision(db)
            return gone

        return await self._db.write(delete)

    async def documents(self) -> Sequence[tuple[str, int]]:
        """Every document's name and chunk count, by name."""
        return await self._db.run(
            lambda db: [
                (str(n), int(c))
                for n, c in db.execute("SELECT name, chunks FROM documents ORDER BY name")
            ]
        )
