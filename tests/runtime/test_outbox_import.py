"""A host upgraded from the local-file outbox brings its claims into PostgreSQL, once.

The legacy file is written by ``SqliteOutbox`` itself, as the old worker wrote it; the import
goes into a fresh database on the suite's real PostgreSQL, and a claim afterwards must behave
as if the send had been claimed there: an unknown outcome stays unknown (``sending``, so the
sender asks Twilio first) and a recorded send is never repeated.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from structlog.testing import capture_logs

from switchboard.runtime.outbox import DEFAULT_RETENTION, SqliteOutbox
from switchboard.runtime.outbox_postgres import PostgresOutbox
from tests.support.postgres import fresh_database

CONV = "conv-+14155550100"
TO = "+14155550100"
FROM = "+15005550006"
SENDING = f"{CONV}/run-1/turn-1"
"""A claim whose send may have reached Twilio: no answer was seen before the upgrade."""
SENT = f"{CONV}/run-1/turn-2"
SID = "SM" + "a" * 32
SECRET = "the customer's private text"


@pytest.fixture
def database(postgres_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL memory database (no ``send_outbox`` table yet)."""
    with fresh_database(postgres_url) as url:
        yield url


@pytest.fixture
async def outbox(database: str) -> AsyncIterator[PostgresOutbox]:
    box = PostgresOutbox(database)
    yield box
    await box.aclose()


@pytest.fixture
def legacy(tmp_path: Path) -> Path:
    """Where the old worker kept its outbox (``.data/outbox.db``, under its working dir)."""
    return tmp_path / ".data" / "outbox.db"


async def write_legacy(path: Path) -> SqliteOutbox:
    """The old worker's file: one claim with no answer seen, one recorded send. Left open."""
    box = SqliteOutbox(path)
    await box.claim(SENDING, CONV, TO, FROM, SECRET, ["SM1"])
    await box.claim(SENT, CONV, TO, FROM, "sent before the upgrade")
    await box.mark_sent(SENT, SID, "queued")
    return box


async def legacy_file(path: Path) -> None:
    (await write_legacy(path)).close()


def sqlite(path: Path) -> contextlib.closing[sqlite3.Connection]:
    """A connection in autocommit, closed on exit (``with sqlite3.connect`` only commits)."""
    return contextlib.closing(sqlite3.connect(path, isolation_level=None))


def legacy_claimed_at(path: Path, key: str) -> float:
    with sqlite(path) as db:
        [(claimed_at,)] = db.execute("SELECT claimed_at FROM outbox WHERE key = ?", (key,))
    return float(claimed_at)


def imported(path: Path) -> Path:
    return path.with_name("outbox.db.imported")


def rows_in(database: str) -> int:
    with psycopg.connect(database) as db:
        row = db.execute("SELECT count(*) FROM send_outbox").fetchone()
    assert row is not None
    return int(row[0])


async def test_claims_made_before_the_upgrade_hold_after_it(
    outbox: PostgresOutbox, legacy: Path
) -> None:
    await legacy_file(legacy)
    claimed_at = legacy_claimed_at(legacy, SENDING)
    with capture_logs() as logs:
        assert await outbox.import_local(legacy) == 2
    assert [(e["event"], e["imported"], e["already_present"]) for e in logs] == [
        ("outbox_imported", 2, 0)
    ]
    assert all(TO.removeprefix("+") not in str(e) and SECRET not in str(e) for e in logs)
    assert not legacy.exists() and imported(legacy).exists()
    assert sorted(p.name for p in legacy.parent.iterdir()) == ["outbox.db.imported"]

    # Unknown outcome: the retry sees the earlier attempt (and its time, for the lookup at
    # Twilio) and must ask Twilio before sending; it does not see a new key.
    retried = await outbox.claim(SENDING, CONV, TO, FROM, SECRET, ["SM1"])
    assert (retried.state, retried.attempts, retried.sid) == ("sending", 1, None)
    assert retried.claimed_at == claimed_at
    assert (retried.body, retried.answers) == (SECRET, ["SM1"])
    # Sent: the recorded SID and what went out, and no new attempt.
    seen = await outbox.claim(SENT, CONV, TO, FROM, "a different reply")
    assert (seen.state, seen.sid, seen.twilio_status) == ("sent", SID, "queued")
    assert (seen.body, seen.attempts) == ("sent before the upgrade", 1)
    assert (await outbox.claim(SENT, CONV, TO, FROM, "again")).attempts == 1


async def test_a_row_postgresql_already_has_wins(outbox: PostgresOutbox, legacy: Path) -> None:
    await outbox.claim(SENDING, CONV, TO, FROM, "sent from another host")
    await outbox.mark_sent(SENDING, "SM" + "b" * 32, "delivered")
    await legacy_file(legacy)
    with capture_logs() as logs:
        assert await outbox.import_local(legacy) == 1  # only SENT was new
    assert [(e["imported"], e["already_present"]) for e in logs] == [(1, 1)]
    record = await outbox.claim(SENDING, CONV, TO, FROM, "x")
    assert (record.state, record.sid, record.body) == (
        "sent", "SM" + "b" * 32, "sent from another host"
    )  # fmt: skip


