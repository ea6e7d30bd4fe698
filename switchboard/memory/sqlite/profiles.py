"""Customer memory on SQLite: profiles, identifiers, traits, observations, conversations.

Every write upserts the customer's profile first, in the same transaction, and is
idempotent (an observation by its key, a conversation by its run id). Forgetting deletes the
profile; the rest cascades.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime

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
from switchboard.memory.sides import ProfileParts, profile_of
from switchboard.memory.sqlite.database import SqliteDatabase, iso, read_time


class SqliteProfiles:
    """The profile side of ``SqliteStore``: its ``MemoryStore`` methods, on the store's file.

    Args:
        db: The store's connection.
    """

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    @staticmethod
    def _ensure_profile(db: sqlite3.Connection, customer: str, at: datetime) -> None:
        db.execute(
            "INSERT INTO profiles VALUES (?, ?, ?) "
            "ON CONFLICT(customer) DO UPDATE SET updated_at = max(updated_at, excluded.updated_at)",
            (customer, iso(at), iso(at)),
        )

    @staticmethod
    def _attach(db: sqlite3.Connection, customer: str, ident: Identifier, at: datetime) -> bool:
        """Attach unless another profile holds the address (it never moves); True if attached."""
        cursor = db.execute(
            "INSERT INTO identifiers VALUES (?, ?, ?, ?) ON CONFLICT(kind, value) DO UPDATE "
            "SET added_at = excluded.added_at WHERE identifiers.customer = excluded.customer",
            (ident.kind, ident.value, customer, iso(at)),
        )
        return cursor.rowcount > 0

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

        return await self._db.run(find)

    async def add_identifier(self, customer: str, address: str, *, at: datetime) -> bool:
        """Attach an address unless another profile holds it (see ``MemoryStore``)."""
        customer = to_e164(customer)
        ident = parse_identifier(address)

        def add(db: sqlite3.Connection) -> bool:
            self._ensure_profile(db, customer, at)
            return self._attach(db, customer, ident, at)

        return await self._db.write(add)

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
                (customer, name, json.dumps(value), source, iso(at)),
            )

        await self._db.write(put)

    async def add_observation(self, customer: str, observation: NewObservation) -> bool:
        """Store an observation once per key (False: one with its key exists)."""
        customer = to_e164(customer)

        def add(db: sqlite3.Connection) -> bool:
            self._ensure_profile(db, customer, observation.at)
            cursor = db.execute(
                "INSERT INTO observations (key, customer, text, source, at, conversation_ids) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO NOTHING",
                (
                    observation.key, customer, observation.text, observation.source,
                    iso(observation.at), json.dumps(observation.conversation_ids),
                ),
            )  # fmt: skip
            return cursor.rowcount > 0

        return await self._db.write(add)

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
                    record.run_id, customer, record.conversation_id, iso(record.closed_at),
                    summary.text if summary else None, summary.source if summary else None,
                    iso(summary.at) if summary else None,
                ),
            )  # fmt: skip
            if cursor.rowcount == 0:
                return False
            db.executemany(
                "INSERT INTO transcript_lines (run_id, seq, customer, role, text, channel, at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (record.run_id, seq, customer, line.role, line.text, str(line.channel),
                     iso(line.at))
                    for seq, line in enumerate(record.transcript)
                ],
            )  # fmt: skip
            for address in record.identifiers:
                self._attach(db, customer, parse_identifier(address), record.closed_at)
            return True

        return await self._db.write(save)

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

        parts, created = await self._db.run(read)
        if not parts.known:
            return None
        return profile_of(customer, parts, read_time(created) if created else None)

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

        return await self._db.write(delete)

    async def recall_parts(self, query: RecallQuery) -> ProfileParts:
        """What recall ranks: the latest ``OBSERVATION_WINDOW`` observations and so on."""
        return await self._db.run(
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
            Trait(name=name, value=json.loads(value), source=source, at=read_time(at))
            for name, value, source, at in db.execute(
                "SELECT name, value, source, at FROM traits WHERE customer = ? ORDER BY name",
                (customer,),
            )
        ]
        observed = [
            Observation(
                text=text, source=source, at=read_time(at), conversation_ids=json.loads(ids)
            )
            for text, source, at, ids in db.execute(
                "SELECT text, source, at, conversation_ids FROM observations "
                "WHERE customer = ? ORDER BY at DESC, id DESC LIMIT ?",
                (customer, observations),
            )
        ]
        summaries = [
            Summary(text=text, conversation_id=cid, at=read_time(at), source=source, run_id=run_id)
            for text, cid, at, source, run_id in db.execute(
                "SELECT summary, conversation_id, summary_at, summary_source, run_id "
                "FROM conversations WHERE customer = ? AND summary IS NOT NULL "
                "ORDER BY closed_at DESC LIMIT ?",
                (customer, max(query.summaries_limit, 0)),
            )
        ]
        past = [
            PastLine(conversation_id=cid, role=role, text=text, channel=channel, at=read_time(at))
            for cid, role, text, channel, at in db.execute(
                "SELECT c.conversation_id, l.role, l.text, l.channel, l.at "
                "FROM transcript_lines l JOIN conversations c ON c.run_id = l.run_id "
                "WHERE l.customer = ? AND l.run_id != ? AND l.role IN ('customer', 'assistant') "
                "ORDER BY c.closed_at DESC, l.seq DESC LIMIT ?",
                (customer, query.exclude_run_id or "", lines),
            )
        ] if lines else []  # fmt: skip
        return ProfileParts(True, identifiers, traits, observed, summaries, past)
