"""Pure operations on ``ConversationState``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from switchboard.contract.addresses import Channel
from switchboard.contract.conversation import (
    ConversationConfig,
    ConversationState,
    DeliveryStatusUpdate,
    InboundMessage,
    OptOut,
    Role,
    TranscriptEntry,
)
from switchboard.contract.llm import ChatMessage
from workflows.conversation.state_ops import (
    chat_history,
    record_delivery_status,
    record_inbound,
    record_reply,
    trimmed_for_carry,
)

CUSTOMER = "+14155550100"
SMS_NUMBER = "+15005550006"
WHATSAPP_NUMBER = "whatsapp:+14155238886"
T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def message(
    sid: str,
    body: str = "hi",
    *,
    channel: Channel = Channel.SMS,
    opt_out: OptOut | None = None,
    media_urls: list[str] | None = None,
    seconds: float = 0,
) -> InboundMessage:
    whatsapp = channel is Channel.WHATSAPP
    return InboundMessage(
        message_sid=sid,
        customer=CUSTOMER,
        channel=channel,
        from_address=f"whatsapp:{CUSTOMER}" if whatsapp else CUSTOMER,
        to_address=WHATSAPP_NUMBER if whatsapp else SMS_NUMBER,
        body=body,
        media_urls=media_urls or [],
        opt_out=opt_out,
        received_at=at(seconds),
    )


def new_state() -> ConversationState:
    return ConversationState(customer=CUSTOMER)


CFG = ConversationConfig()


def sids(entries: list[TranscriptEntry]) -> list[str | None]:
    return [e.message_sid for e in entries]


def texts(entries: list[TranscriptEntry]) -> list[str]:
    return [e.text for e in entries]


# --- record_inbound ---------------------------------------------------------------------


def test_record_inbound_adds_a_customer_line_and_pending_message() -> None:
    state = new_state()
    assert record_inbound(state, message("SM1", "hello", seconds=5), CFG)
    assert len(state.transcript) == 1
    entry = state.transcript[0]
    assert (entry.role, entry.text, entry.channel) == (Role.CUSTOMER, "hello", Channel.SMS)
    assert entry.message_sid == "SM1"
    assert entry.at == at(5)
    assert [m.message_sid for m in state.pending] == ["SM1"]
    assert state.seen_message_sids == ["SM1"]
    assert state.last_activity == at(5)


def test_record_inbound_dedupes_by_message_sid() -> None:
    state = new_state()
    assert record_inbound(state, message("SM1", "hello"), CFG)
    assert not record_inbound(state, message("SM1", "hello again"), CFG)
    assert texts(state.transcript) == ["hello"]
    assert len(state.pending) == 1
    assert state.seen_message_sids == ["SM1"]


def test_record_inbound_dedupes_after_pending_is_drained() -> None:
    state = new_state()
    record_inbound(state, message("SM1"), CFG)
    state.pending.clear()  # the turn answered it
    assert not record_inbound(state, message("SM1"), CFG)
    assert state.pending == []


def test_seen_message_sids_are_bounded() -> None:
    cfg = ConversationConfig(max_seen_message_sids=3)
    state = new_state()
    for i in range(5):
        assert record_inbound(state, message(f"SM{i}"), cfg)
    assert state.seen_message_sids == ["SM2", "SM3", "SM4"]
    assert not record_inbound(state, message("SM4"), cfg)
    # A SID older than the window is forgotten: the bound is a trade-off, not a guarantee.
    assert record_inbound(state, message("SM0"), cfg)


def active_channel(state: ConversationState) -> Channel | None:
    """Read afresh: mypy keeps an ``is`` narrowing of the attribute across ``record_inbound``."""
    return state.active_channel


def test_channels_active_channel_and_business_addresses() -> None:
    state = new_state()
    record_inbound(state, message("SM1"), CFG)
    assert state.channels == [Channel.SMS]
    assert active_channel(state) is Channel.SMS
    record_inbound(state, message("SM2", channel=Channel.WHATSAPP), CFG)
    assert state.channels == [Channel.SMS, Channel.WHATSAPP]
    assert active_channel(state) is Channel.WHATSAPP
    record_inbound(state, message("SM3"), CFG)
    assert state.channels == [Channel.SMS, Channel.WHATSAPP]
    assert active_channel(state) is Channel.SMS
    assert state.business_addresses == {
        Channel.SMS: SMS_NUMBER,
        Channel.WHATSAPP: WHATSAPP_NUMBER,
    }


def test_media_is_noted_in_the_transcript() -> None:
    state = new_state()
    record_inbound(state, message("SM1", "look", media_urls=["a.jpg", "b.jpg"]), CFG)
    record_inbound(state, message("SM2", "", media_urls=["c.jpg"]), CFG)
    assert texts(state.transcript) == ["look\n[2 attachment(s)]", "[1 attachment(s)]"]


def test_opt_out_stop_and_start() -> None:
    state = new_state()
    assert record_inbound(state, message("SM1", "STOP", opt_out=OptOut.STOP), CFG)
    assert state.opted_out is True
    assert state.pending == []
    assert texts(state.transcript) == ["STOP"]
    assert record_inbound(state, message("SM2", "START", opt_out=OptOut.START), CFG)
    assert state.opted_out is False
    assert state.pending == []
    assert record_inbound(state, message("SM3", "HELP", opt_out=OptOut.HELP), CFG)
    assert state.opted_out is False
    assert state.pending == []
    record_inbound(state, message("SM4", "hello again"), CFG)
    assert [m.message_sid for m in state.pending] == ["SM4"]


def test_ordinary_stop_text_without_opt_out_type_is_pending() -> None:
    state = new_state()
    record_inbound(state, message("SM1", "stop"), CFG)
    assert state.opted_out is False
    assert len(state.pending) == 1


# --- record_delivery_status ------------------------------------------------------------


def state_with_reply(sid: str = "SMout1", status: str | None = None) -> ConversationState:
    state = new_state()
    record_reply(
        state, Role.ASSISTANT, "hi there", Channel.SMS, at(1), message_sid=sid,
        delivery_status=status,
    )  # fmt: skip
    return state


def update(status: str, sid: str = "SMout1") -> DeliveryStatusUpdate:
    return DeliveryStatusUpdate(message_sid=sid, status=status, at=at(2))


def test_delivery_status_is_monotonic() -> None:
    state = state_with_reply(status="queued")
    assert record_delivery_status(state, update("sent"))
    assert state.transcript[0].delivery_status == "sent"
    assert record_delivery_status(state, update("delivered"))
    assert not record_delivery_status(state, update("sent"))  # late, out of order
    assert state.transcript[0].delivery_status == "delivered"
    assert not record_delivery_status(state, update("delivered"))  # duplicate
    assert record_delivery_status(state, update("read"))
    assert state.transcript[0].delivery_status == "read"


def test_delivery_status_from_nothing() -> None:
    state = state_with_reply(status=None)
    assert record_delivery_status(state, update("queued"))
    assert state.transcript[0].delivery_status == "queued"


def test_failure_is_final() -> None:
    state = state_with_reply(status="sent")
    assert record_delivery_status(state, update("failed"))
    assert not record_delivery_status(state, update("delivered"))
    assert state.transcript[0].delivery_status == "failed"


def test_unknown_sid_returns_false() -> None:
    state = state_with_reply(status="sent")
    assert not record_delivery_status(state, update("delivered", sid="SMother"))
    assert state.transcript[0].delivery_status == "sent"


def test_unknown_status_is_ignored() -> None:
    state = state_with_reply(status="sent")
    assert not record_delivery_status(state, update("huh"))
    assert state.transcript[0].delivery_status == "sent"


# --- record_reply -----------------------------------------------------------------------


def test_reply_follows_answered_messages() -> None:
    state = new_state()
    record_inbound(state, message("SM1", "one"), CFG)
    state.pending.clear()  # the turn took SM1
    entry = record_reply(state, Role.ASSISTANT, "answer", Channel.SMS, at(10), turn=1)
    assert texts(state.transcript) == ["one", "answer"]
    assert entry.turn == 1
    assert entry.role is Role.ASSISTANT
    assert state.last_activity == at(10)


def test_reply_goes_before_trailing_unanswered_messages() -> None:
    state = new_state()
    record_inbound(state, message("SM1", "one"), CFG)
    record_inbound(state, message("SM2", "two"), CFG)
    state.pending.clear()  # the turn took SM1 and SM2
    record_inbound(state, message("SM3", "three (during the turn)", seconds=5), CFG)
    record_inbound(state, message("SM4", "four (during the turn)", seconds=6), CFG)
    record_reply(state, Role.ASSISTANT, "answer", Channel.SMS, at(4))
    assert texts(state.transcript) == [
        "one",
        "two",
        "answer",
        "three (during the turn)",
        "four (during the turn)",
    ]
    assert state.last_activity == at(6)  # never moves backwards


def test_reply_with_everything_unanswered_goes_first() -> None:
    state = new_state()
    record_inbound(state, message("SM1", "one"), CFG)
    record_reply(state, Role.SYSTEM, "note", Channel.SMS, at(1))
    assert texts(state.transcript) == ["note", "one"]


def test_reply_does_not_jump_over_other_replies() -> None:
    state = new_state()
    record_inbound(state, message("SM1", "one"), CFG)
    state.pending.clear()
    record_reply(state, Role.ASSISTANT, "first answer", Channel.SMS, at(1))
    record_inbound(state, message("SM2", "two"), CFG)
    record_reply(state, Role.ASSISTANT, "second answer", Channel.SMS, at(2))
    assert texts(state.transcript) == ["one", "first answer", "second answer", "two"]


def test_reply_on_an_empty_transcript() -> None:
    state = new_state()
    record_reply(state, Role.ASSISTANT, "hello", Channel.WHATSAPP, at(0), message_sid="SMx")
    assert texts(state.transcript) == ["hello"]
    assert sids(state.transcript) == ["SMx"]


# --- chat_history -----------------------------------------------------------------------


def test_chat_history_roles() -> None:
    state = new_state()
    record_inbound(state, message("SM1", "hello"), CFG)
    state.pending.clear()
    record_reply(state, Role.ASSISTANT, "hi!", Channel.SMS, at(1), delivery_status="delivered")
    record_reply(state, Role.SYSTEM, "handoff requested", Channel.SMS, at(2))
    record_reply(state, Role.AGENT, "a human here", Channel.SMS, at(3))
    record_reply(state, Role.ASSISTANT, "lost", Channel.SMS, at(4), delivery_status="failed")
    record_reply(state, Role.ASSISTANT, "queued", Channel.SMS, at(5), delivery_status="queued")
    record_reply(
        state, Role.ASSISTANT, "bounced", Channel.SMS, at(6), delivery_status="undelivered"
    )
    record_inbound(state, message("SM2", "thanks"), CFG)
    assert chat_history(state) == [
        ChatMessage(role="user", content="hello"),
        ChatMessage(role="assistant", content="hi!"),
        ChatMessage(role="assistant", content="a human here"),
        ChatMessage(role="assistant", content="queued"),
        ChatMessage(role="user", content="thanks"),
    ]


def test_chat_history_of_an_empty_state() -> None:
    assert chat_history(new_state()) == []


# --- trimmed_for_carry ------------------------------------------------------------------


@pytest.mark.parametrize("keep", [1, 3, 10])
def test_trimmed_for_carry_keeps_the_last_entries(keep: int) -> None:
    state = new_state()
    for i in range(5):
        record_inbound(state, message(f"SM{i}", f"m{i}"), CFG)
    carried = trimmed_for_carry(state, ConversationConfig(max_transcript_entries=keep))
    assert texts(carried.transcript) == [f"m{i}" for i in range(5)][-keep:]
    assert carried.runs == state.runs + 1


def test_trimmed_for_carry_does_not_mutate_the_original() -> None:
    state = new_state()
    for i in range(5):
        record_inbound(state, message(f"SM{i}", f"m{i}"), CFG)
    before = state.model_copy(deep=True)
    carried = trimmed_for_carry(state, ConversationConfig(max_transcript_entries=2))
    assert state == before
    assert state.runs == 1
    assert len(state.transcript) == 5
    carried.transcript[0].text = "changed"
    carried.pending.clear()
    carried.seen_message_sids.append("SMnew")
    assert state == before


def test_trimmed_for_carry_keeps_everything_else() -> None:
    state = new_state()
    record_inbound(state, message("SM1", "hello", channel=Channel.WHATSAPP), CFG)
    state.opted_out = True
    state.turn = 4
    carried = trimmed_for_carry(state, CFG)
    assert carried.customer == CUSTOMER
    assert carried.channels == [Channel.WHATSAPP]
    assert carried.pending == state.pending
    assert carried.seen_message_sids == ["SM1"]
    assert carried.opted_out is True
    assert carried.turn == 4
    assert trimmed_for_carry(carried, CFG).runs == 3
