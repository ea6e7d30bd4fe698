"""Hints that a conversation may have changed: whoever wants to look sooner is told.

The gateway tells its watchers each time it has signalled a conversation (a message in, an
operator's action, a spoken reply), so the console's inbox can look at once instead of at
its next poll. A hint only: the signal went out whatever a watcher does.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

log = structlog.get_logger(__name__)

Watcher = Callable[[str], None]
"""Called with a conversation id; must be quick and should not fail."""


class SignalWatchers:
    """The watchers of one gateway process."""

    def __init__(self) -> None:
        self._watchers: list[Watcher] = []

    def add(self, watcher: Watcher) -> None:
        """Tell ``watcher`` about every conversation signalled from now on."""
        self._watchers.append(watcher)

    def notify(self, conversation: str) -> None:
        """``conversation`` was signalled."""
        for watcher in self._watchers:
            try:
                watcher(conversation)
            except Exception:  # a hint: the signal went out all the same
                log.exception("conversation_watcher_failed")

    def notify_if(self, conversation: str, sent: bool) -> bool:
        """Notify when ``sent``; returns ``sent``."""
        if sent:
            self.notify(conversation)
        return sent
