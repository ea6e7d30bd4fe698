"""``X-Twilio-Signature`` validation.

The URL Twilio signed is rebuilt from ``PUBLIC_BASE_URL`` plus the path and query actually
received, so a tunnel or proxy in front of the gateway does not break validation. The
``twilio`` library computes the HMAC and also tries the URL with and without the default port.
"""

from __future__ import annotations

from collections.abc import Mapping

from twilio.request_validator import RequestValidator


class SignatureValidator:
    """Checks Twilio signatures for one auth token and public base URL."""

    def __init__(self, auth_token: str, public_base_url: str, *, enabled: bool = True) -> None:
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

    def sign(self, url: str, params: Mapping[str, str] | object) -> str:
        """The signature Twilio would send (used by the simulator and tests)."""
        return str(self._validator.compute_signature(url, params))