async def test_rows_past_retention_are_not_imported(outbox: PostgresOutbox, legacy: Path) -> None:
    await legacy_file(legacy)
    with sqlite(legacy) as db:
        db.execute(
            "UPDATE outbox SET updated_at = ? WHERE key = ?",
            (time.time() - DEFAULT_RETENTION - 60, SENT),
        )
    assert await outbox.import_local(legacy) == 1
    assert (await outbox.claim(SENT, CONV, TO, FROM, "x")).state == "new"  # never copied
    assert (await outbox.claim(SENDING, CONV, TO, FROM, "x")).state == "sending"
    assert imported(legacy).exists()


async def test_importing_twice_or_at_once_imports_once(database: str, legacy: Path) -> None:
    await legacy_file(legacy)
    # Several workers of one host start together: each has its own outbox and pool.
    boxes = [PostgresOutbox(database) for _ in range(4)]
    try:
        with capture_logs() as logs:
            counts = await asyncio.gather(*(box.import_local(legacy) for box in boxes))
            assert await boxes[0].import_local(legacy) == 0  # and once more, after
    finally:
        await asyncio.gather(*(box.aclose() for box in boxes))
    assert sum(counts) == 2
    assert not [e for e in logs if e["log_level"] == "warning"]
    assert rows_in(database) == 2
    assert not legacy.exists() and imported(legacy).exists()


async def test_losing_the_rename_to_another_importer_is_not_an_error(
    outbox: PostgresOutbox, legacy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await legacy_file(legacy)
    rename = Path.rename

    def renamed_first_by_another(self: Path, target: Path) -> Path:
        rename(self, target)  # the other worker's rename, between our read and ours
        return rename(self, target)  # FileNotFoundError

    monkeypatch.setattr(Path, "rename", renamed_first_by_another)
    with capture_logs() as logs:
        assert await outbox.import_local(legacy) == 2
    assert [e["event"] for e in logs] == ["outbox_imported"]
    assert imported(legacy).exists()


async def test_a_failed_rename_is_logged_and_the_import_stands(
    outbox: PostgresOutbox, legacy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await legacy_file(legacy)

    def refused(self: Path, target: Path) -> Path:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "rename", refused)
    with capture_logs() as logs:
        assert await outbox.import_local(legacy) == 2
    assert [(e["event"], e.get("error")) for e in logs] == [
        ("outbox_import_rename_failed", "PermissionError"),
        ("outbox_imported", None),
    ]
    assert legacy.exists()
    monkeypatch.undo()
    assert await outbox.import_local(legacy) == 0  # the next start adds nothing, then renames
    assert imported(legacy).exists()


def garbage(path: Path) -> None:
    path.write_bytes(b"not a database, " * 512)


def bad_answers(path: Path) -> None:
    SqliteOutbox(path).close()  # the real schema
    with sqlite(path) as db:
        db.execute(
            "INSERT INTO outbox VALUES ('k', 'c', ?, ?, ?, '{oops', 'sending', NULL, NULL, 1,"
            " ?, ?)",
            (TO, FROM, SECRET, time.time(), time.time()),
        )


@pytest.mark.parametrize(
    ("spoil", "error"), [(garbage, "DatabaseError"), (bad_answers, "JSONDecodeError")]
)
async def test_an_unreadable_file_is_left_in_place_with_a_warning(
    outbox: PostgresOutbox, legacy: Path, spoil: Callable[[Path], None], error: str
) -> None:
    legacy.parent.mkdir(parents=True)
    spoil(legacy)
    before = legacy.read_bytes()
    with capture_logs() as logs:
        assert await outbox.import_local(legacy) == 0
    assert logs == [
        {"event": "outbox_import_unreadable", "path": str(legacy), "error": error,
         "log_level": "warning"}
    ]  # fmt: skip
    assert legacy.read_bytes() == before
    assert not imported(legacy).exists()
    assert (await outbox.claim("k", CONV, TO, FROM, "x")).state == "new"


async def test_no_file_nothing_happens(outbox: PostgresOutbox, legacy: Path) -> None:
    with capture_logs() as logs:
        assert await outbox.import_local(legacy) == 0
    assert logs == []
    assert not legacy.parent.exists()  # no empty database left behind either


async def test_a_file_without_an_outbox_table_is_left_alone(
    outbox: PostgresOutbox, legacy: Path
) -> None:
    legacy.parent.mkdir(parents=True)
    sqlite3.connect(legacy).close()  # an empty database
    with capture_logs() as logs:
        assert await outbox.import_local(legacy) == 0
    assert logs == []
    assert legacy.exists()


async def test_claims_a_crashed_worker_left_in_the_wal_are_imported(
    outbox: PostgresOutbox, legacy: Path, tmp_path: Path
) -> None:
    # The old worker died: its last writes are still in outbox.db-wal, never checkpointed.
    box = await write_legacy(tmp_path / "old" / "outbox.db")
    legacy.parent.mkdir(parents=True)
    for suffix in ("", "-wal"):
        shutil.copy(tmp_path / "old" / f"outbox.db{suffix}", legacy.parent / f"outbox.db{suffix}")
    box.close()
    assert (legacy.parent / "outbox.db-wal").stat().st_size > 0
    assert await outbox.import_local(legacy) == 2
    assert (await outbox.claim(SENT, CONV, TO, FROM, "x")).sid == SID
    # Checkpointed and closed before the rename: no -wal file outlives the database's name.
    assert sorted(p.name for p in legacy.parent.iterdir()) == ["outbox.db.imported"]
