"""What a closing conversation stores in memory is redacted when the ``pii`` operator is on."""

from __future__ import annotations

from datetime import UTC, datetime

from activities.memory import redacted
from switchboard.contract.addresses import Channel
from switchboard.memory.models import TranscriptLine

AT = datetime(2026, 12, 5, tzinfo=UTC)


def line(text: str, role: str = "customer") -> TranscriptLine:
    return TranscriptLine(role=role, text=text, channel=Channel.SMS, at=AT)


def test_personal_data_is_replaced_by_its_type() -> None:
    lines = [
        line("Mail me at ada.l@example.com or call +1 415 555 0100"),
        line("Thanks, noted.", role="assistant"),
        line("My card is 4111 1111 1111 1111"),
    ]
    out = redacted(lines)
    assert "ada.l@example.com" not in out[0].text and "[EMAIL]" in out[0].text
    assert "555 0100" not in out[0].text
    assert out[1].text == "Thanks, noted."
    assert "4111" not in out[2].text
    assert [o.role for o in out] == [o.role for o in lines]


def test_text_without_personal_data_is_unchanged() -> None:
    lines = [line("Where is my order?")]
    assert redacted(lines) == lines
