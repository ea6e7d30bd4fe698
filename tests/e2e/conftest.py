"""Fixtures of the end-to-end tests that drive web pages in a headless Chromium."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.browser import Browser, find_chromium


@pytest.fixture(scope="module")
def chromium() -> str:
    """The Chromium binary; requested first, so a missing browser skips before any server."""
    return find_chromium()


@pytest.fixture(scope="module")
async def browser(
    chromium: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Browser]:
    """One headless Chromium for the module."""
    async with Browser.launch(chromium, tmp_path_factory.mktemp("chromium") / "profile") as b:
        yield b
