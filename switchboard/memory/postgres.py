"""The server backend: PostgreSQL through a psycopg connection pool, full-text search native.

Every connection is in autocommit mode: a write is one statement (its profile upsert and its
rows in data-modifying ``WITH`` clauses), so it is atomic without an explicit transaction and
costs one round trip; the few multi-statement operations run in a transaction. Reads that
need several queries send them in one pipeline. Any number of processes share the database.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, PoolTimeout

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
from switchboard.memory.postgres_schema import MIGRATIONS
from switchboard.memory.text_search import tsquery

MIGRATION_LOCK = 0x5377_6D65_6D6F_7279
"""The ``pg_advisory_xact_lock`` key migrations serialise on ("Swmemory")."""

_PROFILE = (
    "INSERT INTO profiles (customer, created_at, updated_at) VALUES (%(customer)s, %(at)s, %(at)s) "
    "ON CONFLICT (customer) DO UPDATE "
    "SET updated_at = GREATEST(profiles.updated_at, excluded.updated_at)"
)
"""Create the profile, or move its ``updated_at`` forward (a ``WITH`` clause of a write)."""

_ATTACH = (
    "INSERT INTO identifiers (kind, value, customer, added_at) "
    "SELECT kind, value, %(customer)s, %(at)s "
    "FROM unnest(%(kinds)s::text[], %(values)s::text[]) AS i(kind, value) {where} "
    "ON CONFLICT (kind, value) DO UPDATE "
    "SET customer = excluded.customer, added_at = excluded.added_at"
)


def _utc(at: datetime) -> datetime:
    """A time as stored: naive times are UTC (as the SQLite backend reads them)."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def _read_time(at: datetime) -> datetime:
    """A stored time in UTC, whatever the session's time zone."""
    return at.astimezone(UTC)


def _limit(n: int) -> int | None:
    """A ``LIMIT`` value: negative means none, as in SQLite."""
    return None if n < 0 else n


def _json_value(value: TraitValue) -> str:
    """A trait value as JSON that reads back as the same Python type.

    ``numeric`` prints ``1e+20`` as an integer, so a large whole float keeps a decimal point.
    """
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return f"{value:.1f}"
    return json.dumps(value)


def _conninfo(url: str) -> str:
    """A libpq URL from a ``MEMORY_DATABASE_URL`` (SQLAlchemy's ``+psycopg`` dropped)."""
    if url.startswith("postgresql+psycopg://"):
        return "postgresql://" + url.removeprefix("postgresql+psycopg://")
    return url


