"""The offline demo responder and the system prompt sent to a real model."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from activities.demo_responder import DEMO_MARK, QUOTE_CHARS, demo_reply
from activities.llm import build_messages
from switchboard.contract.addresses import Channel
from switchboard.contract.llm import ChatMessage, LLMRequest
from switchboard.memory.context import format_context, knowledge_lines
from switchboard.memory.models import KnowledgeHit, Recall, Trait

HINT = "LLM_BASE_URL"


def user(text: str) -> ChatMessage:
    return ChatMessage(role="user", content=text)


def assistant(text: str) -> ChatMessage:
    return ChatMessage(role="assistant", content=text)


def conversation(*texts: str) -> list[ChatMessage]:
    """Alternating customer and demo turns, each demo turn answered by ``demo_reply``."""
    messages: list[ChatMessage] = []
    for text in texts:
        messages.append(user(text))
        messages.append(assistant(demo_reply(messages)))
    return messages


@pytest.mark.parametrize(
    "text", ["hello", "my name is Ada", "I want a human", "call me back", "who am I?", ""]
)
def test_replies_are_marked_demo(text: str) -> None:
    assert demo_reply([user(text)]).startswith(f"{DEMO_MARK} ")


def test_echoes_the_message() -> None:
    assert 'You said: "what are your hours?"' in demo_reply([user("what are your hours?")])


def test_greets_by_name() -> None:
    assert "Nice to meet you, Ada!" in demo_reply([user("Hi, my name is Ada")])


def test_remembers_the_name_across_messages() -> None:
    messages = conversation("Hi, my name is Ada", "what are your hours?")
    assert "Thanks, Ada." in messages[-1].content
    messages.append(user("what's my name?"))
    assert "You told me your name is Ada." in demo_reply(messages)


def test_remembers_the_name_with_a_system_prompt_first() -> None:
    request = LLMRequest(
        conversation_id="conv-+14155550100",
        channel=Channel.SMS,
        turn=2,
        messages=[user("my name is Ada"), assistant("[demo] Nice"), user("who am i")],
    )
    assert "your name is Ada" in demo_reply(build_messages("Be helpful.", request))


def test_without_a_name() -> None:
    reply = demo_reply([user("hello"), assistant("[demo] hi"), user("what is my name?")])
    assert "You have not told me your name." in reply


def test_hint_only_on_the_first_turn() -> None:
    assert HINT in demo_reply([user("hello")])
    messages = conversation("hello", "still there?", "bye")
    assert HINT in messages[1].content
    assert HINT not in messages[3].content
    assert HINT not in messages[5].content


def test_is_deterministic() -> None:
    messages = [user("my name is Ada"), assistant("x"), user("hello")]
    assert demo_reply(messages) == demo_reply(list(messages))


def test_long_messages_are_truncated() -> None:
    reply = demo_reply([user("x" * 1000)])
    assert "x" * 200 in reply
    assert "x" * 201 not in reply


@pytest.mark.parametrize("channel", list(Channel))
def test_build_messages_puts_one_system_message_first(channel: Channel) -> None:
    history = [user("hello"), assistant("hi"), user("my name is Ada")]
    request = LLMRequest(
        conversation_id="conv-+14155550100", channel=channel, turn=2, messages=history
    )
    messages = build_messages("You are Switchboard's test agent.", request)
    assert [m.role for m in messages].count("system") == 1
    system = messages[0]
    assert system.role == "system"
    assert system.content.startswith("You are Switchboard's test agent.")
    assert len(system.content) > len("You are Switchboard's test agent.")
    assert messages[1:] == history


def test_build_messages_channel_hints_differ() -> None:
    def system_for(channel: Channel) -> str:
        request = LLMRequest(conversation_id="c", channel=channel, turn=1, messages=[])
        return build_messages("instr", request)[0].content

    assert "SMS" in system_for(Channel.SMS)
    assert "WhatsApp" in system_for(Channel.WHATSAPP)
    assert "phone call" in system_for(Channel.VOICE)
    assert len({system_for(c) for c in Channel}) == len(Channel)


def test_the_latest_name_given_wins() -> None:
    messages = [user("my name is Ada"), assistant("x"), user("my name is Bob"), assistant("y"),
                user("who am I?")]  # fmt: skip
    assert "your name is Bob" in demo_reply(messages)


# --- knowledge grounding: what the recall context carries is quoted ---------------------

RETURNS = KnowledgeHit(
    document="policies.md",
    section="Returns",
    text="Unworn shoes can be returned within 30 days of delivery. Refunds take 5 days.",
    score=1.0,
)
HOURS = KnowledgeHit(
    document="hours.txt", text="We are open from 9am to 5pm, Monday to Friday.", score=0.5
)


def grounded(question: str, *hits: KnowledgeHit, known: bool = False) -> str:
    """The demo's reply to ``question`` with ``hits`` in the recall context."""
    recall = Recall(customer="+14155550100", knowledge=list(hits))
    if known:
        recall.known = True
        recall.traits = [Trait(name="name", value="Ada", source="remember", at=datetime.now(UTC))]
    request = LLMRequest(
        conversation_id="conv-+14155550100",
        channel=Channel.SMS,
        turn=1,
        messages=[user(question)],
        context=format_context(recall),
    )
    return demo_reply(build_messages("Be helpful.", request))


def test_quotes_the_relevant_knowledge_with_its_source() -> None:
    reply = grounded("Can I return my shoes?", HOURS, RETURNS)
    assert (
        'From our knowledge base: "Unworn shoes can be returned within 30 days of delivery."'
        in (reply)
    )
    assert "[policies.md > Returns]" in reply
    assert "You said" not in reply and reply.startswith(DEMO_MARK)


def test_quotes_the_most_relevant_passage_and_sentence() -> None:
    reply = grounded("when are you open on Monday?", RETURNS, HOURS)
    assert '"We are open from 9am to 5pm, Monday to Friday."' in reply and "[hours.txt]" in reply
    refund = grounded("how long does a refund take?", RETURNS)
    assert '"Refunds take 5 days."' in refund


def test_a_passage_that_shares_no_word_is_not_quoted() -> None:
    reply = grounded("hello there", RETURNS)
    assert "knowledge base" not in reply and 'You said: "hello there"' in reply


def test_grounding_keeps_the_name_and_the_other_behaviours() -> None:
    assert "Thanks, Ada. From our knowledge base" in grounded("return shoes?", RETURNS, known=True)
    assert "I can connect you with a person." in grounded("a human about returns", RETURNS)
    assert "Nice to meet you, Ada" in grounded("my name is Ada, returns?", RETURNS)


def test_the_voice_paths_knowledge_block_counts_too() -> None:
    block = "\n".join(knowledge_lines(Recall(customer="", knowledge=[RETURNS])))
    messages = [ChatMessage(role="system", content=f"Be brief.\n\n{block}"), user("returns?")]
    assert "returned within 30 days" in demo_reply(messages)


def test_long_passages_are_quoted_briefly() -> None:
    long = KnowledgeHit(document="long.md", text="Returns " + "are accepted " * 100, score=1.0)
    reply = grounded("returns", long)
    quote = reply.split('"')[1]
    assert len(quote) <= QUOTE_CHARS and quote.endswith("…")
