"""Crashes: a worker killed mid-turn or mid-send (on one host or two), the Temporal server
restarted between turns."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from switchboard.devtools.devserver import DevServer
from switchboard.devtools.twilio_sim import new_sid
from switchboard.runtime.outbox import SqliteOutbox
from switchboard.runtime.outbox_postgres import PostgresOutbox
from tests.conftest import Stack, running_stack, unique_customer
from tests.support.fake_llm import FakeReply, last_user_text
from tests.support.postgres import fresh_database
from tests.support.processes import Workers
from tests.support.server import free_port


async def answered(s: Stack, customer: str) -> bool:
    """Whether the conversation's last line is the assistant's: its reply was recorded."""
    view = await s.describe(customer)
    return view.transcript[-1].role == "assistant"


def report_recovery(what: str, seconds: float, since: str = "the restart") -> None:
    """Print the time from ``since`` to the customer's reply (``-s`` shows it)."""
    print(f"\nrecovery, worker {what}: {seconds:.2f} s from {since} to the reply")


async def test_worker_killed_mid_turn_yields_exactly_one_reply(
    tmp_path: Path, temporal_server: DevServer, client: Client, workers: Workers
) -> None:
    async with running_stack(tmp_path, temporal_server, client, worker=False) as s:
        s.llm.responder = lambda messages: FakeReply(text=f"ok: {last_user_text(messages)}",
                                                     delay=2.0)  # fmt: skip
        first = workers.start(s.settings)
        customer = unique_customer()
        await s.text(customer, "don't lose me")
        await s.llm.wait_for_requests(1, timeout=30)  # the worker is mid-turn, waiting on the LLM
        first.kill()

        s.llm.responder = lambda messages: FakeReply(text=f"ok: {last_user_text(messages)}")
        restarted = time.monotonic()
        workers.start(s.settings)
        [message] = await s.twilio.wait_for_messages(1, timeout=60)
        report_recovery("killed mid-turn", time.monotonic() - restarted)
        assert message["body"] == "ok: don't lose me"
        await asyncio.sleep(3)  # the first attempt's LLM answer must not produce a second send
        assert len(s.twilio.messages) == 1
        view = await s.describe(customer)
        assert [e.role for e in view.transcript] == ["customer", "assistant"]


async def test_a_standby_worker_takes_over_a_killed_workers_turn_within_seconds(
    tmp_path: Path, temporal_server: DevServer, client: Client, workers: Workers
) -> None:
    # Another host's worker is already polling: the turn moves to it once the workflow task
    # timeout (WORKFLOW_TASK_TIMEOUT, 2 s) gives up on the dead one, and the model is asked again.
    async with running_stack(tmp_path, temporal_server, client, worker=False) as s:
        s.llm.responder = lambda messages: FakeReply(text=f"ok: {last_user_text(messages)}",
                                                     delay=30.0)  # fmt: skip
        first = workers.start(s.settings, "host-a")
        customer = unique_customer()
        await s.text(customer, "still there?")
        await s.llm.wait_for_requests(1, timeout=30)  # the first host holds the turn
        workers.start(s.settings, "host-b")
        await asyncio.sleep(8)  # the standby is up and polling (it starts in ~3 s here)
        s.llm.responder = lambda messages: FakeReply(text=f"ok: {last_user_text(messages)}")
        killed = time.monotonic()
        first.kill()
        [message] = await s.twilio.wait_for_messages(1, timeout=60)
        report_recovery("killed, a standby took over", time.monotonic() - killed, "the kill")
        assert message["body"] == "ok: still there?"
        assert time.monotonic() - killed < 10, "the standby waited for Temporal's default timeout"
        await asyncio.sleep(1)
        assert len(s.twilio.messages) == 1


async def test_a_text_to_a_killed_workers_cached_conversation_is_answered_within_seconds(
    tmp_path: Path, temporal_server: DevServer, client: Client, workers: Workers
) -> None:
    # Between turns the conversation is cached on the first worker, so its next task goes to
    # that worker's own (sticky) queue; with the worker dead it waits there for
    # WORKER_STICKY_TIMEOUT (2 s), not the SDK's 10 s, before the standby replays it.
    async with running_stack(tmp_path, temporal_server, client, worker=False) as s:
        first = workers.start(s.settings, "host-a")
        customer = unique_customer()
        await s.text(customer, "first")
        await s.twilio.wait_for_messages(1, timeout=30)
        workers.start(s.settings, "host-b")
        await asyncio.sleep(8)  # the standby is up and polling
        first.kill()
        sent = time.monotonic()
        await s.text(customer, "second")
        await s.twilio.wait_for_messages(2, timeout=60)
        report_recovery("killed between turns", time.monotonic() - sent, "the next text")
        assert time.monotonic() - sent < 8, "the text waited on the dead worker's queue"
        assert [m["body"] for m in s.twilio.messages] == ["echo: first", "echo: second"]


