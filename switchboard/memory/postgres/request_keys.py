"""Request keys and tombstones on PostgreSQL.

Request keys: processed webhook ids and ``Idempotency-Key``s, kept a while.

One row per (scope, key) with the request's digest and when it expires. Claiming is one
transaction: an expired row is deleted, then the insert either wins or the live row's digest
is read. Expired rows are swept now and then as claims go by (``expires_at`` is indexed).
Tombstones: when a customer was forgotten, under a hash of their number
(``switchboard.memory.tombstones``).
"""

from __future__ import annotations

from datetime import datetime

from switchboard.memory.postgres.database import PostgresDatabase, read_time, utc

_SWEEP_EVERY = 500  # claims between sweeps of expired rows


class PostgresRequestKeys:
    """The request-key part of the key side (``PostgresKeys``).

    Args:
        db: The store's connection pool.
    """

    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db
        self._claims = 0

    async def claim_request_key(
        self, scope: str, key: str, digest: str, *, now: datetime, expires_at: datetime
    ) -> str | None:
        """Record the key unless a live record exists; that record's digest, else None."""
        self._claims += 1
        params = {"scope": scope, "key": key, "digest": digest, "now": utc(now),
                  "expires": utc(expires_at)}  # fmt: skip
        async with self._db.connection() as conn, conn.transaction():
            if self._claims % _SWEEP_EVERY == 1:
                await conn.execute("DELETE FROM request_keys WHERE expires_at <= %(now)s", params)
            await conn.execute(
                "DELETE FROM request_keys WHERE scope = %(scope)s AND key = %(key)s "
                "AND expires_at <= %(now)s",
                params,
            )
            cursor = await conn.execute(
                "INSERT INTO request_keys VALUES (%(scope)s, %(key)s, %(digest)s, %(expires)s) "
                "ON CONFLICT DO NOTHING RETURNING 1",
                params,
            )
            if await cursor.fetchone() is not None:
                return None
            cursor = await conn.execute(
                "SELECT digest FROM request_keys WHERE scope = %(scope)s AND key = %(key)s",
                params,
            )
            row = await cursor.fetchone()
            return str(row[0]) if row is not None else None

    async def release_request_key(self, scope: str, key: str) -> None:
        """Forget a claim whose request was not carried out (it may be tried again)."""
        await self._db.rows(
            "DELETE FROM request_keys WHERE scope = %(scope)s AND key = %(key)s RETURNING 1",
            {"scope": scope, "key": key},
        )

    async def request_key_seen(self, scope: str, key: str, *, now: datetime) -> bool:
        """Whether a live record of the key exists."""
        rows = await self._db.rows(
            "SELECT 1 FROM request_keys WHERE scope = %(scope)s AND key = %(key)s "
            "AND expires_at > %(now)s",
            {"scope": scope, "key": key, "now": utc(now)},
        )
        return bool(rows)

    async def forgotten_at(self, customer_hash: str) -> datetime | None:
        """When the customer with this hash was last forgotten (None: never)."""
        rows = await self._db.rows(
            "SELECT at FROM tombstones WHERE customer_hash = %(hash)s", {"hash": customer_hash}
        )
        return read_time(rows[0][0]) if rows else None

    async def add_tombstone(self, customer_hash: str, at: datetime) -> None:
        """Record that the customer with this hash was forgotten at ``at``."""
        await self._db.rows(
            "INSERT INTO tombstones VALUES (%(hash)s, %(at)s) ON CONFLICT (customer_hash) "
            "DO UPDATE SET at = greatest(tombstones.at, excluded.at) RETURNING 1",
            {"hash": customer_hash, "at": utc(at)},
        )
