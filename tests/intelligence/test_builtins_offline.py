"""The built-ins without a model: deterministic results in the contract's shapes."""

from __future__ import annotations

import pytest

from switchboard.contract.intelligence import OperatorTrigger
from switchboard.intelligence import Analyzer, builtin_operators
from switchboard.intelligence.builtins import (
    Adherence,
    DoNotContact,
    Escalation,
    Memory,
    Outcome,
    Pii,
    Sentiment,
    Summary,
    Topic,
    parse_script,
)
from tests.intelligence.helpers import assert_shape, customer, request, run_offline

ANGRY = "This is ridiculous! I've waited three weeks, worst service ever. I'm furious."


async def test_an_angry_customer_is_negative_and_escalates_high() -> None:
    sentiment = await run_offline(Sentiment(), *customer(ANGRY))
    assert sentiment.result["label"] == "negative"
    assert isinstance(score := sentiment.result["score"], float) and score < -0.5
    assert [e.index for e in sentiment.evidence] == [0]

    escalation = await run_offline(Escalation(), *customer(ANGRY))
    assert escalation.result["level"] == "high"
    assert escalation.result["human_requested"] is False
    reasons = escalation.result["reasons"]
    assert isinstance(reasons, list) and "ridiculous" in str(reasons[0])
    assert escalation.evidence and escalation.evidence[0].index == 0


@pytest.mark.parametrize(
    ("texts", "label"),
    [
        (["Thanks so much, that was really helpful!"], "positive"),
        (["What time do you open on Saturday?"], "neutral"),
        (["The product is great but the delivery was terrible."], "mixed"),
        (["Hi", "My order is late and the box was damaged, very disappointed"], "negative"),
        (["This is not good"], "negative"),
        (["no problem, thanks"], "positive"),
    ],
)
async def test_sentiment_labels(texts: list[str], label: str) -> None:
    output = await run_offline(Sentiment(), *customer(*texts))
    assert output.result["label"] == label, output.result


@pytest.mark.parametrize(
    "text",
    ["Can I talk to a human please?", "I want to speak to a manager", "agent", "human!!"],
)
async def test_asking_for_a_person_is_human_requested(text: str) -> None:
    output = await run_offline(Escalation(), *customer(text))
    assert output.result["human_requested"] is True
    assert output.result["level"] == "high"
    assert "the customer asked for a person" in str(output.result["reasons"])


async def test_escalation_levels_without_a_person_asked_for() -> None:
    calm = await run_offline(Escalation(), *customer("Are you a real person?", "ok, thanks"))
    assert calm.result == {"level": "low", "human_requested": False, "reasons": []}

    once = await run_offline(Escalation(), *customer("My parcel is still not here"))
    assert once.result["level"] == "medium"

    again = customer("My parcel is still not here", "It is late again, where is it")
    repeated = await run_offline(Escalation(), *again)
    assert repeated.result["level"] == "high"
    assert "repeated complaints (2 messages)" in str(repeated.result["reasons"])

    same = customer("Where is order A1001?", "Where is order A1001??")
    assert (await run_offline(Escalation(), *same)).result["level"] == "high"


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("I was charged twice on my last invoice", "billing"),
        ("Where is my package? Tracking hasn't changed", "orders"),
        ("I'd like a refund for the shoes", "returns"),
        ("I can't log in, my password reset email never came", "account"),
        ("The app keeps crashing when I open it", "technical"),
        ("Do you like cats?", "other"),
    ],
)
async def test_topic_keywords(text: str, label: str) -> None:
    output = await run_offline(Topic(), *customer(text))
    assert output.result == {"label": label}
    if label != "other":
        assert [e.index for e in output.evidence] == [0]


async def test_topic_labels_from_a_configured_list() -> None:
    topic = Topic(labels=["shipping", "refunds", "warranty_claim"])
    assert topic.labels == ("shipping", "refunds", "warranty_claim", "other")
    parcel = await run_offline(topic, *customer("my parcel never arrived"))
    assert parcel.result == {"label": "shipping"}  # through the built-in orders keywords
    claim = await run_offline(topic, *customer("I have a warranty question"))
    assert claim.result == {"label": "warranty_claim"}  # through the label's own words
    assert (await run_offline(topic, *customer("hello"))).result == {"label": "other"}


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("Please stop calling me.", "stop calling me"),
        ("Don't contact me again", "do not contact me"),
        ("Don\u2019t contact me", "do not contact me"),
        ("you can call me never", "call me never"),
        ("DO NOT CALL ME!", "do not call me"),
        ("do not call", "do not call"),
        ("stop caling me", "stop calling me"),
        ("pls stop callin me!!", "stop calling me"),
        ("do not contakt me", "do not contact me"),
        ("Remove me from your list.", "remove me from your list"),
    ],
)
async def test_do_not_contact_phrases_exact_and_fuzzy(text: str, phrase: str) -> None:
    output = await run_offline(DoNotContact(), *customer(text))
    assert output.result == {"matched": True, "phrases": [phrase]}
    assert output.evidence[0].index == 0 and output.evidence[0].quote in text


@pytest.mark.parametrize(
    "text", ["stop telling me that", "call me tomorrow at 5", "I do not know", "contact me"]
)
async def test_do_not_contact_leaves_other_words_alone(text: str) -> None:
    output = await run_offline(DoNotContact(), *customer(text))
    assert output.result == {"matched": False, "phrases": []}


async def test_do_not_contact_reads_the_customer_only() -> None:
    said = [("assistant", "Reply STOP or say 'do not call' to opt out"), ("customer", "ok")]
    assert (await run_offline(DoNotContact(), *said)).result["matched"] is False