async def test_worker_killed_mid_send_yields_exactly_one_reply(
    tmp_path: Path, temporal_server: DevServer, client: Client, workers: Workers
) -> None:
    async with running_stack(tmp_path, temporal_server, client, worker=False) as s:
        # Twilio queues the message, but the worker dies before it hears back.
        s.twilio.fail_next(1, status=500, accept=True)
        s.twilio.delay(3.0)
        first = workers.start(s.settings)
        customer = unique_customer()
        await s.text(customer, "exactly once")
        await s.twilio.wait_for_messages(1, timeout=30)
        first.kill()
        s.twilio.delay(0)
        restarted = time.monotonic()
        workers.start(s.settings)

        await s.eventually(lambda: answered(s, customer), timeout=60)
        report_recovery("killed mid-send", time.monotonic() - restarted)
        assert len(s.twilio.messages) == 1
        view = await s.describe(customer)
        assert view.transcript[-1].message_sid == s.twilio.messages[0]["sid"]


@pytest.fixture
def shared_memory(postgres_url: str) -> Iterator[str]:
    """A fresh PostgreSQL memory database: the only thing two hosts' workers share."""
    with fresh_database(postgres_url) as url:
        yield url


async def test_worker_killed_mid_send_on_one_host_sends_once_from_another(
    tmp_path: Path,
    temporal_server: DevServer,
    client: Client,
    workers: Workers,
    shared_memory: str,
) -> None:
    # Two hosts: two working directories, so two local outbox files would share nothing.
    # With PostgreSQL memory the outbox is a table there, and the second host's retry finds
    # the first host's claim and asks Twilio before sending.
    async with running_stack(
        tmp_path, temporal_server, client, worker=False, memory_database_url=shared_memory
    ) as s:
        s.twilio.hold_answers(20.0)  # Twilio takes the message; its answer never arrives
        first = workers.start(s.settings, "host-a")
        customer = unique_customer()
        await s.text(customer, "only one reply, please")
        [held] = await s.twilio.wait_for_messages(1, timeout=30)
        first.kill()
        s.twilio.hold_answers(0)
        workers.start(s.settings, "host-b")

        await s.eventually(lambda: answered(s, customer), timeout=90)
        assert [m["sid"] for m in s.twilio.messages] == [held["sid"]]
        assert len(s.twilio.requests) == 1, "the second host sent again without asking"
        assert s.twilio.lookups, "the second host should have asked Twilio before sending"
        view = await s.describe(customer)
        assert view.transcript[-1].message_sid == held["sid"]
        assert not (tmp_path / "host-b" / ".data" / "outbox.db").exists()


async def test_temporal_restart_between_turns_loses_nothing(
    tmp_path: Path, temporal_server: DevServer
) -> None:
    server = DevServer(port=free_port(), ui_port=None, db_file=tmp_path / "restart.db")
    await server.start()
    try:
        client = await Client.connect(server.address, data_converter=pydantic_data_converter)
        async with running_stack(tmp_path, server, client) as s:
            customer = unique_customer()
            await s.text(customer, "my name is Ada")
            await s.twilio.wait_for_messages(1)

            server.stop()
            await server.start()

            sid = new_sid()  # Twilio retries a failed webhook with the same MessageSid

            async def accepted() -> bool:
                return (await s.text(customer, "what is my name?", sid=sid)).status_code == 200

            await s.eventually(accepted, timeout=30)
            await s.twilio.wait_for_messages(2, timeout=60)
            history = [m["content"] for m in s.llm.requests[-1]["messages"][1:]]
            assert history == ["my name is Ada", "echo: my name is Ada", "what is my name?"]
    finally:
        server.stop()


async def test_a_worker_started_on_postgresql_brings_its_hosts_old_outbox_over(
    tmp_path: Path,
    temporal_server: DevServer,
    client: Client,
    workers: Workers,
    shared_memory: str,
) -> None:
    """The upgrade as an operator runs it: ``python worker.py`` in the host's directory,
    where the old version kept its outbox file even with PostgreSQL memory."""
    host = tmp_path / "host-a"
    old = SqliteOutbox(host / ".data" / "outbox.db")
    await old.claim("run-1:7", "conv-+14155550100", "+14155550100", "+15005550006", "hi")
    await old.mark_sent("run-1:7", "SM" + "a" * 32, "queued")
    old.close()
    async with running_stack(
        tmp_path, temporal_server, client, worker=False, memory_database_url=shared_memory
    ) as s:
        workers.start(s.settings, "host-a")

        async def imported() -> bool:
            return (host / ".data" / "outbox.db.imported").exists()

        await s.eventually(imported, timeout=60)
    assert not (host / ".data" / "outbox.db").exists()
    shared = PostgresOutbox(shared_memory)
    try:  # a retry of that send on any host now finds it sent: no second message
        seen = await shared.claim("run-1:7", "conv-+14155550100", "+14155550100", "+1500", "x")
    finally:
        await shared.aclose()
    assert (seen.state, seen.sid, seen.body) == ("sent", "SM" + "a" * 32, "hi")
