"""Phone numbers out of the logs: a structlog processor that masks them in every line.

Every gateway and worker line would otherwise name the customer: ``From`` numbers,
``conv-+14155550100`` ids, ``whatsapp:+…`` addresses, and the same percent-encoded in paths.
The processor keeps a number's last four digits (what a bank statement shows), enough to
follow one customer through a log without writing down who they are. ``LOG_MASK_NUMBERS=false``
turns it off for local debugging.
"""

from __future__ import annotations

import re
from typing import Any

import structlog

# "+" or its percent-encoding, then 7 to 15 digits (E.164 allows 15) not part of a longer run.
_NUMBER = re.compile(r"(?<![\w%])(\+|%2[Bb])(\d{3,11})(\d{4})(?!\d)")
_KEEP = 4
_DEPTH = 4


def mask_numbers_in(text: str) -> str:
    """``text`` with every E.164 number (also ``%2B``-encoded) masked but its last digits."""
    return _NUMBER.sub(lambda m: f"{m.group(1)}{'•' * len(m.group(2))}{m.group(3)}", text)


def _masked(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return mask_numbers_in(value) if ("+" in value or "%2" in value) else value
    if depth >= _DEPTH:
        return value
    if isinstance(value, dict):
        return {key: _masked(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_masked(item, depth + 1) for item in value)
    return value


def mask_numbers(
    logger: object, name: str, event_dict: structlog.types.EventDict
) -> structlog.types.EventDict:
    """The structlog processor: every string value of the line, nested ones too, masked."""
    return {key: _masked(value) for key, value in event_dict.items()}


__all__ = ["mask_numbers", "mask_numbers_in"]
