"""A migrated store per test, on each backend (``memory_url``: ``tests.support.postgres``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from switchboard.memory import MemoryStore, open_store


@pytest.fixture
async def store(memory_url: str) -> AsyncIterator[MemoryStore]:
    """A migrated store on a fresh database; closed after the test."""
    memory = open_store(memory_url)
    await memory.migrate()
    try:
        yield memory
    finally:
        await memory.close()
