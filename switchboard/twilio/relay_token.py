"""Per-call tokens that admit a ConversationRelay socket's ``setup``.

The relay socket's URL is the same for every call, so its upgrade signature only proves that
Twilio once opened *a* socket: a captured header would open any number of them, and the
``setup`` frame's ``from`` / ``callSid`` / ``accountSid`` are whatever the sender wrote. What
ties a socket to one call is a token minted where the call is known for sure (the signed
Voice webhook, the signed ``<Connect action>`` callback, and the worker placing an outbound
call) and handed to Twilio as ``<Parameter name="relayToken">`` of the
``<ConversationRelay>``. Twilio gives it back in ``setup.customParameters`` (never in a URL,
so never in an access log), and the gateway admits the socket only when the token is
genuine, unexpired, unused and bound to the call, customer and account ``setup`` names.

A token reads ``v1.<kind>.<expires>.<nonce>.<mac>``. ``kind`` is ``c`` when the token is bound
to a ``CallSid`` (incoming calls, reconnects) and ``n`` when the call is known only by the
nonce (an outbound call's TwiML is written before Twilio gives the call a ``CallSid``). The
MAC is HMAC-SHA256 over the kind, the direction, the ``CallSid`` (empty for ``n``), the
nonce, the customer's number, the account SID and the expiry, under a key derived from the
Twilio auth token with a label of its own: every process that writes relay TwiML already
holds the auth token, and the derived key signs nothing but these tokens.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from enum import StrEnum

from switchboard.contract.addresses import InvalidAddress, to_e164
from switchboard.runtime.config import Settings

RELAY_TOKEN_PARAMETER = "relayToken"
"""The ``<Parameter>`` name, and the ``setup.customParameters`` key, that carries a token."""

RELAY_TOKEN_TTL_SECONDS = 300
"""How long a token may wait for its socket. An incoming call connects within a second of
the TwiML; an outbound call's TwiML is written before it rings, and a callee may take a
minute or two to answer. Short, because a token is single-use per gateway process only."""

_VERSION = "v1"
_KEY_LABEL = b"switchboard relay token v1"
_BOUND_TO_CALL = "c"
_BOUND_TO_NONCE = "n"
_MAX_TOKEN_LENGTH = 200  # ours are about 80 characters: anything longer is not one


@dataclass(frozen=True)
class RelayBinding:
    """What a token is bound to: the call, the customer on it, and the direction.

    ``call_sid`` is None for an outbound call whose TwiML is written before it is placed.
    ``customer`` is the caller of an incoming call and the callee of an outbound one.
    """

    call_sid: str | None
    customer: str
    outbound: bool


_DIGITS = re.compile(r"[0-9]{1,12}")


class TokenVerdict(StrEnum):
    """Why a token was refused (or ``valid``); logged, never shown to the sender."""

    VALID = "valid"
    MISSING = "missing"
    MALFORMED = "malformed"
    EXPIRED = "expired"
    MISMATCH = "mismatch"  # forged, or minted for another call, customer or account


@dataclass(frozen=True)
class TokenCheck:
    """The verdict on a token, with its nonce and expiry when it was well formed."""

    verdict: TokenVerdict
    nonce: str = ""
    expires: int = 0

    @property
    def valid(self) -> bool:
        """True when the token admits the socket (single use is the caller's to enforce)."""
        return self.verdict is TokenVerdict.VALID


def customer_number(raw: str) -> str:
    """A number as both ends of a token read it: E.164 when it routes, else as written."""
    try:
        return to_e164(raw)
    except InvalidAddress:
        return raw.strip()


class RelayTokens:
    """Mints and checks relay tokens for one account, under a key derived from its auth token."""

    def __init__(
        self, auth_token: str, account_sid: str, *, ttl_seconds: int = RELAY_TOKEN_TTL_SECONDS
    ) -> None:
        if not auth_token:
            raise ValueError("an empty auth token would let anyone mint relay tokens")
        self._key = hmac.new(auth_token.encode(), _KEY_LABEL, hashlib.sha256).digest()
        self.account_sid = account_sid
        self.ttl_seconds = ttl_seconds

    @classmethod
    def from_settings(cls, settings: Settings) -> RelayTokens:
        """Tokens for the configured account (the sandbox's own without credentials)."""
        return cls(settings.auth_token, settings.account_sid)

    def mint(self, binding: RelayBinding, *, now: float | None = None) -> str:
        """A fresh token for ``binding``, valid for ``ttl_seconds`` from ``now``."""
        expires = int(now if now is not None else time.time()) + self.ttl_seconds
        kind = _BOUND_TO_NONCE if binding.call_sid is None else _BOUND_TO_CALL
        nonce = secrets.token_urlsafe(12)  # urlsafe: never a "." in it
        mac = self._mac(kind, binding, nonce, self.account_sid, expires)
        return f"{_VERSION}.{kind}.{expires}.{nonce}.{mac}"

    def check(
        self,
        token: str | None,
        binding: RelayBinding,
        account_sid: str,
        *,
        now: float | None = None,
    ) -> TokenCheck:
        """Is ``token`` ours, unexpired, and minted for ``binding`` on ``account_sid``?

        ``binding`` is what the ``setup`` frame says (its ``callSid`` is always there); a
        token minted before the call had a ``CallSid`` ignores it and binds the rest.
        """
        if not token:
            return TokenCheck(TokenVerdict.MISSING)
        parts = token.split(".") if len(token) <= _MAX_TOKEN_LENGTH else []
        # ASCII digits only: ``isdigit`` alone accepts "²", which ``int`` refuses.
        if len(parts) != 5 or parts[0] != _VERSION or not _DIGITS.fullmatch(parts[2]):
            return TokenCheck(TokenVerdict.MALFORMED)
        _, kind, expiry, nonce, mac = parts
        if kind not in (_BOUND_TO_CALL, _BOUND_TO_NONCE) or not nonce:
            return TokenCheck(TokenVerdict.MALFORMED)
        expires = int(expiry)
        if kind == _BOUND_TO_NONCE:
            binding = RelayBinding(None, binding.customer, binding.outbound)
        # The MAC first: an expired token is reported as such only when it is one of ours.
        expected = self._mac(kind, binding, nonce, account_sid, expires)
        if not hmac.compare_digest(mac.encode(), expected.encode()):
            return TokenCheck(TokenVerdict.MISMATCH)
        if expires <= (now if now is not None else time.time()):
            return TokenCheck(TokenVerdict.EXPIRED, nonce, expires)
        return TokenCheck(TokenVerdict.VALID, nonce, expires)

    def _mac(
        self, kind: str, binding: RelayBinding, nonce: str, account_sid: str, expires: int
    ) -> str:
        fields = (
            _VERSION,
            kind,
            "outbound" if binding.outbound else "inbound",
            binding.call_sid or "",
            nonce,
            customer_number(binding.customer),
            account_sid,
            str(expires),
        )
        # Each field length-prefixed: the sender writes several of them, and no choice of
        # where one ends and the next begins can make two bindings sign the same bytes.
        message = "".join(f"{len(field)}:{field}" for field in fields)
        digest = hmac.new(self._key, message.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
