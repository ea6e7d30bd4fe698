"""The SQLite send outbox that makes every outbound message idempotent."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from switchboard.runtime.config import Settings
from switchboard.runtime.outbox import SqliteOutbox, sqlite_path

KEY = "conv-+14155550100/run-1/turn-1"
CONV = "conv-+14155550100"
TO = "+14155550100"
FROM = "+15005550006"


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    return tmp_path / "data" / "outbox.db"


@pytest.fixture
def outbox(db_file: Path) -> Iterator[SqliteOutbox]:
    box = SqliteOutbox(db_file)
    yield box
    box.close()


def test_creates_the_parent_directory(outbox: SqliteOutbox, db_file: Path) -> None:
    assert db_file.exists()


async def test_claim_creates_a_new_record(outbox: SqliteOutbox) -> None:
    before = time.time()
    record = await outbox.claim(KEY, CONV, TO, FROM, "hello")
    assert record.key == KEY
    assert record.state == "new"
    assert record.sid is None
    assert record.twilio_status is None
    assert record.attempts == 0
    assert before - 1 <= record.claimed_at <= time.time() + 1


async def test_each_claim_begins_an_attempt_and_reports_the_state_before(
    outbox: SqliteOutbox,
) -> None:
    first = await outbox.claim(KEY, CONV, TO, FROM, "hello")
    second = await outbox.claim(KEY, CONV, TO, FROM, "a different body")
    assert (second.state, second.attempts) == ("sending", 1)  # the first attempt's outcome
    assert second.claimed_at == first.claimed_at  # the first claim's time is kept
    third = await outbox.claim(KEY, CONV, TO, FROM, "hello")
    assert (third.state, third.attempts) == ("sending", 2)


async def test_keys_are_independent(outbox: SqliteOutbox) -> None:
    await outbox.claim(KEY, CONV, TO, FROM, "hello")
    other = await outbox.claim(f"{KEY}-other", CONV, TO, FROM, "hello")
    assert (other.state, other.attempts) == ("new", 0)


async def test_sent_is_durable_and_begins_no_attempt(outbox: SqliteOutbox, db_file: Path) -> None:
    claimed = await outbox.claim(KEY, CONV, TO, FROM, "hello")
    await outbox.mark_sent(KEY, "SM" + "f" * 32, "queued")
    record = await outbox.claim(KEY, CONV, TO, FROM, "hello")
    assert (record.state, record.sid, record.twilio_status) == ("sent", "SM" + "f" * 32, "queued")

    reopened = SqliteOutbox(db_file)
    try:
        seen = await reopened.claim(KEY, CONV, TO, FROM, "hello")
    finally:
        reopened.close()
    assert seen.state == "sent"
    assert seen.sid == "SM" + "f" * 32
    assert seen.attempts == 1  # claims after "sent" begin nothing
    assert seen.claimed_at == claimed.claimed_at


async def test_mark_failed(outbox: SqliteOutbox) -> None:
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
    outbox: SqliteOutbox,
) -> None:
    await outbox.claim(KEY, CONV, TO, FROM, "reply to one", ["SM1"])
    await outbox.mark_sent(KEY, "SM" + "a" * 32, "queued")
    # The same turn replayed with more texts: the outbox answers with what really went out.
    record = await outbox.claim(KEY, CONV, TO, FROM, "reply to both", ["SM1", "SM2"])
    assert (record.state, record.body, record.answers) == ("sent", "reply to one", ["SM1"])


async def test_an_unsent_attempt_takes_the_new_content(outbox: SqliteOutbox) -> None:
    await outbox.claim(KEY, CONV, TO, FROM, "first draft", ["SM1"])
    again = await outbox.claim(KEY, CONV, TO, FROM, "second draft", ["SM1", "SM2"])
    assert again.state == "sending"
    await outbox.mark_sent(KEY, "SM" + "b" * 32, "queued")
    record = await outbox.claim(KEY, CONV, TO, FROM, "x", [])
    assert (record.body, record.answers) == ("second draft", ["SM1", "SM2"])


async def test_rows_past_their_retention_are_deleted(tmp_path: Path) -> None:
    box = SqliteOutbox(tmp_path / "outbox.db", retention=2 * 3600)
    await box.claim("old", "conv-+14155550100", "+14155550100", "+15005550006", "secret text")
    await box.mark_sent("old", "SM1", "queued")
    await box.claim("new", "conv-+14155550101", "+14155550101", "+15005550006", "hello")
    assert box.purge(time.time() + 3600) == 0  # within the retention: kept
    assert box.purge(time.time() + 2 * 3600 + 5) == 2
    with sqlite3.connect(tmp_path / "outbox.db") as db:
        assert db.execute("SELECT count(*) FROM outbox").fetchone() == (0,)
    with pytest.raises(ValueError, match="at least 2 h"):
        SqliteOutbox(tmp_path / "other.db", retention=60)
    with pytest.raises(ValidationError, match="OUTBOX_RETENTION"):
        Settings(_env_file=None, outbox_retention="30m")
    box.close()
