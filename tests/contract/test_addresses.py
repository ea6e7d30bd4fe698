"""Phone-number normalisation, channels and conversation ids."""

from __future__ import annotations

import pytest

from switchboard.contract.addresses import (
    Channel,
    InvalidAddress,
    channel_address,
    channel_of,
    conversation_id,
    customer_of,
    to_e164,
)

E164 = "+14155550100"


@pytest.mark.parametrize(
    "raw",
    [
        "+1 (415) 555-0100",
        "+14155550100",
        "whatsapp:+14155550100",
        "WhatsApp:+14155550100",
        "(415) 555-0100",  # national format, US default region
        "  +14155550100  ",
    ],
)
def test_to_e164_normalises(raw: str) -> None:
    assert to_e164(raw) == E164


def test_to_e164_uses_the_given_default_region() -> None:
    assert to_e164("020 7946 0018", default_region="GB") == "+442079460018"


@pytest.mark.parametrize("raw", ["hello", "", "+1", "12", "whatsapp:", "conv-"])
def test_to_e164_rejects_non_numbers(raw: str) -> None:
    with pytest.raises(InvalidAddress):
        to_e164(raw)


def test_invalid_address_is_a_value_error() -> None:
    assert issubclass(InvalidAddress, ValueError)


@pytest.mark.parametrize(
    ("address", "channel"),
    [
        ("+14155550100", Channel.SMS),
        ("whatsapp:+14155550100", Channel.WHATSAPP),
        ("WHATSAPP:+14155550100", Channel.WHATSAPP),
        (" whatsapp:+14155550100", Channel.WHATSAPP),
    ],
)
def test_channel_of(address: str, channel: Channel) -> None:
    assert channel_of(address) is channel


@pytest.mark.parametrize(
    ("channel", "expected"),
    [
        (Channel.SMS, E164),
        (Channel.WHATSAPP, f"whatsapp:{E164}"),
        (Channel.VOICE, E164),
    ],
)
def test_channel_address(channel: Channel, expected: str) -> None:
    assert channel_address(E164, channel) == expected


def test_channel_address_round_trips_through_channel_of() -> None:
    for channel in (Channel.SMS, Channel.WHATSAPP):
        address = channel_address(E164, channel)
        assert channel_of(address) is channel
        assert to_e164(address) == E164


def test_conversation_id() -> None:
    assert conversation_id(E164) == "conv-+14155550100"


@pytest.mark.parametrize(
    "text", ["conv-+14155550100", "+14155550100", "whatsapp:+14155550100", " conv-+14155550100 "]
)
def test_customer_of(text: str) -> None:
    assert customer_of(text) == E164


def test_conversation_id_round_trip() -> None:
    assert customer_of(conversation_id(E164)) == E164
    assert conversation_id(customer_of("conv-+14155550100")) == "conv-+14155550100"


@pytest.mark.parametrize("text", ["conv-", "conv-hello", "workflow-123"])
def test_customer_of_rejects_other_ids(text: str) -> None:
    with pytest.raises(InvalidAddress):
        customer_of(text)
