"""Request keys and tombstones on SQLite.

Request keys: processed webhook ids and ``Idempotency-Key``s, kept for a while.

One row per (scope, key) with the request's digest and when it expires. Claiming is one
write transaction: an expired row is replaced, a live one answered. Expired rows are swept
now and then as claims go by (``expires_at`` is indexed). Tombstones: when a customer
was forgotten, under a hash of their number (``switchboard.memory.tombstones``).
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from switchboard.memory.sqlite.database import SqliteDatabase, iso, read_time

_SWEEP_EVERY = 500  # claims between sweeps of expired rows


class SqliteRequestKeys:
    """The request-key part of the key side (``SqliteKeys``).

    Args:
        db: The store's connection.
    """

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        self._claims = 0

    async def claim_request_key(
        self, scope: str, key: str, digest: str, *, now: datetime, expires_at: datetime
    ) -> str | None:
        """Record the key unless a live record exists; that record's digest, else None."""
        self._claims += 1
        sweep = self._claims % _SWEEP_EVERY == 1

        def claim(db: sqlite3.Connection) -> str | None:
            if sweep:
                db.execute("DELETE FROM request_keys WHERE expires_at <= ?", (iso(now),))
            db.execute(
                "DELETE FROM request_keys WHERE scope = ? AND key = ? AND expires_at <= ?",
                (scope, key, iso(now)),
            )
            inserted = db.execute(
                "INSERT INTO request_keys VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (scope, key, digest, iso(expires_at)),
            ).rowcount
            if inserted:
                return None
            row = db.execute(
                "SELECT digest FROM request_keys WHERE scope = ? AND key = ?", (scope, key)
            ).fetchone()
            return str(row[0])

        return await self._db.write(claim)

    async def release_request_key(self, scope: str, key: str) -> None:
        """Forget a claim whose request was not carried out (it may be tried again)."""
        await self._db.write(
            lambda db: db.execute(
                "DELETE FROM request_keys WHERE scope = ? AND key = ?", (scope, key)
            )
        )

    async def request_key_seen(self, scope: str, key: str, *, now: datetime) -> bool:
        """Whether a live record of the key exists."""
        row = await self._db.run(
            lambda db: db.execute(
                "SELECT 1 FROM request_keys WHERE scope = ? AND key = ? AND expires_at > ?",
                (scope, key, iso(now)),
            ).fetchone()
        )
        return row is not None

    async def forgotten_at(self, customer_hash: str) -> datetime | None:
        """When the customer with this hash was last forgotten (None: never)."""
        row = await self._db.run(
            lambda db: db.execute(
                "SELECT at FROM tombstones WHERE customer_hash = ?", (customer_hash,)
            ).fetchone()
        )
        return read_time(row[0]) if row else None

    async def add_tombstone(self, customer_hash: str, at: datetime) -> None:
        """Record that the customer with this hash was forgotten at ``at``."""
        await self._db.write(
            lambda db: db.execute(
                "INSERT INTO tombstones VALUES (?, ?) ON CONFLICT(customer_hash) "
                "DO UPDATE SET at = max(at, excluded.at)",
                (customer_hash, iso(at)),
            )
        )
