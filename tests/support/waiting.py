"""A tiny change-notification helper shared by the fakes' ``wait_for_*`` methods."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

_T = TypeVar("_T")


class Changes:
    """Wakes waiters whenever recorded state changes.

    A fresh :class:`asyncio.Event` is made after every notification, so an instance
    can be created outside a running loop and survives being used from several loops.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        """Wake everyone currently waiting."""
        self._event.set()
        self._event = asyncio.Event()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``predicate()`` is true; return False if ``timeout`` seconds pass first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = self._event
            if predicate():
                return True
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                return predicate()


async def eventually(
    check: Callable[[], Awaitable[_T]], timeout: float, interval: float = 0.05
) -> _T:
    """Retry ``check`` until it returns something truthy without raising, within ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    result: _T | None = None
    while True:
        try:
            result = await check()
            if result:
                return result
        except Exception:
            if loop.time() > deadline:
                raise
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last: {result!r})")
        await asyncio.sleep(interval)
