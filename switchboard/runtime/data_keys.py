"""Data keys: one per customer, wrapped by a master key and kept in the memory store.

A payload is encrypted with its customer's data key, so forgetting the customer (deleting
the key's rows, ``MemoryStore.forget``) makes every payload of theirs in every Temporal
history unreadable, while other customers' histories are untouched. Workflows that name no
customer (a re-analysis) use the ``shared`` data key.

A scope may hold several keys: when the primary master key changes (rotation), the next
payload gets a new data key wrapped by it; the old ones stay to decrypt what they
encrypted. Keys are created on first use and cached in the process: the key a scope
encrypts with is looked up again every ``recheck`` seconds, so a key forgotten by another
process stops being used within that time; a key found by id stays cached (a process that
already holds a forgotten key can still read that customer's payloads until it restarts or
the cache drops it; ``forget`` drops it here at once).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from switchboard.contract.addresses import CONVERSATION_ID_PREFIX, InvalidAddress, to_e164
from switchboard.memory.models import StoredDataKey
from switchboard.runtime.payload_keys import KEY_BYTES, DecryptionError, MasterKeys

SHARED_SCOPE = "shared"
"""The scope of payloads whose workflow names no customer (never an E.164 number)."""
CALLBACK_ID_PREFIX = "callback-"
"""``workflows.conversation.callbacks``: ``callback-<E.164>-<random hex>``."""


class DataKeyGone(DecryptionError):
    """The payload's data key is not in the store: its customer was forgotten."""


class DataKeyStore(Protocol):
    """Where wrapped data keys live (``MemoryStore`` implements it)."""

    async def latest_data_key(self, scope: str) -> StoredDataKey | None:
        """The newest data key of ``scope``."""

    async def data_key(self, key_id: str) -> StoredDataKey | None:
        """The data key with this id."""

    async def add_data_key(self, key: StoredDataKey) -> None:
        """Store a new data key."""

    async def close(self) -> None:
        """Release connections."""


@dataclass(frozen=True)
class DataKey:
    """An unwrapped data key and where it belongs."""

    key_id: str
    scope: str
    master_key_id: str
    key: bytes

    def __repr__(self) -> str:
        return f"DataKey(key_id={self.key_id!r}, master_key_id={self.master_key_id!r})"


def scope_of(workflow_id: str | None) -> str:
    """The data key scope of a workflow's payloads: its customer, or ``shared``."""
    if not workflow_id:
        return SHARED_SCOPE
    if workflow_id.startswith(CONVERSATION_ID_PREFIX):
        number = workflow_id[len(CONVERSATION_ID_PREFIX) :]
    elif workflow_id.startswith(CALLBACK_ID_PREFIX):
        number = workflow_id[len(CALLBACK_ID_PREFIX) :].rpartition("-")[0]
    else:
        return SHARED_SCOPE
    try:
        return to_e164(number)
    except InvalidAddress:
        return SHARED_SCOPE


def _wrapping_context(key_id: str, scope: str) -> bytes:
    # Binds a wrapped key to its id and scope: a row copied under another customer's scope
    # or id does not unwrap.
    return f"switchboard data key\0{key_id}\0{scope}".encode()


class DataKeys:
    """The data keys of this process: created, unwrapped and cached on demand.

    Args:
        store: Where the wrapped keys live.
        master: The master keys that wrap them.
        recheck: Seconds a scope's current key is used before the store is asked again.
        cache_size: Keys kept in memory at most (least recently used dropped first).
        clock: Monotonic seconds (tests move it).
    """

    def __init__(
        self,
        store: DataKeyStore,
        master: MasterKeys,
        *,
        recheck: float = 5.0,
        cache_size: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self._master = master
        self._recheck = recheck
        self._cache_size = cache_size
        self._clock = clock
        self._current: dict[str, tuple[DataKey, float]] = {}
        self._by_id: OrderedDict[str, DataKey] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}

    async def current(self, scope: str) -> DataKey:
        """The key new payloads of ``scope`` are encrypted with (created on first use)."""
        cached = self._fresh(scope)
        if cached is not None:
            return cached
        lock = self._locks.setdefault(scope, asyncio.Lock())
        async with lock:
            cached = self._fresh(scope)
            if cached is not None:
                return cached
            stored = await self.store.latest_data_key(scope)
            if stored is not None and stored.master_key_id == self._master.primary:
                key = self._unwrap(stored)
            else:
                key = await self._create(scope)
            self._current[scope] = (key, self._clock())
            self._remember(key)
            return key

    async def by_id(self, key_id: str) -> DataKey:
        """The data key a payload names.

        Raises:
            DataKeyGone: no such key in the store (its customer was forgotten).
            DecryptionError: its master key is not configured, or the row was tampered with.
        """
        key = self._by_id.get(key_id)
        if key is not None:
            self._by_id.move_to_end(key_id)
            return key
        stored = await self.store.data_key(key_id)
        if stored is None:
            raise DataKeyGone(
                f"data key {key_id!r} is not in the memory store: its customer was forgotten"
                " (or the payload comes from another deployment)"
            )
        key = self._unwrap(stored)
        self._remember(key)
        return key

    def forget(self, scope: str) -> None:
        """Drop ``scope``'s keys from this process's cache (after the store forgot them)."""
        self._current.pop(scope, None)
        for key_id in [k for k, v in self._by_id.items() if v.scope == scope]:
            del self._by_id[key_id]

    def _fresh(self, scope: str) -> DataKey | None:
        cached = self._current.get(scope)
        if cached is None or self._clock() - cached[1] >= self._recheck:
            return None
        return cached[0]

    def _unwrap(self, stored: StoredDataKey) -> DataKey:
        key = self._master.unwrap(
            stored.master_key_id, stored.wrapped, _wrapping_context(stored.key_id, stored.scope)
        )
        return DataKey(stored.key_id, stored.scope, stored.master_key_id, key)

    async def _create(self, scope: str) -> DataKey:
        key_id = f"dk-{secrets.token_hex(12)}"
        key = os.urandom(KEY_BYTES)
        master_id, wrapped = self._master.wrap(key, _wrapping_context(key_id, scope))
        await self.store.add_data_key(
            StoredDataKey(
                key_id=key_id,
                scope=scope,
                master_key_id=master_id,
                wrapped=wrapped,
                created_at=datetime.now(UTC),
            )
        )
        return DataKey(key_id, scope, master_id, key)

    def _remember(self, key: DataKey) -> None:
        self._by_id[key.key_id] = key
        self._by_id.move_to_end(key.key_id)
        while len(self._by_id) > self._cache_size:
            self._by_id.popitem(last=False)
