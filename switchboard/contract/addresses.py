"""Customer addresses: E.164 numbers, ``whatsapp:`` addresses and conversation ids.

Twilio sends ``+14155550100`` for SMS and voice and ``whatsapp:+14155550100`` for WhatsApp;
both belong to one customer and one conversation, ``conv-+14155550100``.
"""

from __future__ import annotations

from enum import StrEnum

import phonenumbers

CONVERSATION_ID_PREFIX = "conv-"
WHATSAPP_PREFIX = "whatsapp:"


class Channel(StrEnum):
    """A channel a conversation can run on (the ``ConversationChannels`` values)."""

    SMS = "sms"
    WHATSAPP = "whatsapp"
    VOICE = "voice"


class InvalidAddress(ValueError):
    """The text is not a phone number or WhatsApp address we can route."""


def to_e164(raw: str, default_region: str = "US") -> str:
    """Normalise a phone number (``+1 (415) 555-0100``, ``whatsapp:+14155550100``) to E.164.

    Raises:
        InvalidAddress: the text is not a valid phone number.
    """
    text = raw.strip()
    if text.lower().startswith(WHATSAPP_PREFIX):
        text = text[len(WHATSAPP_PREFIX) :]
    try:
        parsed = phonenumbers.parse(text, None if text.startswith("+") else default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidAddress(f"not a phone number: {raw!r}") from exc
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidAddress(f"not a possible phone number: {raw!r}")
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def channel_of(address: str) -> Channel:
    """The messaging channel an inbound ``From`` address belongs to."""
    if address.strip().lower().startswith(WHATSAPP_PREFIX):
        return Channel.WHATSAPP
    return Channel.SMS


def channel_address(e164: str, channel: Channel) -> str:
    """The address Twilio expects for a number on a channel (``whatsapp:+1…`` on WhatsApp)."""
    return f"{WHATSAPP_PREFIX}{e164}" if channel is Channel.WHATSAPP else e164


def conversation_id(e164: str) -> str:
    """The workflow id of a customer's conversation."""
    return f"{CONVERSATION_ID_PREFIX}{e164}"


def customer_of(conversation: str) -> str:
    """The E.164 number inside a conversation id (or a customer address).

    Raises:
        InvalidAddress: it is neither.
    """
    text = conversation.strip()
    if text.startswith(CONVERSATION_ID_PREFIX):
        text = text[len(CONVERSATION_ID_PREFIX) :]
    return to_e164(text)
