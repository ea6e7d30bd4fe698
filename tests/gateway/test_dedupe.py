"""The gateway's bounded memory of recently handled webhook keys."""

from __future__ import annotations

from gateway.dedupe import RecentKeys


def test_added_keys_are_seen() -> None:
    keys = RecentKeys(capacity=10)
    assert not keys.seen("SM1")
    keys.add("SM1")
    assert keys.seen("SM1")
    assert "SM1" in keys
    assert "SM2" not in keys


def test_seen_is_true_if_any_key_was_added() -> None:
    keys = RecentKeys()
    keys.add("token-1")
    assert keys.seen("SM-new", "token-1")
    assert not keys.seen("SM-new", "token-2")


def test_none_and_empty_keys_are_ignored() -> None:
    keys = RecentKeys()
    keys.add(None, "", "SM1")
    assert not keys.seen(None)
    assert not keys.seen("")
    assert not keys.seen(None, "")
    assert not keys.seen()
    assert "" not in keys
    assert keys.seen(None, "SM1")


def test_capacity_evicts_the_oldest() -> None:
    keys = RecentKeys(capacity=3)
    keys.add("a", "b", "c")
    keys.add("d")
    assert not keys.seen("a")
    assert all(keys.seen(k) for k in ("b", "c", "d"))


def test_re_adding_refreshes_a_key() -> None:
    keys = RecentKeys(capacity=3)
    keys.add("a", "b", "c")
    keys.add("a")  # now the most recent
    keys.add("d")
    assert keys.seen("a")
    assert not keys.seen("b")


def test_seen_does_not_refresh() -> None:
    keys = RecentKeys(capacity=2)
    keys.add("a", "b")
    assert keys.seen("a")
    keys.add("c")
    assert not keys.seen("a")
    assert keys.seen("b")
    assert keys.seen("c")


def test_many_keys_stay_bounded() -> None:
    keys = RecentKeys(capacity=100)
    for i in range(1000):
        keys.add(f"SM{i}")
    assert sum(keys.seen(f"SM{i}") for i in range(1000)) == 100
    assert keys.seen("SM999")
    assert not keys.seen("SM899")
    assert keys.seen("SM900")
