"""The embedded backend: one SQLite file (WAL), full-text search with FTS5.

One connection per process, used from one thread, so the event loop never blocks on the
disk and statements never interleave. Several processes (worker and gateway) share the file;
WAL lets readers run beside the single writer.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from switchboard.contract.addresses import InvalidAddress, to_e164
from switchboard.memory.base import (
    LINE_WINDOW,
    OBSERVATION_WINDOW,
    ProfileParts,
    SqlStore,
    profile_of,
)
from switchboard.memory.chunking import Chunk
from switchboard.memory.embeddings import Embedder
from switchboard.memory.identity import Identifier, parse_identifier
from switchboard.memory.models import (
    ConversationRecord,
    DocumentIn,
    KnowledgeHit,
    NewObservation,
    Observation,
    PastLine,
    Profile,
    RecallQuery,
    Summary,
    Trait,
    TraitValue,
)
from switchboard.memory.sqlite_schema import MIGRATIONS
from switchboard.memory.text_search import fts5_query

_T = TypeVar("_T")


def _iso(at: datetime) -> str:
    """Times are stored as UTC ISO-8601 text, which sorts in time order."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


class SqliteStore(SqlStore):
    """``MemoryStore`` on a SQLite file (``sqlite:///relative`` or ``sqlite:////absolute``)."""

    backend = "sqlite"

    def __init__(self, url: str, *, embedder: Embedder | None = None) -> None:
        super().__init__(embedder)
        self._path = Path(url.removeprefix("sqlite:///"))
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="memory-sqlite")
        self._db: sqlite3.Connection | None = None

    # --- plumbing -------------------------------------------------------------------------

    async def _run(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, fn)

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

    def _write(self, fn: Callable[[sqlite3.Connection], _T]) -> Callable[[sqlite3.Connection], _T]:
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

    async def migrate(self) -> list[int]:
        """Apply the missing migrations, each in its own transaction."""

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
                            (version, name, _iso(datetime.now(UTC))),
                        )
                        applied.append(version)
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
            return applied

        return await self._run(apply)

    async def close(self) -> None:
        """Close the connection and its thread."""

        def shut(db: sqlite3.Connection) -> None:
            db.close()

        if self._db is not None:
            await self._run(shut)
            self._db = None
        self._executor.shutdown(wait=True)

    # --- profiles -------------------------------------------------------------------------

    @staticmethod
    def _ensure_profile(db: sqlite3.Connection, customer: str, at: datetime) -> None:
        db.execute(
            "INSERT INTO profiles VALUES (?, ?, ?) "
            "ON CONFLICT(customer) DO UPDATE SET updated_at = max(updated_at, excluded.updated_at)",
            (customer, _iso(at), _iso(at)),
        )

    @staticmethod
    def _attach(db: sqlite3.Connection, customer: str, ident: Identifier, at: datetime) -> None:
        db.execute(
            "INSERT INTO identifiers VALUES (?, ?, ?, ?) ON CONFLICT(kind, value) DO UPDATE "
            "SET customer = excluded.customer, added_at = excluded.added_at",
            (ident.kind, ident.value, customer, _iso(at)),
        )

    async def resolve(self, address: str) -> str | None:
        """The customer an address belongs to (see ``MemoryStore.resolve``)."""
        ident = parse_identifier(address)
        if ident.kind != "email":
            return ident.value

        def find(db: sqlite3.Connection) -> str | None:
            row = db.execute(
                "SELECT customer FROM identifiers WHERE kind = ? AND value = ?",
                (ident.kind, ident.value),
            ).fetchone()
            return str(row[0]) if row else None

        return await self._run(find)

    async def add_identifier(self, customer: str, address: str, *, at: datetime) -> None:
        """Attach an address to a customer (moving it from another profile if need be)."""
        customer = to_e164(customer)
        ident = parse_identifier(address)

        def add(db: sqlite3.Connection) -> None:
            self._ensure_profile(db, customer, at)
            self._attach(db, customer, ident, at)

        await self._run(self._write(add))

    async def set_trait(
        self, customer: str, name: str, value: TraitValue, *, source: str, at: datetime
    ) -> None:
        """Set a trait unless a newer value is stored."""
        customer = to_e164(customer)

        def put(db: sqlite3.Connection) -> None:
            self._ensure_profile(db, customer, at)
            db.execute(
                "INSERT INTO traits VALUES (?, ?, ?, ?, ?) ON CONFLICT(customer, name) DO UPDATE "
                "SET value = excluded.value, source = excluded.source, at = excluded.at "
                "WHERE excluded.at >= traits.at",
                (customer, name, json.dumps(value), source, _iso(at)),
            )

        await self._run(self._write(put))

    async def add_observation(self, customer: str, observation: NewObservation) -> bool:
        """Store an observation once per key."""
        customer = to_e164(customer)

        def add(db: sqlite3.Connection) -> bool:
            self._ensure_profile(db, customer, observation.at)
            cursor = db.execute(
                "INSERT INTO observations (key, customer, text, source, at, conversation_ids) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO NOTHING",
                (
                    observation.key, customer, observation.text, observation.source,
                    _iso(observation.at), json.dumps(observation.conversation_ids),
                ),
            )  # fmt: skip
            return cursor.rowcount > 0

        return await self._run(self._write(add))

    async def save_conversation(self, record: ConversationRecord) -> bool:
        """Store a closed run once: summary, transcript, and the addresses it used."""
        customer = to_e164(record.customer)

        def save(db: sqlite3.Connection) -> bool:
            self._ensure_profile(db, customer, record.closed_at)
            summary = record.summary
            cursor = db.execute(
                "INSERT INTO conversations VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(run_id) DO NOTHING",
                (
                    record.run_id, customer, record.conversation_id, _iso(record.closed_at),
                    summary.text if summary else None, summary.source if summary else None,
                    _iso(summary.at) if summary else None,
                ),
            )  # fmt: skip
            if cursor.rowcount == 0:
                return False
            db.executemany(
                "INSERT INTO transcript_lines (run_id, seq, customer, role, text, channel, at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (record.run_id, seq, customer, line.role, line.text, str(line.channel),
                     _iso(line.at))
                    for seq, line in enumerate(record.transcript)
                ],
            )  # fmt: skip
            for address in record.identifiers:
                self._attach(db, customer, parse_identifier(address), record.closed_at)
            return True

        return await self._run(self._write(save))

    async def get_profile(self, customer: str, *, limit: int = 50) -> Profile | None:
        """The whole profile, newest observations and summaries first."""
        try:
            customer = to_e164(customer)
        except InvalidAddress:
            return None
        query = RecallQuery(customer=customer, observations_limit=limit, summaries_limit=limit)

        def read(db: sqlite3.Connection) -> tuple[ProfileParts, str | None]:
            parts = self._read_parts(db, query, observations=limit, lines=0)
            row = db.execute(
                "SELECT created_at FROM profiles WHERE customer = ?", (customer,)
            ).fetchone()
            return parts, (str(row[0]) if row else None)

        parts, created = await self._run(read)
        if not parts.known:
            return None
        return profile_of(customer, parts, _time(created) if created else None)

    async def forget(self, customer: str) -> bool:
        """Delete the profile; identifiers, traits, observations, conversations cascade."""
        try:
            customer = to_e164(customer)
        except InvalidAddress:
            return False

        def delete(db: sqlite3.Connection) -> bool:
            # Lines first: the cascade would delete them row by row anyway.
            db.execute("DELETE FROM transcript_lines WHERE customer = ?", (customer,))
            return db.execute("DELETE FROM profiles WHERE customer = ?", (customer,)).rowcount > 0

        return await self._run(self._write(delete))

    async def _profile_parts(self, query: RecallQuery) -> ProfileParts:
        return await self._run(
            lambda db: self._read_parts(db, query, OBSERVATION_WINDOW, LINE_WINDOW)
        )

    @staticmethod
    def _read_parts(
        db: sqlite3.Connection, query: RecallQuery, observations: int, lines: int
    ) -> ProfileParts:
        customer = query.customer
        known = db.execute("SELECT 1 FROM profiles WHERE customer = ?", (customer,)).fetchone()
        if known is None:
            return ProfileParts(False, [], [], [], [], [])
        identifiers = [
            Identifier(kind, value).address
            for kind, value in db.execute(
                "SELECT kind, value FROM identifiers WHERE customer = ? ORDER BY added_at, kind",
                (customer,),
            )
        ]
        traits = [
            Trait(name=name, value=json.loads(value), source=source, at=_time(at))
            for name, value, source, at in db.execute(
                "SELECT name, value, source, at FROM traits WHERE customer = ? ORDER BY name",
                (customer,),
            )
        ]
        observed = [
            Observation(text=text, source=source, at=_time(at), conversation_ids=json.loads(ids))
            for text, source, at, ids in db.execute(
                "SELECT text, source, at, conversation_ids FROM observations "
                "WHERE customer = ? ORDER BY at DESC, id DESC LIMIT ?",
                (customer, observations),
            )
        ]
        summaries = [
            Summary(text=text, conversation_id=cid, at=_time(at), source=source, run_id=run_id)
            for text, cid, at, source, run_id in db.execute(
                "SELECT summary, conversation_id, summary_at, summary_source, run_id "
                "FROM conversations WHERE customer = ? AND summary IS NOT NULL "
                "ORDER BY closed_at DESC LIMIT ?",
                (customer, max(query.summaries_limit, 0)),
            )
        ]
        past = [
            PastLine(conversation_id=cid, role=role, text=text, channel=channel, at=_time(at))
            for cid, role, text, channel, at in db.execute(
                "SELECT c.conversation_id, l.role, l.text, l.channel, l.at "
                "FROM transcript_lines l JOIN conversations c ON c.run_id = l.run_id "
                "WHERE l.customer = ? AND l.run_id != ? AND l.role IN ('customer', 'assistant') "
                "ORDER BY c.closed_at DESC, l.seq DESC LIMIT ?",
                (customer, query.exclude_run_id or "", lines),
            )
        ] if lines else []  # fmt: skip
        return ProfileParts(True, identifiers, traits, observed, summaries, past)

    # --- knowledge ------------------------------------------------------------------------

    async def _fts_chunks(self, terms: list[str], limit: int) -> list[tuple[int, float]]:
        def search(db: sqlite3.Connection) -> list[tuple[int, float]]:
            rows = db.execute(
                "SELECT rowid, bm25(chunks_fts, 2.0, 1.0) FROM chunks_fts "
                "WHERE chunks_fts MATCH ? ORDER BY bm25(chunks_fts, 2.0, 1.0) LIMIT ?",
                (fts5_query(terms), limit),
            ).fetchall()
            return [(int(i), -float(score)) for i, score in rows]  # bm25: lower is better

        return await self._run(search)

    async def _term_count(self, term: str) -> int:
        def count(db: sqlite3.Connection) -> int:
            if not term:
                return int(db.execute("SELECT count(*) FROM chunks").fetchone()[0])
            return int(
                db.execute(
                    "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?",
                    (fts5_query([term]),),
                ).fetchone()[0]
            )

        return await self._run(count)

    async def _chunks(self, ids: list[int]) -> dict[int, KnowledgeHit]:
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

        return await self._run(read)

    async def _knowledge_revision(self) -> str:
        return await self._run(
            lambda db: str(
                db.execute(
                    "SELECT value FROM store_meta WHERE key = 'knowledge_revision'"
                ).fetchone()[0]
            )
        )

    async def _all_vectors(self) -> list[tuple[int, bytes]]:
        return await self._run(
            lambda db: [
                (int(i), bytes(blob))
                for i, blob in db.execute(
                    "SELECT id, embedding FROM chunks WHERE embedding IS NOT NULL"
                )
            ]
        )

    async def _document_digest(self, name: str) -> tuple[str, int] | None:
        def read(db: sqlite3.Connection) -> tuple[str, int] | None:
            row = db.execute(
                "SELECT sha256, chunks FROM documents WHERE name = ?", (name,)
            ).fetchone()
            return (str(row[0]), int(row[1])) if row else None

        return await self._run(read)

    async def _replace_document(
        self, document: DocumentIn, digest: str, chunks: list[Chunk], vectors: list[bytes | None]
    ) -> None:
        now = _iso(datetime.now(UTC))

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

        await self._run(self._write(replace))

    @staticmethod
    def _bump_revision(db: sqlite3.Connection) -> None:
        db.execute(
            "UPDATE store_meta SET value = CAST(value AS INTEGER) + 1 "
            "WHERE key = 'knowledge_revision'"
        )

    async def delete_document(self, name: str) -> bool:
        """Remove a document and its chunks."""

        def delete(db: sqlite3.Connection) -> bool:
            gone = db.execute("DELETE FROM documents WHERE name = ?", (name,)).rowcount > 0
            if gone:
                self._bump_revision(db)
            return gone

        return await self._run(self._write(delete))

    async def documents(self) -> Sequence[tuple[str, int]]:
        """Every document's name and chunk count."""
        return await self._run(
            lambda db: [
                (str(n), int(c))
                for n, c in db.execute("SELECT name, chunks FROM documents ORDER BY name")
            ]
        )


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
