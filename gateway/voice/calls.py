"""The calls whose ConversationRelay sockets this gateway process holds."""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

from switchboard.contract.voice import LegEndReason

if TYPE_CHECKING:
    from gateway.voice.session import RelaySession

_REMEMBER_ENDED = 2000


class LiveCalls:
    """Sockets this process holds, by ``CallSid``; and how recently ended ones ended."""

    def __init__(self) -> None:
        self._live: dict[str, RelaySession] = {}
        self._ended: OrderedDict[str, LegEndReason] = OrderedDict()

    def add(self, call_sid: str, session: RelaySession) -> None:
        """Register a session once its ``setup`` arrived."""
        self._live[call_sid] = session

    def remove(self, call_sid: str, session: RelaySession | None, reason: LegEndReason) -> None:
        """Forget a closed session, remembering how it ended (the watcher may ask later)."""
        if session is None or self._live.get(call_sid) is session:  # not a newer session
            self._live.pop(call_sid, None)
        self._ended[call_sid] = reason
        while len(self._ended) > _REMEMBER_ENDED:
            self._ended.popitem(last=False)

    def get(self, call_sid: str) -> RelaySession | None:
        """The live session of a call, if this process holds it."""
        return self._live.get(call_sid)

    def ended_reason(self, call_sid: str) -> LegEndReason:
        """How a call that is no longer live ended (``unknown`` if never seen here)."""
        return self._ended.get(call_sid, LegEndReason.UNKNOWN)


class RelaySlots:
    """How many ConversationRelay sockets this process holds at once (``GATEWAY_MAX_CALLS``).

    Every call streams a model's tokens through this process; past the limit a new socket is
    turned away before it is accepted (and the Voice webhook says the lines are busy), so the
    calls already up keep their latency.
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("a gateway must take at least one call")
        self.limit = limit
        self.in_use = 0
        self.draining = False

    @property
    def full(self) -> bool:
        """True when no further socket may be accepted now (all taken, or draining)."""
        return self.draining or self.in_use >= self.limit

    def drain(self) -> None:
        """Take no further socket, for good: the process is shutting down (``gateway.drain``)."""
        self.draining = True

    def take(self) -> bool:
        """Hold a slot for a new socket; False (nothing held) when all are taken."""
        if self.full:
            return False
        self.in_use += 1
        return True

    def give_back(self) -> None:
        """Free the slot of a socket that closed."""
        self.in_use = max(0, self.in_use - 1)