class PostgresStore(SqlStore):
    """``MemoryStore`` on PostgreSQL (``postgresql://user:password@host:port/database``).

    The pool (``min_size`` to ``max_size`` connections) opens on first use; when no
    connection can be made within ``open_timeout`` seconds, the connection error is raised.
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
        self._conninfo = _conninfo(url)
        self._min_size = min_size
        self._max_size = max_size
        self._open_timeout = open_timeout
        self._pool: AsyncConnectionPool[AsyncConnection[Any]] | None = None
        self._opening = asyncio.Lock()

    # --- plumbing -------------------------------------------------------------------------

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
    async def _connection(self) -> AsyncIterator[AsyncConnection[Any]]:
        pool = self._pool if self._pool is not None else await self._open()
        async with pool.connection() as conn:
            yield conn

    async def _rows(self, query: Any, params: Sequence[Any] | dict[str, Any]) -> list[Any]:
        """One statement's rows."""
        async with self._connection() as conn:
            cursor = await conn.execute(query, params)
            return await cursor.fetchall()

    async def migrate(self) -> list[int]:
        """Apply the missing migrations, each in its own transaction, under an advisory lock."""
        applied: list[int] = []
        async with self._connection() as conn:
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

    # --- profiles -------------------------------------------------------------------------

    async def resolve(self, address: str) -> str | None:
        """The customer an address belongs to (see ``MemoryStore.resolve``)."""
        ident = parse_identifier(address)
        if ident.kind != "email":
            return ident.value
        rows = await self._rows(
            "SELECT customer FROM identifiers WHERE kind = %s AND value = %s",
            (ident.kind, ident.value),
        )
        return str(rows[0][0]) if rows else None

    async def add_identifier(self, customer: str, address: str, *, at: datetime) -> None:
        """Attach an address to a customer (moving it from another profile if need be)."""
        customer = to_e164(customer)
        ident = parse_identifier(address)
        await self._rows(
            f"WITH p AS ({_PROFILE}) {_ATTACH.format(where='')} RETURNING 1",
            {
                "customer": customer,
                "at": _utc(at),
                "kinds": [ident.kind],
                "values": [ident.value],
            },
        )

    async def set_trait(
        self, customer: str, name: str, value: TraitValue, *, source: str, at: datetime
    ) -> None:
        """Set a trait unless a newer value is stored."""
        customer = to_e164(customer)
        await self._rows(
            f"WITH p AS ({_PROFILE}) "
            "INSERT INTO traits (customer, name, value, source, at) "
            "VALUES (%(customer)s, %(name)s, %(value)s::jsonb, %(source)s, %(at)s) "
            "ON CONFLICT (customer, name) DO UPDATE "
            "SET value = excluded.value, source = excluded.source, at = excluded.at "
            "WHERE excluded.at >= traits.at RETURNING 1",
            {
                "customer": customer,
                "at": _utc(at),
                "name": name,
                "value": _json_value(value),
                "source": source,
            },
        )

    async def add_observation(self, customer: str, observation: NewObservation) -> bool:
        """Store an observation once per key."""
        customer = to_e164(customer)
        rows = await self._rows(
            f"WITH p AS ({_PROFILE}) "
            "INSERT INTO observations (key, customer, text, source, at, conversation_ids) "
            "VALUES (%(key)s, %(customer)s, %(text)s, %(source)s, %(at)s, %(ids)s) "
            "ON CONFLICT (key) DO NOTHING RETURNING 1",
            {
                "customer": customer,
                "at": _utc(observation.at),
                "key": observation.key,
                "text": observation.text,
                "source": observation.source,
                "ids": Jsonb(observation.conversation_ids),
            },
        )
        return bool(rows)

    async def save_conversation(self, record: ConversationRecord) -> bool:
        """Store a closed run once: summary, transcript, and the addresses it used."""
        customer = to_e164(record.customer)
        try:
            idents = list(dict.fromkeys(parse_identifier(a) for a in record.identifiers))
        except InvalidAddress:
            # As SQLite does: a run already stored is not stored again (False); a new one
            # with an invalid address is not stored at all (the error).
            async with self._connection() as conn, conn.transaction():
                if await self._save(conn, record, customer, []):
                    raise  # and the transaction rolls back
            return False
        async with self._connection() as conn:
            return await self._save(conn, record, customer, idents)

    @staticmethod
    async def _save(
        conn: AsyncConnection[Any],
        record: ConversationRecord,
        customer: str,
        idents: list[Identifier],
    ) -> bool:
        """The conversation, its lines and identifiers in one statement; True when new."""
        summary = record.summary
        lines = record.transcript
        cursor = await conn.execute(
            f"WITH p AS ({_PROFILE}), "
            "c AS (INSERT INTO conversations (run_id, customer, conversation_id, closed_at, "
            "summary, summary_source, summary_at) VALUES (%(run_id)s, %(customer)s, "
            "%(conversation_id)s, %(at)s, %(summary)s, %(summary_source)s, %(summary_at)s) "
            "ON CONFLICT (run_id) DO NOTHING RETURNING run_id), "
            "l AS (INSERT INTO transcript_lines (run_id, seq, customer, role, text, channel, at) "
            "SELECT c.run_id, t.seq, %(customer)s, t.role, t.text, t.channel, t.at FROM c "
            "CROSS JOIN unnest(%(seqs)s::integer[], %(roles)s::text[], %(texts)s::text[], "
            "%(channels)s::text[], %(ats)s::timestamptz[]) AS t(seq, role, text, channel, at)), "
            f"i AS ({_ATTACH.format(where='WHERE EXISTS (SELECT 1 FROM c)')}) "
            "SELECT count(*) FROM c",
            {
                "customer": customer,
                "at": _utc(record.closed_at),
                "run_id": record.run_id,
                "conversation_id": record.conversation_id,
                "summary": summary.text if summary else None,
                "summary_source": summary.source if summary else None,
                "summary_at": _utc(summary.at) if summary else None,
                "seqs": list(range(len(lines))),
                "roles": [line.role for line in lines],
                "texts": [line.text for line in lines],
                "channels": [str(line.channel) for line in lines],
                "ats": [_utc(line.at) for line in lines],
                "kinds": [i.kind for i in idents],
                "values": [i.value for i in idents],
            },
        )
        row = await cursor.fetchone()
        return bool(row and row[0])

    async def get_profile(self, customer: str, *, limit: int = 50) -> Profile | None:
        """The whole profile, newest observations and summaries first."""
        try:
            customer = to_e164(customer)
        except InvalidAddress:
            return None
        query = RecallQuery(customer=customer, observations_limit=limit, summaries_limit=limit)
        parts, created = await self._read_parts(query, observations=limit, lines=0)
        if not parts.known:
            return None
        return profile_of(customer, parts, created)

    async def forget(self, customer: str) -> bool:
        """Delete the profile; identifiers, traits, observations, conversations cascade."""
        try:
            customer = to_e164(customer)
        except InvalidAddress:
            return False
        # The lines go in bulk first; the cascade would delete them conversation by conversation.
        rows = await self._rows(
            "WITH l AS (DELETE FROM transcript_lines WHERE customer = %(customer)s) "
            "DELETE FROM profiles WHERE customer = %(customer)s RETURNING 1",
            {"customer": customer},
        )
        return bool(rows)

    async def _profile_parts(self, query: RecallQuery) -> ProfileParts:
        parts, _ = await self._read_parts(query, OBSERVATION_WINDOW, LINE_WINDOW)
        return parts

    async def _read_parts(
        self, query: RecallQuery, observations: int, lines: int
    ) -> tuple[ProfileParts, datetime | None]:
        """The profile's parts and creation time: every query sent in one pipeline."""
        customer = query.customer
        async with self._connection() as conn, conn.pipeline() as pipeline:
            profile = await conn.execute(
                "SELECT created_at FROM profiles WHERE customer = %s", (customer,)
            )
            identifiers = await conn.execute(
                "SELECT kind, value FROM identifiers WHERE customer = %s "
                "ORDER BY added_at, kind, id",
                (customer,),
            )
            traits = await conn.execute(
                "SELECT name, value, source, at FROM traits WHERE customer = %s "
                'ORDER BY name COLLATE "C"',
                (customer,),
            )
            observed = await conn.execute(
                "SELECT text, source, at, conversation_ids FROM observations "
                "WHERE customer = %s ORDER BY at DESC, id DESC LIMIT %s",
                (customer, _limit(observations)),
            )
            summaries = await conn.execute(
                "SELECT summary, conversation_id, summary_at, summary_source, run_id "
                "FROM conversations WHERE customer = %s AND summary IS NOT NULL "
                "ORDER BY closed_at DESC, id DESC LIMIT %s",
                (customer, max(query.summaries_limit, 0)),
            )
            past = (
                await conn.execute(
                    "SELECT c.conversation_id, l.role, l.text, l.channel, l.at "
                    "FROM transcript_lines l JOIN conversations c ON c.run_id = l.run_id "
                    "WHERE l.customer = %s AND l.run_id <> %s "
                    "AND l.role IN ('customer', 'assistant') "
                    'ORDER BY c.closed_at DESC, l.seq DESC, l.run_id COLLATE "C", l.id '
                    "LIMIT %s",
                    (customer, query.exclude_run_id or "", _limit(lines)),
                )
                if lines
                else None
            )
            await pipeline.sync()
            created = await profile.fetchone()
            if created is None:
                return ProfileParts(False, [], [], [], [], []), None
            parts = ProfileParts(
                True,
                [Identifier(kind, value).address for kind, value in await identifiers.fetchall()],
                [
                    Trait(name=name, value=value, source=source, at=_read_time(at))
                    for name, value, source, at in await traits.fetchall()
                ],
                [
                    Observation(text=text, source=source, at=_read_time(at), conversation_ids=ids)
                    for text, source, at, ids in await observed.fetchall()
                ],
                [
                    Summary(
                        text=text,
                        conversation_id=cid,
                        at=_read_time(at),
                        source=source,
                        run_id=run_id,
                    )
                    for text, cid, at, source, run_id in await summaries.fetchall()
                ],
                [
                    PastLine(
                        conversation_id=cid,
                        role=role,
                        text=text,
                        channel=channel,
                        at=_read_time(at),
                    )
                    for cid, role, text, channel, at in (await past.fetchall() if past else [])
                ],
            )
            return parts, _read_time(created[0])

    # --- knowledge ------------------------------------------------------------------------

    async def _fts_chunks(self, terms: list[str], limit: int) -> list[tuple[int, float]]:
        expression = tsquery(terms)
        if not expression:
            return []
        # ts_rank (term frequency, section words weighted A) rather than ts_rank_cd (cover
        # density): a common word matches a quarter of a large knowledge base, every match is
        # scored, and ts_rank costs ~2 µs a row against ts_rank_cd's ~15 (benchmarks/).
        rows = await self._rows(
            "SELECT id, ts_rank(tsv, q) AS rank "
            "FROM chunks, to_tsquery('english', %s) AS q WHERE tsv @@ q "
            "ORDER BY rank DESC, id LIMIT %s",
            (expression, limit),
        )
        return [(int(i), float(score)) for i, score in rows]

    async def _term_count(self, term: str) -> int:
        if not term:
            rows = await self._rows("SELECT count(*) FROM chunks", ())
        else:
            rows = await self._rows(
                "SELECT count(*) FROM chunks WHERE tsv @@ to_tsquery('english', %s)",
                (tsquery([term]) or "''",),
            )
        return int(rows[0][0])

    async def _chunks(self, ids: list[int]) -> dict[int, KnowledgeHit]:
        if not ids:
            return {}
        rows = await self._rows(
            "SELECT c.id, d.name, c.section, c.text FROM chunks c "
            "JOIN documents d ON d.id = c.document_id WHERE c.id = ANY(%s::bigint[])",
            (ids,),
        )
        return {
            int(i): KnowledgeHit(document=name, section=section, text=text, score=0.0)
            for i, name, section, text in rows
        }

    async def _knowledge_revision(self) -> str:
        rows = await self._rows(
            "SELECT value FROM store_meta WHERE key = %s", ("knowledge_revision",)
        )
        return str(rows[0][0])

    async def _all_vectors(self) -> list[tuple[int, bytes]]:
        rows = await self._rows(
            "SELECT id, embedding FROM chunks WHERE embedding IS NOT NULL ORDER BY id", ()
        )
        return [(int(i), bytes(blob)) for i, blob in rows]

    async def _document_digest(self, name: str) -> tuple[str, int] | None:
        rows = await self._rows("SELECT sha256, chunks FROM documents WHERE name = %s", (name,))
        return (str(rows[0][0]), int(rows[0][1])) if rows else None

    async def _replace_document(
        self, document: DocumentIn, digest: str, chunks: list[Chunk], vectors: list[bytes | None]
    ) -> None:
        # The upsert locks the document's row, so concurrent ingests of one name take turns.
        async with self._connection() as conn, conn.pipeline(), conn.transaction():
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
        """Remove a document and its chunks."""
        rows = await self._rows(
            "WITH d AS (DELETE FROM documents WHERE name = %s RETURNING 1), "
            "r AS (UPDATE store_meta SET value = (value::bigint + 1)::text "
            "WHERE key = 'knowledge_revision' AND EXISTS (SELECT 1 FROM d)) "
            "SELECT count(*) FROM d",
            (name,),
        )
        return bool(rows[0][0])

    async def documents(self) -> Sequence[tuple[str, int]]:
        """Every document's name and chunk count."""
        rows = await self._rows('SELECT name, chunks FROM documents ORDER BY name COLLATE "C"', ())
        return [(str(n), int(c)) for n, c in rows]
