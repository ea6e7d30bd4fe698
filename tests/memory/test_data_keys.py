"""Payload data keys in the store, on both backends: stored wrapped, newest first, forgotten."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from switchboard.memory import MemoryStore
from switchboard.memory.models import StoredDataKey

CUSTOMER = "+14155550142"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def key(key_id: str, scope: str = CUSTOMER, *, at: datetime = T0) -> StoredDataKey:
    return StoredDataKey(
        key_id=key_id, scope=scope, master_key_id="k1", wrapped=b"\x00wrapped\xff", created_at=at
    )


async def test_a_key_reads_back_whole_by_id_and_as_the_scopes_newest(store: MemoryStore) -> None:
    assert await store.latest_data_key(CUSTOMER) is None
    await store.add_data_key(key("dk-old"))
    await store.add_data_key(key("dk-new", at=T0 + timedelta(days=1)))
    await store.add_data_key(key("dk-shared", "shared", at=T0 + timedelta(days=2)))
    assert await store.data_key("dk-old") == key("dk-old")
    latest = await store.latest_data_key(CUSTOMER)
    assert latest is not None and latest.key_id == "dk-new"
    assert await store.data_key("dk-missing") is None


async def test_forgetting_a_customer_deletes_their_keys_only(store: MemoryStore) -> None:
    await store.add_data_key(key("dk-1"))
    await store.add_data_key(key("dk-2", "+14155550143"))
    assert await store.forget("+1 (415) 555-0142")
    assert await store.data_key("dk-1") is None
    assert await store.latest_data_key(CUSTOMER) is None
    assert await store.data_key("dk-2") is not None
