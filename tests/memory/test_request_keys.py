"""Request keys on every backend: claimed once, answered with their digest, expired, released."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from switchboard.memory import MemoryStore

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


async def test_a_key_is_claimed_once_until_it_expires(store: MemoryStore) -> None:
    claim = store.claim_request_key
    assert await claim("outbound", "k1", "digest-a", now=T0, expires_at=T0 + DAY) is None
    # A repeat answers the first request's digest, whatever it brings.
    assert await claim("outbound", "k1", "digest-b", now=T0, expires_at=T0 + DAY) == "digest-a"
    assert await store.request_key_seen("outbound", "k1", now=T0 + DAY / 2)
    # Scopes are apart; an expired key is claimed afresh.
    assert await claim("inbound", "k1", "x", now=T0, expires_at=T0 + DAY) is None
    assert not await store.request_key_seen("outbound", "k1", now=T0 + DAY)
    assert await claim("outbound", "k1", "digest-c", now=T0 + DAY, expires_at=T0 + 2 * DAY) is None
    assert await claim("outbound", "k1", "d", now=T0 + DAY, expires_at=T0 + 2 * DAY) == "digest-c"


async def test_a_released_key_may_be_tried_again(store: MemoryStore) -> None:
    assert await store.claim_request_key("o", "k", "a", now=T0, expires_at=T0 + DAY) is None
    await store.release_request_key("o", "k")
    assert not await store.request_key_seen("o", "k", now=T0)
    assert await store.claim_request_key("o", "k", "b", now=T0, expires_at=T0 + DAY) is None
    await store.release_request_key("o", "never-claimed")  # nothing to do


async def test_expired_keys_are_swept_as_claims_go_by(store: MemoryStore) -> None:
    for i in range(3):
        await store.claim_request_key("s", f"old-{i}", "", now=T0, expires_at=T0 + DAY)
    later = T0 + 2 * DAY
    for i in range(600):  # past a sweep: the expired rows go, the live ones stay
        await store.claim_request_key("s", f"new-{i}", "", now=later, expires_at=later + DAY)
    assert await store.request_key_seen("s", "new-0", now=later)
    assert not await store.request_key_seen("s", "old-0", now=T0)  # deleted, not just expired
