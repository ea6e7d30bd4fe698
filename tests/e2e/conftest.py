"""Fixtures of the end-to-end tests: the headless Chromium that drives web pages, and the
worker processes the crash tests start and kill."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.client import Client

from switchboard.devtools.devserver import DevServer
from tests.support.browser import Browser, find_chromium
from tests.support.console_stack import ConsoleStack, running_console_stack
from tests.support.processes import Workers


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


@pytest.fixture
async def console_stack(
    tmp_path: Path, temporal_server: DevServer, client: Client
) -> AsyncIterator[ConsoleStack]:
    """A sandbox gateway + worker with the demo responder and an operator key (the console's)."""
    async with running_console_stack(tmp_path, temporal_server, client) as running:
        yield running


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    """``python worker.py`` processes for a test to start (and kill); all stopped after it."""
    started = Workers(tmp_path)
    yield started
    started.stop()
