"""The one-time import of a host's pre-upgrade local outbox file into the PostgreSQL outbox.

Before the outbox moved into the PostgreSQL memory database, each host kept it in
``.data/outbox.db`` (``Settings.outbox_path`` when memory is not SQLite). A deployment
upgraded with sends in flight may still have claims there: ``sending`` rows whose outcome is
unknown (the request may have reached Twilio) and ``sent`` rows with their SID. A retry after
the upgrade looks only in PostgreSQL, so without them it would send again. A worker started
on PostgreSQL therefore copies the file's rows still within retention into ``send_outbox``
(``PostgresOutbox.import_local``), then renames the file ``outbox.db.imported``.

Every step is safe to run twice or at once from several workers of one host (they share
``.data``): rows are inserted with ``ON CONFLICT (key) DO NOTHING``, so a row PostgreSQL
already has wins and a second import adds nothing; the rename that loses the race finds the
file gone, which is the outcome it wanted.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import structlog

log = structlog.get_logger(__name__)

IMPORTED_SUFFIX = ".imported"
"""Appended to the file's name once its rows are in PostgreSQL."""

# The columns of both schemas (``outbox`` in SQLite, ``send_outbox`` in PostgreSQL), in order.
COLUMNS = (
    "key", "conversation_id", "to_address", "from_address", "body", "answers", "state",
    "sid", "twilio_status", "attempts", "claimed_at", "updated_at",
)  # fmt: skip


class LegacyRow(NamedTuple):
    """One row of the local file's ``outbox`` table, typed as ``send_outbox`` stores it.

    ``answers`` is decoded from the JSON text SQLite keeps (PostgreSQL's column is JSONB);
    both times are POSIX seconds in either schema (REAL, DOUBLE PRECISION).
    """

    key: str
    conversation_id: str
    to_address: str
    from_address: str
    body: str
    answers: list[str]
    state: str
    sid: str | None
    twilio_status: str | None
    attempts: int
    claimed_at: float
    updated_at: float


def _text(value: object) -> str:
    # SQLite columns hold any type; a value of the wrong one means the file is not ours.
    if not isinstance(value, str):
        raise TypeError("outbox text column holds a non-text value")
    return value


def _optional_text(value: object) -> str | None:
    return None if value is None else _text(value)


def _answers(value: object) -> list[str]:
    answers = json.loads(_text(value))
    if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
        raise TypeError("outbox answers are not a JSON list of strings")
    return answers


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("outbox time column holds a non-number")
    return float(value)


def _row(values: Sequence[object]) -> LegacyRow:
    attempts = values[9]
    if isinstance(attempts, bool) or not isinstance(attempts, int):
        raise TypeError("outbox attempts column holds a non-integer")
    return LegacyRow(
        _text(values[0]), _text(values[1]), _text(values[2]), _text(values[3]),
        _text(values[4]), _answers(values[5]), _text(values[6]), _optional_text(values[7]),
        _optional_text(values[8]), attempts, _number(values[10]), _number(values[11]),
    )  # fmt: skip


def read_legacy_rows(path: Path, since: float) -> list[LegacyRow] | None:
    """The rows of the file's ``outbox`` table updated at or after ``since``, by key.

    ``None`` when there is nothing to import: no file (never one, or another process on the
    host has just imported and renamed it) or no ``outbox`` table in it.

    Raises:
        sqlite3.Error: The file is not a readable SQLite database.
        ValueError: A row's ``answers`` is not JSON.
        TypeError: A column holds a value of a type the schema does not allow.
    """
    if not path.exists():
        return None
    # ``mode=rw`` never creates a missing file (a plain connect would leave an empty one),
    # and, unlike ``mode=ro``, lets the last connection checkpoint a WAL a crashed worker
    # left and delete it, so no ``-wal`` file outlives the renamed database.
    uri = f"{path.absolute().as_uri()}?mode=rw"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=5.0)
    except sqlite3.OperationalError:
        if not path.exists():  # renamed by another importer between the check and the open
            return None
        raise
    try:
        tables = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'outbox'"
        ).fetchall()
        if not tables:
            return None
        # Ordered by key: concurrent importers then insert (and wait on) keys in the same
        # order, so their transactions cannot deadlock in PostgreSQL.
        cursor = conn.execute(
            f"SELECT {', '.join(COLUMNS)} FROM outbox WHERE updated_at >= ? ORDER BY key",
            (since,),
        )
        return [_row(values) for values in cursor.fetchall()]
    finally:
        conn.close()


def _rename(path: Path) -> None:
    try:
        path.rename(path.with_name(path.name + IMPORTED_SUFFIX))
    except FileNotFoundError:
        pass  # another worker on this host imported it too and renamed it first
    except OSError as exc:
        # The rows are in PostgreSQL already; the next start imports nothing new from it.
        log.warning("outbox_import_rename_failed", path=str(path), error=type(exc).__name__)


async def import_legacy_file(
    path: Path,
    retention: float,
    insert: Callable[[Sequence[LegacyRow]], Awaitable[int]],
) -> int:
    """Copy the rows of a local outbox file within ``retention`` through ``insert``, once.

    ``insert`` writes the rows with ``ON CONFLICT (key) DO NOTHING`` and returns how many were
    new. The file is then renamed ``<name>.imported``. A file that cannot be read is left in
    place with a warning (its path and the error's class, never its contents): the worker
    starts all the same. Errors from ``insert`` (PostgreSQL unreachable) propagate, and the
    file stays for the next start.

    Args:
        path: The legacy file, ``.data/outbox.db``.
        retention: Seconds a row is kept after its last attempt: older rows are not copied.
        insert: Writes rows into the PostgreSQL table.

    Returns:
        How many rows were new in PostgreSQL (0 when there was nothing to import).
    """
    try:
        rows = await asyncio.to_thread(read_legacy_rows, path, time.time() - retention)
    except (sqlite3.Error, OSError, ValueError, TypeError) as exc:
        # Only the class: a message could quote a value, and values are customers' text.
        log.warning("outbox_import_unreadable", path=str(path), error=type(exc).__name__)
        return 0
    if rows is None:
        return 0
    imported = await insert(rows) if rows else 0
    _rename(path)
    log.info(
        "outbox_imported", path=str(path), imported=imported, already_present=len(rows) - imported
    )
    return imported
