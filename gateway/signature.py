"""``X-Twilio-Signature`` validation.

The URL Twilio signed is rebuilt from ``PUBLIC_BASE_URL`` plus the path and query actually
received, so a tunnel or proxy in front of the gateway does not break validation. That is
the only URL checked: one rebuilt from the request's ``Host`` header (attacker-chosen) would
accept a request Twilio signed for another host of the same account. The ``twilio`` library
computes the HMAC and also tries the URL with and without the default port.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl

from twilio.request_validator import RequestValidator


def websocket_url(url: str) -> str:
    """The WebSocket form of an HTTP URL: ``https://`` → ``wss://``, ``http://`` → ``ws://``."""
    if url.startswith("https://"):
        return "wss://" + url.removeprefix("https://")
    return "ws://" + url.removeprefix("http://")


class SignatureValidator:
    """Checks Twilio signatures for one auth token and public base URL."""

    def __init__(self, auth_token: str, public_base_url: str, *, enabled: bool = True) -> None:
        if not auth_token:
            raise ValueError("an empty auth token would let anyone sign requests")
        self._validator = RequestValidator(auth_token)
        self._base = public_base_url.rstrip("/")
        self.enabled = enabled

    def public_url(self, path: str, query: str = "") -> str:
        """The URL Twilio was configured with for a request to ``path?query``."""
        return f"{self._base}{path}" + (f"?{query}" if query else "")

    def valid(self, url: str, params: Mapping[str, str] | object, signature: str | None) -> bool:
        """True when ``signature`` is Twilio's signature of ``url`` and the form ``params``."""
        if not self.enabled:
            return True
        if not signature:
            return False
        return bool(self._validator.validate(url, params, signature))

    def relay_url(self, path: str, query: str = "") -> str:
        """The ``wss://`` (or ``ws://``) URL the TwiML gave Twilio for a socket to ``path``."""
        return websocket_url(self.public_url(path, query))

    def valid_relay(self, path: str, query: str, signature: str | None) -> bool:
        """Check the signature of a ConversationRelay WebSocket upgrade to ``path?query``.

        Twilio signs the socket URL exactly as written in the TwiML (``PUBLIC_BASE_URL`` in
        its ``wss://`` form), query included, with no parameters. Some implementations sign
        the URL without its query and pass the query items as parameters; that form is
        accepted too.
        """
        if not self.enabled:
            return True
        if self.valid(self.relay_url(path, query), {}, signature):
            return True
        if query:
            params = dict(parse_qsl(query, keep_blank_values=True))
            return self.valid(self.relay_url(path), params, signature)
        return False

    def sign(self, url: str, params: Mapping[str, str] | object) -> str:
        """The signature Twilio would send (used by the simulator and tests)."""
        return str(self._validator.compute_signature(url, params))
