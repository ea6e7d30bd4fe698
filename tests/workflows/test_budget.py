"""The pure bounds on a conversation's cost: the token estimate, the rate bucket, splitting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from switchboard.contract.conversation import ConversationConfig, RateBucket
from switchboard.contract.llm import ChatMessage
from workflows.conversation.budget import (
    admit,
    estimate_tokens,
    notice_due,
    release,
    release_in,
    split_message,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _user(text: str) -> ChatMessage:
    return ChatMessage(role="user", content=text)


def _tokens(messages: list[ChatMessage]) -> int:
    return sum(estimate_tokens(m) for m in messages)


# --- the token estimate ----------------------------------------------------------------------


def test_the_estimate_is_four_characters_a_token_plus_the_framing() -> None:
    assert estimate_tokens(_user("x" * 400)) == 104
    assert estimate_tokens(_user("")) == 4


# --- the rate bucket ------------------------------------------------------------------------

RATE = ConversationConfig(rate_per_minute=20, rate_burst=10)


def test_a_burst_is_admitted_then_texts_are_held() -> None:
    bucket = RateBucket()
    assert all(admit(bucket, RATE, T0) for _ in range(10))
    assert not bucket.held
    assert not admit(bucket, RATE, T0)
    assert bucket.held


def test_the_bucket_refills_at_the_rate() -> None:
    bucket = RateBucket()
    for _ in range(11):
        admit(bucket, RATE, T0)
    assert release_in(bucket, RATE, T0) == timedelta(seconds=3)  # 20 a minute
    assert release_in(bucket, RATE, T0 + timedelta(seconds=1)) == timedelta(seconds=2)
    later = T0 + timedelta(seconds=3)
    assert release_in(bucket, RATE, later) == timedelta(0)
    release(bucket, RATE, later)
    assert not bucket.held
    assert bucket.tokens == 0
    # A long quiet refills the burst, no more.
    assert admit(bucket, RATE, later + timedelta(hours=1))
    assert bucket.tokens == 9


def test_the_notice_goes_out_once_a_minute_at_most() -> None:
    bucket = RateBucket()
    assert notice_due(bucket, T0)
    bucket.notice_at = T0
    assert not notice_due(bucket, T0 + timedelta(seconds=59))
    assert notice_due(bucket, T0 + timedelta(seconds=60))


# --- splitting ------------------------------------------------------------------------------


def test_a_short_text_is_one_message() -> None:
    assert split_message("Hello there.", 1600) == ["Hello there."]


def test_a_long_text_is_split_at_sentence_ends() -> None:
    sentence = "Your order shipped on Monday and will arrive soon. "
    text = (sentence * 80).strip()  # 4,000 characters
    parts = split_message(text, 1600)
    assert len(parts) == 3
    assert all(len(p) <= 1600 for p in parts)
    assert all(p.endswith(".") for p in parts)
    assert " ".join(parts) == text


def test_a_text_without_sentences_is_split_between_words() -> None:
    text = " ".join(["word"] * 1000)
    parts = split_message(text, 1600)
    assert all(len(p) <= 1600 and not p.startswith(" ") for p in parts)
    assert " ".join(parts) == text


def test_an_unbroken_run_is_cut_at_the_limit() -> None:
    assert [len(p) for p in split_message("x" * 3500, 1600)] == [1600, 1600, 300]
