"""``schedule_callback``'s time: ISO-8601, UTC without an offset, now when in the past."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from workflows.conversation.callbacks import InvalidCallbackTime, parse_callback_time

NOW = datetime(2026, 11, 27, 20, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-28T15:00:00", datetime(2026, 11, 28, 15, 0, tzinfo=UTC)),
        ("2026-11-28T15:00:00Z", datetime(2026, 11, 28, 15, 0, tzinfo=UTC)),
        ("2026-11-28T15:00:00-08:00", datetime(2026, 11, 28, 23, 0, tzinfo=UTC)),
        ("2026-11-28 09:30", datetime(2026, 11, 28, 9, 30, tzinfo=UTC)),
        ("2020-01-01T00:00:00Z", NOW),  # in the past: now
    ],
)
def test_callback_times(text: str, expected: datetime) -> None:
    assert parse_callback_time(text, NOW) == expected


@pytest.mark.parametrize(
    "text", ["3pm tomorrow", "", "2026-13-01T00:00:00", "9999-12-31T23:59:59-05:00",
             "0001-01-01T00:00:00+05:00"],
)  # fmt: skip
def test_bad_callback_times_are_refused_not_raised(text: str) -> None:
    with pytest.raises(InvalidCallbackTime):
        parse_callback_time(text, NOW)
