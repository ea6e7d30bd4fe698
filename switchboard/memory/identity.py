"""Identity resolution: the many ways a customer's address is written, one profile.

``+1 (415) 555-0100``, ``+14155550100`` and ``whatsapp:+14155550100`` are one customer, keyed
by the E.164 number; an e-mail address joins a profile once it has been attached to it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from switchboard.contract.addresses import WHATSAPP_PREFIX, InvalidAddress, to_e164

IdentifierKind = Literal["phone", "whatsapp", "email"]

_EMAIL = re.compile(r"^(?:mailto:)?([^@\s]+@[^@\s]+\.[^@\s]+)$", re.IGNORECASE)


@dataclass(frozen=True)
class Identifier:
    """A normalised address of a customer."""

    kind: IdentifierKind
    value: str

    @property
    def address(self) -> str:
        """How the operator API shows it: ``+1…``, ``whatsapp:+1…`` or the e-mail address."""
        return f"{WHATSAPP_PREFIX}{self.value}" if self.kind == "whatsapp" else self.value


def parse_identifier(raw: str) -> Identifier:
    """Normalise an address a customer was reached on.

    Raises:
        InvalidAddress: neither a phone number, a WhatsApp address nor an e-mail address.
    """
    text = raw.strip()
    if match := _EMAIL.match(text):
        return Identifier("email", match.group(1).lower())
    kind: IdentifierKind = "whatsapp" if text.lower().startswith(WHATSAPP_PREFIX) else "phone"
    return Identifier(kind, to_e164(text))


__all__ = ["Identifier", "IdentifierKind", "InvalidAddress", "parse_identifier"]
