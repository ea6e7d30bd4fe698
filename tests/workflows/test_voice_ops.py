"""Pure voice operations: what the caller heard, call-control tool validation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from switchboard.agent.call_control import InvalidToolCall, to_action
from switchboard.contract.addresses import Channel
from switchboard.contract.conversation import ConversationState, Role
from switchboard.contract.llm import ToolCall
from workflows.conversation import state_ops

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
SAID = "Our opening hours are nine to five on weekdays, and ten to two on Saturdays."


@pytest.mark.parametrize(
    ("heard", "expected"),
    [
        ("Our opening hours are nine to five", "Our opening hours are nine to five"),
        ("our  opening hours\nare nine", "Our opening hours are nine"),  # spacing and case
        (
            "Our opening hours are nine to five on weekdays,",
            "Our opening hours are nine to five on weekdays,",
        ),
        ("", ""),
        ("   ", ""),
        ("Something we never said", "Something we never said"),  # Twilio's words win
        (SAID, SAID),
    ],
)
def test_heard_part(heard: str, expected: str) -> None:
    assert state_ops.heard_part(SAID, heard) == expected


def test_truncate_spoken_reply_changes_only_that_turn() -> None:
    state = ConversationState(customer="+14155550100")
    state_ops.record_voice_prompt(state, "Hours?", NOW)
    state_ops.record_reply(state, Role.ASSISTANT, SAID, Channel.VOICE, NOW, turn=1)
    state_ops.record_voice_prompt(state, "And Sunday?", NOW)
    state_ops.record_reply(state, Role.ASSISTANT, "Closed on Sundays.", Channel.VOICE, NOW, turn=2)

    assert state_ops.truncate_spoken_reply(state, 1, "Our opening hours")
    assert not state_ops.truncate_spoken_reply(state, 7, "anything")
    replies = [(e.text, e.interrupted) for e in state.transcript if e.role is Role.ASSISTANT]
    assert replies == [("Our opening hours", True), ("Closed on Sundays.", False)]


def test_reply_cut_before_a_word_was_heard_is_not_in_the_model_history() -> None:
    state = ConversationState(customer="+14155550100")
    state_ops.record_voice_prompt(state, "Hours?", NOW)
    state_ops.record_reply(state, Role.ASSISTANT, SAID, Channel.VOICE, NOW, turn=1)
    state_ops.truncate_spoken_reply(state, 1, "")
    assert [m.role for m in state_ops.chat_history(state)] == ["user"]
    assert Channel.VOICE in state.channels and state.active_channel is Channel.VOICE


@pytest.mark.parametrize(
    ("name", "arguments", "kind", "field", "value"),
    [
        ("send_digits", '{"digits": "1w2#*"}', "send_digits", "digits", "1w2#*"),
        ("switch_language", '{"language": "es-ES"}', "language", "language", "es-ES"),
        ("end_conversation", '{"reason": "done"}', "end", "reason", "done"),
    ],
)
def test_valid_tool_calls_become_actions(
    name: str, arguments: str, kind: str, field: str, value: str
) -> None:
    action = to_action(ToolCall(id="c1", name=name, arguments=arguments))
    assert action.kind == kind
    assert getattr(action, field) == value


@pytest.mark.parametrize(
    ("name", "arguments"),
    [
        ("send_digits", '{"digits": "12x"}'),
        ("send_digits", '{"digits": ""}'),
        ("send_digits", "not json"),
        ("send_digits", "[1, 2]"),
        ("switch_language", '{"language": "Spanish please"}'),
        ("launch_rockets", "{}"),
    ],
)
def test_invalid_tool_calls_are_refused(name: str, arguments: str) -> None:
    with pytest.raises(InvalidToolCall):
        to_action(ToolCall(id="c1", name=name, arguments=arguments))
