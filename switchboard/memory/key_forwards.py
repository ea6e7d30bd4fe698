"""``SqlStore``'s key calls, forwarded to the backend's key side.

Request keys (processed webhook ids, ``Idempotency-Key``s) and payload data keys live on the
same side (``KeySide``); these forwards are the whole of ``SqlStore``'s part in them.
"""

from __future__ import annotations

from datetime import datetime

from switchboard.memory.models import StoredDataKey
from switchboard.memory.sides import KeySide


class KeyForwards:
    """Request keys and payload data keys, each a call to ``_keys`` (see ``MemoryStore``)."""

    _keys: KeySide

    async def claim_request_key(
        self, scope: str, key: str, digest: str, *, now: datetime, expires_at: datetime
    ) -> str | None:
        """Record (scope, key) unless a live record exists (see ``MemoryStore``)."""
        return await self._keys.claim_request_key(
            scope, key, digest, now=now, expires_at=expires_at
        )

    async def release_request_key(self, scope: str, key: str) -> None:
        """Forget a claim whose request was not carried out."""
        await self._keys.release_request_key(scope, key)

    async def request_key_seen(self, scope: str, key: str, *, now: datetime) -> bool:
        """Whether a live record of (scope, key) exists."""
        return await self._keys.request_key_seen(scope, key, now=now)

    async def latest_data_key(self, scope: str) -> StoredDataKey | None:
        """The newest data key of ``scope`` (see ``MemoryStore.latest_data_key``)."""
        return await self._keys.latest_data_key(scope)

    async def data_key(self, key_id: str) -> StoredDataKey | None:
        """The data key with this id."""
        return await self._keys.data_key(key_id)

    async def add_data_key(self, key: StoredDataKey) -> None:
        """Store a new data key."""
        await self._keys.add_data_key(key)
