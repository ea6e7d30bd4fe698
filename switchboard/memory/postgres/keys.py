"""Payload data keys on PostgreSQL: the ``data_keys`` table, rows wrapped by a master key."""

from __future__ import annotations

from typing import Any

from switchboard.memory.models import StoredDataKey
from switchboard.memory.postgres.database import read_time, utc
from switchboard.memory.postgres.request_keys import PostgresRequestKeys


class PostgresKeys(PostgresRequestKeys):
    """The key side of ``PostgresStore``: data keys, and request keys (``PostgresRequestKeys``).

    Args:
        db: The store's connection pool.
    """

    async def latest_data_key(self, scope: str) -> StoredDataKey | None:
        """The newest data key of ``scope``."""
        rows = await self._db.rows(
            "SELECT key_id, scope, master_key_id, wrapped, created_at FROM data_keys "
            "WHERE scope = %s ORDER BY created_at DESC, key_id DESC LIMIT 1",
            (scope,),
        )
        return _key(rows[0]) if rows else None

    async def data_key(self, key_id: str) -> StoredDataKey | None:
        """The data key with this id."""
        rows = await self._db.rows(
            "SELECT key_id, scope, master_key_id, wrapped, created_at FROM data_keys "
            "WHERE key_id = %s",
            (key_id,),
        )
        return _key(rows[0]) if rows else None

    async def add_data_key(self, key: StoredDataKey) -> None:
        """Store a new data key."""
        await self._db.rows(
            "INSERT INTO data_keys VALUES (%s, %s, %s, %s, %s) RETURNING 1",
            (key.key_id, key.scope, key.master_key_id, key.wrapped, utc(key.created_at)),
        )

    async def forget(self, customer: str) -> bool:
        """Delete the customer's data keys: their payloads in Temporal become unreadable."""
        rows = await self._db.rows(
            "DELETE FROM data_keys WHERE scope = %s RETURNING 1", (customer,)
        )
        return bool(rows)


def _key(row: Any) -> StoredDataKey:
    key_id, scope, master_key_id, wrapped, created_at = row
    return StoredDataKey(
        key_id=key_id,
        scope=scope,
        master_key_id=master_key_id,
        wrapped=bytes(wrapped),
        created_at=read_time(created_at),
    )
