"""``python worker.py`` runs on the loop ``WORKER_EVENT_LOOP`` names, and answers on it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import Client

from switchboard.devtools.devserver import DevServer
from tests.conftest import running_stack, unique_customer
from tests.support.processes import Workers


def started_on(log: Path) -> str:
    """The event loop the worker's start-up line names."""
    for line in log.read_text().splitlines():
        if '"worker_starting"' in line:
            loop: str = json.loads(line)["event_loop"]
            return loop
    raise AssertionError("no worker_starting line")


@pytest.mark.parametrize(("choice", "expected"), [(None, "uvloop"), ("asyncio", "asyncio")])
async def test_a_real_worker_answers_on_the_chosen_loop(
    tmp_path: Path,
    temporal_server: DevServer,
    client: Client,
    workers: Workers,
    choice: str | None,
    expected: str,
) -> None:
    async with running_stack(tmp_path, temporal_server, client, worker=False) as s:
        env = {} if choice is None else {"WORKER_EVENT_LOOP": choice}
        workers.start(s.settings, **env)
        await s.text(unique_customer(), "hello")
        [message] = await s.twilio.wait_for_messages(1, timeout=60)
        assert message["body"] == "echo: hello"
    assert started_on(tmp_path / "worker.log") == expected