async def test_pii_found_and_redacted() -> None:
    text = (
        "Email ada@example.com, card 4111 1111 1111 1111, call +1 415 555 0100 or "
        "(415) 555-0199, SSN 123-45-6789, IBAN GB82 WEST 1234 5698 7654 32"
    )
    output = await run_offline(Pii(), ("customer", text), ("assistant", "Thanks Ada"))
    assert output.result["entities"] == [
        {"type": "email", "text": "ada@example.com"},
        {"type": "credit_card", "text": "4111 1111 1111 1111"},
        {"type": "phone_number", "text": "+1 415 555 0100"},
        {"type": "phone_number", "text": "(415) 555-0199"},
        {"type": "ssn", "text": "123-45-6789"},
        {"type": "iban", "text": "GB82 WEST 1234 5698 7654 32"},
    ]
    assert output.result["redacted"] == (
        "customer: Email [EMAIL], card [CREDIT_CARD], call [PHONE_NUMBER] or [PHONE_NUMBER], "
        "SSN [SSN], IBAN [IBAN]\nassistant: Thanks Ada"
    )
    assert {e.index for e in output.evidence} == {0}


async def test_pii_leaves_lookalikes_alone() -> None:
    text = "Order A1001 from 2024-05-01, ref 4111 1111 1111 1112, 12 items"
    output = await run_offline(Pii(), ("customer", text))
    assert output.result == {"entities": [], "redacted": f"customer: {text}"}


@pytest.mark.parametrize(
    ("said", "outcome"),
    [
        ([("customer", "help"), ("agent", "Hi, Sam here from the team")], "escalated"),
        (
            [
                ("customer", "I want a person"),
                ("assistant", "I'm connecting you with a member of our team."),
            ],
            "escalated",
        ),
        ([("customer", "hello?")], "abandoned"),
        (customer("Where is my order?", "Great, thank you!"), "resolved"),
        (customer("Where is my order?", "thanks for nothing, this is useless"), "unresolved"),
        (customer("Where is my order?", "hmm"), "unresolved"),
    ],
)
async def test_outcome_rules(said: list[tuple[str, str]], outcome: str) -> None:
    output = await run_offline(Outcome(), *said)
    assert output.result["outcome"] == outcome
    assert output.result["resolved"] is (outcome == "resolved")


async def test_summary_is_the_customers_words() -> None:
    said = customer("My order A1001 is late", "Can you check it?", "Great, thank you!")
    output = await run_offline(Summary(), *said)
    assert output.result == {
        "text": "The customer wrote 3 messages: My order A1001 is late / Can you check it? / "
        "Great, thank you!",
        "reason": "My order A1001 is late",
        "resolution": "The customer's request appears resolved.",
        "next_steps": [],
    }
    unresolved = await run_offline(Summary(), *customer("hmm", "no"))
    assert unresolved.result["next_steps"] == ["Follow up with the customer."]


async def test_memory_from_name_and_preference_sentences() -> None:
    said = customer("Hi, my name is Ada Lovelace and I prefer email over phone calls.")
    output = await run_offline(Memory(), *said)
    assert output.result == {
        "observations": [
            {"text": "Their name is Ada Lovelace.", "action": "add"},
            {"text": "Prefers email over phone calls.", "action": "add"},
        ],
        "traits": {"name": "Ada Lovelace"},
    }
    known = await run_offline(Memory(), *said, memory="- Prefers email over phone calls")
    observations = known.result["observations"]
    assert isinstance(observations, list) and observations[1] == {
        "text": "Prefers email over phone calls.",
        "action": "discard",
    }


SCRIPT = """
Opening:
- greeting: Greets the customer and says "Acme"
- recording: Says "this chat may be recorded"
Closing:
- Asks whether there is anything else to help with
"""


async def test_adherence_against_a_script() -> None:
    assert [key for key, _ in parse_script(SCRIPT)] == [
        "greeting", "recording", "asks_whether_there_is",
    ]  # fmt: skip
    said = [
        ("assistant", "Welcome to Acme! How can I help?"),
        ("customer", "Where is my order?"),
        ("assistant", "It ships today. Is there anything else I can help you with?"),
    ]
    output = await run_offline(Adherence(script=SCRIPT), *said)
    assert output.result == {
        "criteria": [
            {"key": "greeting", "passed": True, "evidence": "Welcome to Acme! How can I help?"},
            {"key": "recording", "passed": False, "evidence": ""},
            {
                "key": "asks_whether_there_is",
                "passed": True,
                "evidence": "It ships today. Is there anything else I can help you with?",
            },
        ],
        "score": 67,
    }
    with pytest.raises(ValueError, match="no criteria"):
        Adherence(script="just prose")


async def test_every_offline_result_has_the_contract_shape() -> None:
    said = customer(
        "Hi, my name is Ada. I want a human, this is ridiculous!",
        "Email me at ada@example.com. Stop calling me.",
        "thanks",
    )
    operators = [*builtin_operators(), Adherence(script=SCRIPT)]
    analyzer = Analyzer(operators, client=None, model=None)
    names = [op.name for op in operators]
    results = await analyzer.run(request(*said, operators=names, trigger=OperatorTrigger.CLOSE))
    assert [r.operator for r in results] == names
    for result in results:
        assert result.error is None, result
        assert result.model is None and result.tokens == 0 and result.version == "1"
        assert_shape(result.operator, result.result)
    by_name = {r.operator: r.result for r in results}
    assert by_name["escalation"]["human_requested"] is True
    assert by_name["do_not_contact"]["matched"] is True
    assert by_name["pii"]["entities"] == [{"type": "email", "text": "ada@example.com"}]
