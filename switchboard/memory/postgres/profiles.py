"""Customer memory on PostgreSQL: profiles, identifiers, traits, observations, conversations.

Each write is one statement: the profile upsert (``_PROFILE``) and the rows go in
data-modifying ``WITH`` clauses, so it is atomic in autocommit mode. A profile's reads are sent
in one pipeline. Forgetting deletes the profile; the rest cascades.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from switchboard.contract.addresses import InvalidAddress, to_e164
from switchboard.memory.base import LINE_WINDOW, OBSERVATION_WINDOW
from switchboard.memory.identity import Identifier, parse_identifier
from switchboard.memory.models import (
    ConversationRecord,
    NewObservation,
    Observation,
    PastLine,
    Profile,
    RecallQuery,
    Summary,
    Trait,
    TraitValue,
)
from switchboard.memory.postgres.database import PostgresDatabase, read_time, utc
from switchboard.memory.sides import ProfileParts, profile_of

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
    "ON CONFLICT (kind, value) DO UPDATE SET added_at = excluded.added_at "
    "WHERE identifiers.customer = excluded.customer"
)
"""Attach addresses unless another profile holds them: an address never moves (a row comes
back only for one attached to this customer)."""


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


class PostgresProfiles:
    """The profile side of ``PostgresStore``: its ``MemoryStore`` methods, on the store's pool.

    Args:
        db: The store's connection pool.
    """

    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    async def resolve(self, address: str) -> str | None:
        """The customer an address belongs to (see ``MemoryStore.resolve``)."""
        ident = parse_identifier(address)
        if ident.kind != "email":
            return ident.value
        rows = await self._db.rows(
            "SELECT customer FROM identifiers WHERE kind = %s AND value = %s",
            (ident.kind, ident.value),
        )
        return str(rows[0][0]) if rows else None

    async def add_identifier(self, customer: str, address: str, *, at: datetime) -> bool:
        """Attach an address unless another profile holds it (see ``MemoryStore``)."""
        customer = to_e164(customer)
        ident = parse_identifier(address)
        rows = await self._db.rows(
            f"WITH p AS ({_PROFILE}) {_ATTACH.format(where='')} RETURNING 1",
            {
                "customer": customer,
                "at": utc(at),
                "kinds": [ident.kind],
                "values": [ident.value],
            },
        )
        return bool(rows)

    async def set_trait(
        self, customer: str, name: str, value: TraitValue, *, source: str, at: datetime
    ) -> None:
        """Set a trait unless a newer value is stored."""
        customer = to_e164(customer)
        await self._db.rows(
            f"WITH p AS ({_PROFILE}) "
            "INSERT INTO traits (customer, name, value, source, at) "
            "VALUES (%(customer)s, %(name)s, %(value)s::jsonb, %(source)s, %(at)s) "
            "ON CONFLICT (customer, name) DO UPDATE "
            "SET value = excluded.value, source = excluded.source, at = excluded.at "
            "WHERE excluded.at >= traits.at RETURNING 1",
            {
                "customer": customer,
                "at": utc(at),
                "name": name,
                "value": _json_value(value),
                "source": source,
            },
        )

    async def add_observation(self, customer: str, observation: NewObservation) -> bool:
        """Store an observation once per key (False: one with its key exists)."""
        customer = to_e164(customer)
        rows = await self._db.rows(
            f"WITH p AS ({_PROFILE}) "
            "INSERT INTO observations (key, customer, text, source, at, conversation_ids) "
            "VALUES (%(key)s, %(customer)s, %(text)s, %(source)s, %(at)s, %(ids)s) "
            "ON CONFLICT (key) DO NOTHING RETURNING 1",
            {
                "customer": customer,
                "at": utc(observation.at),
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
            async with self._db.connection() as conn, conn.transaction():
                if await self._save(conn, record, customer, []):
                    raise  # and the transaction rolls back
            return False
        async with self._db.connection() as conn:
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
                "at": utc(record.closed_at),
                "run_id": record.run_id,
                "conversation_id": record.conversation_id,
                "summary": summary.text if summary else None,
                "summary_source": summary.source if summary else None,
                "summary_at": utc(summary.at) if summary else None,
                "seqs": list(range(len(lines))),
                "roles": [line.role for line in lines],
                "texts": [line.text for line in lines],
                "channels": [str(line.channel) for line in lines],
                "ats": [utc(line.at) for line in lines],
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
        rows = await self._db.rows(
            "WITH l AS (DELETE FROM transcript_lines WHERE customer = %(customer)s) "
            "DELETE FROM profiles WHERE customer = %(customer)s RETURNING 1",
            {"customer": customer},
        )
        return bool(rows)

    async def recall_parts(self, query: RecallQuery) -> ProfileParts:
        """What recall ranks: the latest ``OBSERVATION_WINDOW`` observations and so on."""
        parts, _ = await self._read_parts(query, OBSERVATION_WINDOW, LINE_WINDOW)
        return parts

    async def _read_parts(
        self, query: RecallQuery, observations: int, lines: int
    ) -> tuple[ProfileParts, datetime | None]:
        """The profile's parts and creation time: every query sent in one pipeline."""
        customer = query.customer
        async with self._db.connection() as conn, conn.pipeline() as pipeline:
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
                    Trait(name=name, value=value, source=source, at=read_time(at))
                    for name, value, source, at in await traits.fetchall()
                ],
                [
                    Observation(text=text, source=source, at=read_time(at), conversation_ids=ids)
                    for text, source, at, ids in await observed.fetchall()
                ],
                [
                    Summary(
                        text=text,
                        conversation_id=cid,
                        at=read_time(at),
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
                        at=read_time(at),
                    )
                    for cid, role, text, channel, at in (await past.fetchall() if past else [])
                ],
            )
            return parts, read_time(created[0])
