"""The keypad buffer of one call: single ``dtmf`` keys gathered into one input.

ConversationRelay sends every key the caller presses as its own ``dtmf`` frame, but a caller
keying an order number means one input, not eight. Keys are held here until the caller stops
pressing for a moment (or presses ``#``), then handed on as one prompt. This is a small timer
of its own, apart from the turn pipeline: keys keep arriving while a turn is spoken.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

DTMF_QUIET_SECONDS = 1.2
"""Keys pressed within this long of each other are one input ('#' sends at once)."""


class KeypadBuffer:
    """Gathers a call's keys and hands each finished input to ``on_input``."""

    def __init__(self, on_input: Callable[[str], None]) -> None:
        """Start with no keys.

        Args:
            on_input: Called with the keys of one input (``#`` included when pressed).
        """
        self._on_input = on_input
        self._digits = ""
        self._flush_later: asyncio.Task[None] | None = None

    def press(self, digit: str) -> None:
        """A key: send the input now on ``#``, else once the caller has paused."""
        self._digits += digit
        if self._flush_later is not None:
            self._flush_later.cancel()
        if digit == "#":
            self.flush()
        else:
            self._flush_later = asyncio.create_task(self._flush_after_quiet())

    def flush(self) -> None:
        """Hand on the keys gathered so far, if any."""
        digits, self._digits = self._digits, ""
        if digits:
            self._on_input(digits)

    def cancel(self) -> None:
        """Stop waiting for the pause (the keys gathered stay, for ``flush``)."""
        if self._flush_later is not None:
            self._flush_later.cancel()

    async def _flush_after_quiet(self) -> None:
        await asyncio.sleep(DTMF_QUIET_SECONDS)
        self.flush()
