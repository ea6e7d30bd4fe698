"""Which ``setup`` frames may attach a call: the per-call relay token, checked once.

The upgrade signature says a socket came from Twilio; only the token minted with the call's
TwiML (``switchboard.twilio.relay_token``) says *which* call, customer and account the socket
may speak for. A ``setup`` is admitted when its ``accountSid`` is ours and its
``customParameters.relayToken`` is genuine, unexpired, bound to its ``callSid`` (when the
token was minted knowing it) and customer, and not used before on this process.

Single use is per process. Another gateway host would take a token used here once more,
within its expiry only (``RELAY_TOKEN_TTL_SECONDS``), and only from whoever holds the token
itself: it travels inside Twilio's TLS connections, never in a URL or a log. Sharing the used
set between hosts (or asking the workflow) would put a store or a Temporal round trip in
front of every call's first word for that small window.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

import structlog

from gateway.voice.frames import SetupFrame
from switchboard.runtime.config import Settings
from switchboard.runtime.log_privacy import mask_numbers_in
from switchboard.twilio.relay_token import (
    RELAY_TOKEN_PARAMETER,
    RelayBinding,
    RelayTokens,
    TokenVerdict,
)

log = structlog.get_logger(__name__)

REFUSED_ACCOUNT = "account"
"""The refusal reason of a ``setup`` for another Twilio account."""
REFUSED_REUSED = "reused"
"""The refusal reason of a token this process admitted before."""

_SID_CHARS = 34
_REMEMBER_USED = 100_000
# Used tokens are remembered until they expire. This bounds the set against a burst beyond
# any real gateway's call rate; past it the oldest are forgotten before their expiry.


class RelayAdmission:
    """Admits a socket's ``setup`` once per token, for this account only."""

    def __init__(self, tokens: RelayTokens, *, clock: Callable[[], float] = time.time) -> None:
        self._tokens = tokens
        self._clock = clock
        self._used: OrderedDict[str, int] = OrderedDict()  # nonce → expiry, oldest first

    @classmethod
    def from_settings(cls, settings: Settings) -> RelayAdmission:
        """Admission for the configured account's tokens."""
        return cls(RelayTokens.from_settings(settings))

    def refusal(self, frame: SetupFrame) -> str | None:
        """Why ``frame`` may not attach a call, or None (and its token is now used).

        Every refusal is logged with the reason and masked numbers, never the token.
        """
        now = self._clock()
        reason = self._reason(frame, now)
        if reason is not None:
            log.warning(
                "relay_setup_refused",
                reason=reason,
                # The sender wrote these: cut to what a real SID and direction take.
                call_sid=frame.call_sid[:_SID_CHARS],
                caller=_masked(frame.caller),
                direction=frame.direction[:_SID_CHARS],
            )
        return reason

    def _reason(self, frame: SetupFrame, now: float) -> str | None:
        if frame.account_sid != self._tokens.account_sid:
            return REFUSED_ACCOUNT
        binding = RelayBinding(frame.call_sid, frame.caller, frame.outbound)
        token = frame.custom_parameters.get(RELAY_TOKEN_PARAMETER)
        check = self._tokens.check(token, binding, frame.account_sid, now=now)
        if check.verdict is not TokenVerdict.VALID:
            return str(check.verdict)
        self._forget_expired(now)
        if check.nonce in self._used:
            return REFUSED_REUSED
        self._used[check.nonce] = check.expires
        if len(self._used) > _REMEMBER_USED:
            self._used.popitem(last=False)
        return None

    def _forget_expired(self, now: float) -> None:
        # Tokens share one lifetime, so the oldest admitted expire first (near enough: one
        # that lingers a little is only remembered a little longer).
        while self._used:
            nonce, expires = next(iter(self._used.items()))
            if expires > now:
                return
            del self._used[nonce]


def _masked(number: str) -> str:
    """A number for the log: masked even when the log's own masking is turned off."""
    number = number[:20]  # E.164 is 16 characters at most
    masked = mask_numbers_in(number)
    if masked != number:
        return masked
    return "•" * min(8, max(0, len(number) - 4)) + number[-4:]  # bounded: the sender wrote it
