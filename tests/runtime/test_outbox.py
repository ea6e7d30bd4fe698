"""The send outbox that makes every outbound message idempotent, on both backends.

The behaviour tests run on each backend ``open_outbox`` chooses (``memory_url``: a SQLite
file, and a table in a real PostgreSQL database); the PostgreSQL ones also show the table is
shared by outboxes that share nothing else, as workers on two hosts do.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from pydantic import ValidationError

from switchboard.runtime.config import Settings
from switchboard.runtime.outbox import Outbox, SqliteOutbox, open_outbox, sqlite_path
from switchboard.runtime.outbox_postgres import PostgresOutbox

KEY = "conv-+14155550100/run-1/turn-1"
CONV = "conv-+14155550100"
TO = "+14155550100"
FROM = "+15005550006"


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    return tmp_path / "data" / "outbox.db"


def settings_for(memory_url: str) -> Settings:
    return Settings(_env_file=None, memory_database_url=memory_url)


@pytest.fixture
async def outbox(memory_url: str) -> AsyncIterator[Outbox]:
    box = open_outbox(settings_for(memory_url))
    yield box
    await box.aclose()


@pytest.fixture
def sqlite_outbox(db_file: Path) -> Iterator[SqliteOutbox]:
    box = SqliteOutbox(db_file)
    yield box
    box.close()


def test_creates_the_parent_directory(sqlite_outbox: Outbox, db_file: Path) -> None:
    assert db_file.exists()


def test_open_outbox_follows_the_memory_database(tmp_path: Path) -> None:
    sqlite_box = open_outbox(settings_for(f"sqlite:///{tmp_path}/memory.db"))
    assert isinstance(sqlite_box, SqliteOutbox)
    sqlite_box.close()
    for url in ("postgresql://u@db/x", "postgresql+psycopg://u@db/x", "postgres://u@db/x"):
        assert isinstance(open_outbox(settings_for(url)), PostgresOutbox)  # connects on use


async def test_claim_creates_a_new_record(outbox: Outbox) -> None:
    before = time.time()
    record = await outbox.claim(KEY, CONV, TO, FROM, "hello")
    assert record.key == KEY
    assert record.state == "new"
    assert record.sid is None
    assert record.twilio_status is None
    assert record.attempts == 0
    assert before - 1 <= record.claimed_at <= time.time() + 1


async def test_each_claim_begins_an_attempt_and_reports_the_state_before(
    outbox: Outbox,
) -> None:
    first = await outbox.claim(KEY, CONV, TO, FROM, "hello")
    second = await outbox.claim(KEY, CONV, TO, FROM, "a different body")
    assert (second.state, second.attempts) == ("sending", 1)  # the first attempt's outcome
    assert second.claimed_at == first.claimed_at  # the first claim's time is kept
    third = await outbox.claim(KEY, CONV, TO, FROM, "hello")
    assert (third.state, third.attempts) == ("sending", 2)


async def test_keys_are_independent(outbox: Outbox) -> None:
    await outbox.claim(KEY, CONV, TO, FROM, "hello")
    other = await outbox.claim(f"{KEY}-other", CONV, TO, FROM, "hello")
    assert (other.state, other.attempts) == ("new", 0)


async def test_sent_is_durable_and_begins_no_attempt(outbox: Outbox, memory_url: str) -> None:
    claimed = await outbox.claim(KEY, CONV, TO, FROM, "hello")
    await outbox.mark_sent(KEY, "SM" + "f" * 32, "queued")
    record = await outbox.claim(KEY, CONV, TO, FROM, "hello")
    assert (record.state, record.sid, record.twilio_status) == ("sent", "SM" + "f" * 32, "queued")

    reopened = open_outbox(settings_for(memory_url))
    try:
        seen = await reopened.claim(KEY, CONV, TO, FROM, "hello")
    finally:
        await reopened.aclose()
    assert seen.state == "sent"
    assert seen.sid == "SM" + "f" * 32
    assert seen.attempts == 1  # claims after "sent" begin nothing
    assert seen.claimed_at == claimed.claimed_at


async def test_mark_failed(outbox: Outbox) -> None:
    await outbox.claim(KEY, CONV, TO, FROM, "hello")
    await outbox.mark_failed(KEY, "21610")
    record = await outbox.claim(KEY, CONV, TO, FROM, "hello")
    assert (record.state, record.sid, record.twilio_status) == ("failed", None, "21610")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///rel/x.db", Path("rel/x.db")),
        ("sqlite:///.data/memory.db", Path(".data/memory.db")),
        ("sqlite:////abs/x.db", Path("/abs/x.db")),
    ],
)
def test_sqlite_path(url: str, expected: Path) -> None:
    assert sqlite_path(url) == expected


def test_sqlite_path_absolute_and_relative() -> None:
    assert sqlite_path("sqlite:////abs/x.db").is_absolute()
    assert not sqlite_path("sqlite:///rel/x.db").is_absolute()


@pytest.mark.parametrize(
    "url", ["postgresql://user:pw@localhost/db", "sqlite://x.db", "/abs/x.db", ""]
)
def test_sqlite_path_rejects_other_urls(url: str) -> None:
    with pytest.raises(ValueError):
        sqlite_path(url)


async def test_a_sent_record_reports_what_was_sent_and_what_it_answered(
    outbox: Outbox,
) -> None:
    await outbox.claim(KEY, CONV, TO, FROM, "reply to one", ["SM1"])
    await outbox.mark_sent(KEY, "SM" + "a" * 32, "queued")
    # The same turn replayed with more texts: the outbox answers with what really went out.
    record = await outbox.claim(KEY, CONV, TO, FROM, "reply to both", ["SM1", "SM2"])
    assert (record.state, record.body, record.answers) == ("sent", "reply to one", ["SM1"])


async def test_an_unsent_attempt_takes_the_new_content(outbox: Outbox) -> None:
    await outbox.claim(KEY, CONV, TO, FROM, "first draft", ["SM1"])
    again = await outbox.claim(KEY, CONV, TO, FROM, "second draft", ["SM1", "SM2"])
    assert again.state == "sending"
    await outbox.mark_sent(KEY, "SM" + "b" * 32, "queued")
    record = await outbox.claim(KEY, CONV, TO, FROM, "x", [])
    assert (record.body, record.answers) == ("second draft", ["SM1", "SM2"])


async def test_rows_past_their_retention_are_deleted(memory_url: str, tmp_path: Path) -> None:
    box = open_outbox(
        Settings(_env_file=None, memory_database_url=memory_url, outbox_retention="2h")
    )
    await box.claim("old", "conv-+14155550100", "+14155550100", "+15005550006", "secret text")
    await box.mark_sent("old", "SM1", "queued")
    await box.claim("new", "conv-+14155550101", "+14155550101", "+15005550006", "hello")
    assert await box.purge(time.time() + 3600) == 0  # within the retention: kept
    assert await box.purge(time.time() + 2 * 3600 + 5) == 2
    assert (await box.claim("old", CONV, TO, FROM, "x")).state == "new"  # gone
    await box.aclose()
    if memory_url.startswith("sqlite"):
        with sqlite3.connect(sqlite_path(memory_url)) as db:
            assert db.execute("SELECT count(*) FROM outbox").fetchone() == (1,)
    else:
        with psycopg.connect(memory_url) as db:
            assert db.execute("SELECT count(*) FROM send_outbox").fetchone() == (1,)
    with pytest.raises(ValueError, match="at least 2 h"):
        SqliteOutbox(tmp_path / "other.db", retention=60)
    with pytest.raises(ValueError, match="at least 2 h"):
        PostgresOutbox("postgresql://u@db/x", retention=60)
    with pytest.raises(ValidationError, match="OUTBOX_RETENTION"):
        Settings(_env_file=None, outbox_retention="30m")


# --- PostgreSQL: one outbox for every host ----------------------------------------------


@pytest.fixture
def postgres_memory(memory_url: str) -> str:
    if not memory_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    return memory_url


async def test_two_hosts_share_one_outbox(postgres_memory: str) -> None:
    # Two workers with nothing in common but the database: the second sees the first's
    # attempt (so it asks Twilio before sending), then its recorded send.
    host_a, host_b = (open_outbox(settings_for(postgres_memory)) for _ in range(2))
    try:
        assert (await host_a.claim(KEY, CONV, TO, FROM, "hello")).state == "new"
        retried = await host_b.claim(KEY, CONV, TO, FROM, "hello")
        assert (retried.state, retried.attempts) == ("sending", 1)
        await host_b.mark_sent(KEY, "SM" + "c" * 32, "queued")
        seen = await host_a.claim(KEY, CONV, TO, FROM, "hello")
        assert (seen.state, seen.sid) == ("sent", "SM" + "c" * 32)
    finally:
        await host_a.aclose()
        await host_b.aclose()


async def test_racing_claims_on_two_hosts_begin_one_attempt_each_in_turn(
    postgres_memory: str,
) -> None:
    # Started together, on fresh outboxes (the table is created by whichever comes first):
    # exactly one claim finds the key new; every other sees an attempt already begun.
    boxes = [open_outbox(settings_for(postgres_memory)) for _ in range(6)]
    try:
        records = await asyncio.gather(*(b.claim(KEY, CONV, TO, FROM, "hi") for b in boxes))
    finally:
        await asyncio.gather(*(b.aclose() for b in boxes))
    assert sorted(r.state for r in records) == ["new"] + ["sending"] * 5
    assert sorted(r.attempts for r in records) == [0, 1, 2, 3, 4, 5]
