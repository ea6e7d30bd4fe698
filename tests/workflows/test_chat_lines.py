"""The model's history made once per transcript line equals the history made from scratch.

``ChatLines`` keeps each line's message between turns; whatever happens to the transcript
in between (lines added, a reply's delivery failing, a spoken reply cut short, a redaction
replacing the transcript), the window it gives must be the one the plain functions give.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from switchboard.contract.addresses import Channel
from switchboard.contract.conversation import ConversationState, Role, TranscriptEntry
from switchboard.contract.llm import ChatMessage
from workflows.conversation.budget import estimate_tokens
from workflows.conversation.state_ops import ChatLines, chat_history

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _newest_that_fit(state: ConversationState, tokens: int) -> list[ChatMessage]:
    """The window by definition, from the plain history: the longest run of newest lines
    within ``tokens``, the newest always."""
    history = chat_history(state)
    start = len(history)
    while start > 0 and (
        start == len(history) or sum(map(estimate_tokens, history[start - 1 :])) <= tokens
    ):
        start -= 1
    return history[start:]


_ROLES = [Role.CUSTOMER, Role.ASSISTANT, Role.AGENT, Role.SYSTEM]
_STATUSES = [None, "sent", "delivered", "failed", "undelivered"]


def _entry(role: Role, text: str, status: str | None) -> TranscriptEntry:
    return TranscriptEntry(role=role, text=text, channel=Channel.SMS, at=T0, delivery_status=status)


_entries = st.builds(
    _entry, st.sampled_from(_ROLES), st.text(max_size=40), st.sampled_from(_STATUSES)
)
_steps = st.lists(
    st.one_of(
        st.tuples(st.just("add"), _entries),
        st.tuples(st.just("status"), st.integers(0, 500), st.sampled_from(_STATUSES)),
        st.tuples(st.just("text"), st.integers(0, 500), st.text(max_size=40)),
        st.tuples(st.just("drop"), st.integers(0, 500)),
        st.tuples(st.just("replace"), st.lists(_entries, max_size=5)),
    ),
    max_size=40,
)


def _apply(state: ConversationState, step: tuple[object, ...]) -> None:
    """One change to the transcript, as the workflow makes them (in place or wholesale)."""
    kind, transcript = step[0], state.transcript
    if kind == "add":
        assert isinstance(step[1], TranscriptEntry)
        transcript.append(step[1])
    elif kind == "replace":  # a redaction: a new list of new entries
        assert isinstance(step[1], list)
        state.transcript = [e.model_copy() for e in step[1]]
    elif transcript:
        assert isinstance(step[1], int)
        entry = transcript[step[1] % len(transcript)]
        if kind == "status":
            entry.delivery_status = step[2]  # type: ignore[assignment]
        elif kind == "text":
            assert isinstance(step[2], str)
            entry.text = step[2]
        else:
            transcript.remove(entry)


@settings(max_examples=300, deadline=None)
@given(_steps, st.integers(1, 200))
def test_lines_kept_between_turns_give_the_same_window(
    steps: list[tuple[object, ...]], tokens: int
) -> None:
    state = ConversationState(customer="+15550100")
    lines = ChatLines()
    for step in steps:
        _apply(state, step)
        assert lines.window(state, tokens) == _newest_that_fit(state, tokens)
        assert lines.window(state, None) == chat_history(state)


def test_a_long_transcripts_lines_are_made_once() -> None:
    state = ConversationState(customer="+15550100")
    state.transcript = [_entry(Role.CUSTOMER, f"line {i}", None) for i in range(300)]
    lines = ChatLines()
    first = lines.window(state, None)
    state.transcript.append(_entry(Role.ASSISTANT, "reply", "sent"))
    second = lines.window(state, None)
    assert all(a is b for a, b in zip(first, second, strict=False))
    assert second[-1].content == "reply"
    state.transcript[-1].delivery_status = "failed"  # never reached the customer: hidden
    assert len(lines.window(state, None)) == 300


def test_only_the_window_is_kept_between_turns() -> None:
    state = ConversationState(customer="+15550100")
    state.transcript = [_entry(Role.CUSTOMER, "x" * 36, None) for _ in range(300)]  # 13 each
    lines = ChatLines()
    assert len(lines.window(state, 130)) == 10
    assert len(lines._made) == 10  # only what the window kept


def _said(*texts: str) -> ConversationState:
    return ConversationState(
        customer="+15550100", transcript=[_entry(Role.CUSTOMER, t, None) for t in texts]
    )


def test_the_window_keeps_the_newest_lines_that_fit() -> None:
    state = _said(*(f"{i:03d}" + "x" * 396 for i in range(50)))  # 104 tokens each
    kept = ChatLines().window(state, 1000)
    assert kept == chat_history(state)[-9:]
    assert sum(map(estimate_tokens, kept)) <= 1000


def test_the_window_keeps_everything_under_the_budget() -> None:
    state = _said("hi")
    state.transcript.append(_entry(Role.ASSISTANT, "hello", "delivered"))
    assert ChatLines().window(state, 6000) == chat_history(state)


def test_the_newest_line_is_kept_even_alone_over_the_budget() -> None:
    state = _said("old", "y" * 10_000)
    assert ChatLines().window(state, 100) == chat_history(state)[-1:]
