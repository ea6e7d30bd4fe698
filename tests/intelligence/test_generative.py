"""Generative operators against the fake OpenAI server over HTTP: structured outputs,
validation, bounded retries, and failures that become results, never exceptions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, Field

from switchboard.contract.intelligence import OperatorTrigger
from switchboard.intelligence import (
    Analyzer,
    ClassificationOperator,
    JsonOperator,
    Operator,
    TextOperator,
    builtin_operators,
)
from switchboard.intelligence.builtins import Memory, Pii, Sentiment
from tests.intelligence.conftest import MODEL, Model
from tests.intelligence.helpers import SHAPES, assert_shape, customer, request
from tests.support.fake_llm import FakeReply, Messages

ANGRY = customer("This is ridiculous, I'm furious", "Get me a manager")


def analyzer(llm: Model, *operators: Operator, **kwargs: Any) -> Analyzer:
    return Analyzer(operators or builtin_operators(), llm.client, MODEL, **kwargs)


async def test_builtins_ask_for_strict_json_schema_and_validate_the_answer(llm: Model) -> None:
    operators = builtin_operators()
    names = [op.name for op in operators]
    results = await analyzer(llm, *operators).run(
        request(*ANGRY, operators=names, trigger=OperatorTrigger.CLOSE)
    )
    assert [r.operator for r in results] == names
    for result in results:
        assert result.error is None, result
        assert_shape(result.operator, result.result)
        if result.operator == "do_not_contact":  # deterministic even with a model
            assert result.model is None and result.tokens == 0
        else:
            assert result.model == MODEL and result.tokens > 0
        assert result.latency_ms > 0 and result.version == "1"
    # One request per generative built-in, each a strict json_schema named after it.
    bodies = {r["response_format"]["json_schema"]["name"]: r for r in llm.fake.structured_requests}
    assert sorted(bodies) == sorted(n for n in names if n != "do_not_contact")
    sentiment = bodies["sentiment"]
    assert sentiment["model"] == MODEL
    assert sentiment["response_format"]["type"] == "json_schema"
    spec = sentiment["response_format"]["json_schema"]
    assert spec["strict"] is True
    assert spec["schema"]["additionalProperties"] is False
    assert set(spec["schema"]["required"]) == {"label", "score", "evidence"}
    system, user = sentiment["messages"]
    assert system["role"] == "system" and "sentiment" in system["content"]
    assert "[0] customer: This is ridiculous, I'm furious" in user["content"]
    assert "[2] customer: Get me a manager" in user["content"]


async def test_a_scripted_answer_becomes_the_result_with_its_evidence(llm: Model) -> None:
    def answer(name: str, messages: Messages) -> dict[str, Any]:
        assert name == "sentiment"
        return {
            "label": "negative",
            "score": -0.8,
            "evidence": [
                {"index": 0, "quote": "ridiculous"},
                {"index": 2, "quote": "not what they said"},  # replaced by the line itself
                {"index": 99, "quote": "no such line"},  # dropped
            ],
        }

    llm.fake.structured = answer
    (result,) = await analyzer(llm, Sentiment()).run(request(*ANGRY, operators=["sentiment"]))
    assert result.result == {"label": "negative", "score": -0.8}
    assert [(e.index, e.quote) for e in result.evidence] == [
        (0, "ridiculous"),
        (2, "Get me a manager"),
    ]


async def test_an_invalid_answer_is_retried_with_what_was_wrong(llm: Model) -> None:
    answers: Iterator[dict[str, Any]] = iter(
        [{"label": "furious", "score": -3, "evidence": []}, {"label": "negative"}]
    )

    def answer(name: str, messages: Messages) -> dict[str, Any] | FakeReply:
        try:
            return next(answers)
        except StopIteration:
            return {"label": "negative", "score": -0.5, "evidence": []}

    llm.fake.structured = answer
    (result,) = await analyzer(llm, Sentiment()).run(request(*ANGRY, operators=["sentiment"]))
    assert result.error is None and result.result == {"label": "negative", "score": -0.5}
    assert len(llm.fake.structured_requests) == 3 and result.tokens > 0
    retry = llm.fake.structured_requests[1]["messages"]
    assert retry[-2] == {
        "role": "assistant",
        "content": json.dumps({"label": "furious", "score": -3, "evidence": []}),
    }
    assert "not valid" in retry[-1]["content"] and "furious" in retry[-1]["content"]


async def test_answers_that_stay_invalid_give_an_error_result(llm: Model) -> None:
    llm.fake.structured = lambda name, messages: FakeReply(text="I think it's negative")
    (result,) = await analyzer(llm, Sentiment()).run(request(*ANGRY, operators=["sentiment"]))
    assert result.result == {} and result.evidence == []
    assert result.error == "no valid answer in 3 attempts: the answer is not JSON"
    assert result.model == MODEL and result.tokens > 0  # what the failed attempts cost
    assert len(llm.fake.structured_requests) == 3


async def test_a_failing_model_gives_an_error_result_not_an_exception(llm: Model) -> None:
    llm.fake.structured = lambda name, messages: FakeReply(status=500)
    operators = [Sentiment(), Pii()]
    results = await analyzer(llm, *operators).run(request(*ANGRY, operators=["sentiment", "pii"]))
    unavailable = "no valid answer in 3 attempts: the model is unavailable: HTTP 500"
    assert [r.error for r in results] == [unavailable, unavailable]
    assert all(r.result == {} and r.tokens == 0 for r in results)
    assert len(llm.fake.structured_requests) == 6


async def test_a_transient_failure_is_retried(llm: Model) -> None:
    llm.fake.fail_next_structured(1, status=503)
    (result,) = await analyzer(llm, Sentiment()).run(request(*ANGRY, operators=["sentiment"]))
    assert result.error is None and result.result == {"label": "positive", "score": 0}
    assert len(llm.fake.structured_requests) == 2


async def test_a_refused_request_is_not_retried(llm: Model) -> None:
    llm.fake.fail_next_structured(1, status=400)
    (result,) = await analyzer(llm, Sentiment()).run(request(*ANGRY, operators=["sentiment"]))
    assert result.error == "the model refused the request: HTTP 400"
    assert len(llm.fake.structured_requests) == 1


async def test_memory_traits_and_recalled_context(llm: Model) -> None:
    recalled: list[tuple[str, str]] = []

    async def recall(customer: str, query: str) -> tuple[str, str]:
        recalled.append((customer, query))
        return "- Prefers email", "Returns take 30 days."

    llm.fake.structured = lambda name, messages: {
        "observations": [{"text": "Prefers SMS now", "action": "update"}],
        "traits": [{"key": "preferred_channel", "value": "sms"}, {"key": " ", "value": "x"}],
        "evidence": [],
    }
    said = customer("Text me from now on, not email")
    (result,) = await analyzer(llm, Memory(), recall=recall).run(
        request(*said, operators=["memory"])
    )
    assert result.result == {
        "observations": [{"text": "Prefers SMS now", "action": "update"}],
        "traits": {"preferred_channel": "sms"},
    }
    assert recalled == [("+14155550100", "Text me from now on, not email")]
    system = llm.fake.structured_requests[0]["messages"][0]["content"]
    assert "- Prefers email" in system
    assert "Returns take 30 days." not in system  # memory wants memory, not knowledge


async def test_pii_joins_the_models_findings_and_the_patterns(llm: Model) -> None:
    llm.fake.structured = lambda name, messages: {
        "entities": [{"type": "person_name", "text": "Ada Lovelace"}],
        "evidence": [],
    }
    said = [("customer", "I'm Ada Lovelace, ada@example.com"), ("assistant", "Hi Ada Lovelace")]
    (result,) = await analyzer(llm, Pii()).run(request(*said, operators=["pii"]))
    assert result.result == {
        "entities": [
            {"type": "email", "text": "ada@example.com"},
            {"type": "person_name", "text": "Ada Lovelace"},
        ],
        "redacted": "customer: I'm [PERSON_NAME], [EMAIL]\nassistant: Hi [PERSON_NAME]",
    }


class Refund(BaseModel):
    amount: float = Field(ge=0)
    currency: str
    reasons: list[str] = []


async def test_custom_operators_of_each_output_kind(llm: Model) -> None:
    text = TextOperator(
        name="gist", prompt="In one line, what does {who} want?", parameters={"who": "the caller"}
    )
    kind = ClassificationOperator(
        name="billing_intent", prompt="Why is it about billing?", labels=["refund", "invoice"]
    )
    model_json = JsonOperator(name="refund", prompt="Extract the refund asked for.", schema=Refund)
    dict_json = JsonOperator(
        name="order_ref",
        prompt="Extract the order number.",
        schema={"type": "object", "properties": {"order": {"type": ["string", "null"]}}},
    )
    answers: dict[str, dict[str, Any]] = {
        "gist": {"text": "A refund for order A1", "evidence": [{"index": 0, "quote": "refund"}]},
        "refund": {"amount": 12.5, "currency": "EUR", "reasons": ["late"]},
    }
    llm.fake.structured = lambda name, messages: (
        answers.get(name, {})
        or FakeReply(
            text=json.dumps({"label": "refund", "evidence": []})
            if name == "billing_intent"
            else json.dumps({"order": "A1"})
        )
    )
    names = ["gist", "billing_intent", "refund", "order_ref"]
    said = customer("I want a refund of 12.50 EUR for order A1, it came late")
    results = await analyzer(llm, text, kind, model_json, dict_json).run(
        request(*said, operators=names)
    )
    by_name = {r.operator: r for r in results}
    assert all(r.error is None for r in results), results
    assert by_name["gist"].result == {"text": "A refund for order A1"}
    assert [e.index for e in by_name["gist"].evidence] == [0]
    assert by_name["billing_intent"].result == {"label": "refund"}
    assert by_name["refund"].result == {"amount": 12.5, "currency": "EUR", "reasons": ["late"]}
    assert by_name["order_ref"].result == {"order": "A1"}
    bodies = {r["response_format"]["json_schema"]["name"]: r for r in llm.fake.structured_requests}
    assert "In one line, what does the caller want?" in bodies["gist"]["messages"][0]["content"]
    label = bodies["billing_intent"]["response_format"]["json_schema"]["schema"]
    assert label["properties"]["label"] == {"type": "string", "enum": ["refund", "invoice"]}
    refund = bodies["refund"]["response_format"]["json_schema"]["schema"]
    assert refund["required"] == ["amount", "currency", "reasons"]  # strict: all required
    assert refund["additionalProperties"] is False and "title" not in refund


async def test_custom_answers_are_checked_too(llm: Model) -> None:
    kind = ClassificationOperator(name="intent", prompt="Why?", labels=["a", "b"])
    model_json = JsonOperator(name="refund", prompt="Extract.", schema=Refund)
    answers: dict[str, dict[str, Any]] = {
        "intent": {"label": "c", "evidence": []},
        "refund": {"amount": -1, "currency": "X", "reasons": []},
    }
    llm.fake.structured = lambda name, messages: answers[name]
    results = await analyzer(llm, kind, model_json).run(
        request(*ANGRY, operators=["intent", "refund"])
    )
    assert results[0].error is not None and "'c' is not one of ['a', 'b']" in results[0].error
    assert results[1].error is not None and "amount" in results[1].error
    assert results[1].model == MODEL


async def test_minimal_default_answers_fit_every_contract_shape(llm: Model) -> None:
    """Without a scripted answer the fake answers the smallest valid object."""
    results = await analyzer(llm).run(
        request(*ANGRY, operators=list(SHAPES)[:8], trigger=OperatorTrigger.CLOSE)
    )
    assert [r.result for r in results if r.operator == "topic"] == [{"label": "billing"}]
    for result in results:
        assert_shape(result.operator, result.result)
