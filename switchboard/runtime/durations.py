"""Human-friendly durations: ``90s``, ``10m``, ``1h30m``, ``1.5s``, ``250ms``, ``3600``."""

from __future__ import annotations

import math
import re
from datetime import timedelta

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: str | float | int | timedelta) -> timedelta:
    """Parse a duration such as ``1h30m`` or a plain number of seconds.

    Raises:
        ValueError: the text is not a duration.
    """
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float):
        return _checked(float(value))
    text = value.strip().lower().replace(" ", "")
    if not text:
        raise ValueError("empty duration")
    try:
        seconds = float(text)
    except ValueError:
        pos, seconds = 0, 0.0
        for match in _PART.finditer(text):
            if match.start() != pos:
                break
            seconds += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
            pos = match.end()
        if pos != len(text):
            raise ValueError(
                f"not a duration: {value!r} (use e.g. 90s, 10m, 1h30m or seconds)"
            ) from None
    return _checked(seconds)


def _checked(seconds: float) -> timedelta:
    if not math.isfinite(seconds):
        raise ValueError("a duration must be finite")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    try:
        return timedelta(seconds=seconds)
    except OverflowError as exc:
        raise ValueError("duration too large") from exc
