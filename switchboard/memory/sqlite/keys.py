"""Payload data keys on SQLite: the ``data_keys`` table, rows wrapped by a master key."""

from __future__ import annotations

import sqlite3

from switchboard.memory.models import StoredDataKey
from switchboard.memory.sqlite.database import iso, read_time
from switchboard.memory.sqlite.request_keys import SqliteRequestKeys

_COLUMNS = "key_id, scope, master_key_id, wrapped, created_at"


class SqliteKeys(SqliteRequestKeys):
    """The key side of ``SqliteStore``: payload data keys, and request keys (``SqliteRequestKeys``).

    Args:
        db: The store's connection.
    """

    async def latest_data_key(self, scope: str) -> StoredDataKey | None:
        """The newest data key of ``scope``."""
        return await self._db.run(
            lambda db: _key(
                db.execute(
                    f"SELECT {_COLUMNS} FROM data_keys WHERE scope = ? "
                    "ORDER BY created_at DESC, rowid DESC LIMIT 1",
                    (scope,),
                ).fetchone()
            )
        )

    async def data_key(self, key_id: str) -> StoredDataKey | None:
        """The data key with this id."""
        return await self._db.run(
            lambda db: _key(
                db.execute(
                    f"SELECT {_COLUMNS} FROM data_keys WHERE key_id = ?",
                    (key_id,),
                ).fetchone()
            )
        )

    async def add_data_key(self, key: StoredDataKey) -> None:
        """Store a new data key."""

        def insert(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO data_keys VALUES (?, ?, ?, ?, ?)",
                (key.key_id, key.scope, key.master_key_id, key.wrapped, iso(key.created_at)),
            )

        await self._db.write(insert)

    async def forget(self, customer: str) -> bool:
        """Delete the customer's data keys: their payloads in Temporal become unreadable."""
        return await self._db.write(
            lambda db: db.execute("DELETE FROM data_keys WHERE scope = ?", (customer,)).rowcount > 0
        )


def _key(row: tuple[str, str, str, bytes, str] | None) -> StoredDataKey | None:
    if row is None:
        return None
    key_id, scope, master_key_id, wrapped, created_at = row
    return StoredDataKey(
        key_id=key_id,
        scope=scope,
        master_key_id=master_key_id,
        wrapped=bytes(wrapped),
        created_at=read_time(created_at),
    )
