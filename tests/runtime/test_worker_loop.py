"""The worker's event loop (``WORKER_EVENT_LOOP``): uvloop by default, asyncio's on request."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

import worker
from switchboard.runtime.config import Settings


def _loop_of_run(monkeypatch: pytest.MonkeyPatch, choice: str) -> type[asyncio.AbstractEventLoop]:
    """The class of the loop ``worker.run`` runs ``main`` on when ``choice`` is set."""
    seen: list[type[asyncio.AbstractEventLoop]] = []

    async def main() -> None:
        seen.append(type(asyncio.get_running_loop()))

    settings = Settings(_env_file=None, worker_event_loop=choice)
    monkeypatch.setattr(worker, "get_settings", lambda: settings)
    monkeypatch.setattr(worker, "main", main)
    worker.run()
    (loop,) = seen
    return loop


def test_the_worker_runs_on_uvloop_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _loop_of_run(monkeypatch, "auto") is uvloop.Loop
    assert _loop_of_run(monkeypatch, "uvloop") is uvloop.Loop


def test_the_standard_loop_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not issubclass(_loop_of_run(monkeypatch, "asyncio"), uvloop.Loop)


def test_an_unknown_loop_is_refused() -> None:
    with pytest.raises(ValueError, match="worker_event_loop"):
        Settings(_env_file=None, worker_event_loop="trio")
