"""Fixtures of the workflow tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.time_skipping import Harness, time_skipping_harness


@pytest.fixture
async def h() -> AsyncIterator[Harness]:
    """A time-skipping test server with a worker and stub activities (``tests.support``)."""
    async with time_skipping_harness() as harness:
        yield harness
