"""A bounded memory of recently handled webhook keys.

It only saves work: the conversation workflow deduplicates by ``MessageSid`` itself, so a
duplicate that reaches another gateway process (or this one after a restart) is still
processed once.
"""

from __future__ import annotations

from collections import OrderedDict


class RecentKeys:
    """Least-recently-used set of strings with a fixed capacity."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._keys: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def seen(self, *keys: str | None) -> bool:
        """True if any of the non-empty ``keys`` was added before."""
        return any(key in self._keys for key in keys if key)

    def add(self, *keys: str | None) -> None:
        """Remember the non-empty ``keys``."""
        for key in keys:
            if not key:
                continue
            self._keys[key] = None
            self._keys.move_to_end(key)
        while len(self._keys) > self._capacity:
            self._keys.popitem(last=False)
