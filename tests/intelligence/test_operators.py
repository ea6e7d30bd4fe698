"""Custom operators (deterministic, Python functions, prompts), versions, and the Analyzer."""

from __future__ import annotations

import asyncio
import time

import pytest
from pydantic import BaseModel

from switchboard.contract.intelligence import AnalysisLine, OperatorPolicy
from switchboard.intelligence import (
    Analyzer,
    ClassificationOperator,
    FunctionOperator,
    JsonOperator,
    OperatorContext,
    OperatorError,
    OperatorOutput,
    PhraseOperator,
    PiiOperator,
    RegexOperator,
    TextOperator,
    function_operator,
)
from switchboard.intelligence.builtins import Sentiment
from tests.intelligence.helpers import customer, request, run_offline


async def test_phrase_operator_exact_and_fuzzy() -> None:
    exact = PhraseOperator(name="cancel", phrases=["cancel my subscription", "close my account"])
    found = await run_offline(exact, *customer("I'd like to CANCEL my subscription, please."))
    assert found.result == {"matched": True, "phrases": ["cancel my subscription"]}
    assert found.evidence[0].quote == "CANCEL my subscription"
    typo = customer("cancel my subscripton")
    assert (await run_offline(exact, *typo)).result["matched"] is False
    fuzzy = PhraseOperator(name="cancel", phrases=["cancel my subscription"], fuzzy=0.9)
    assert (await run_offline(fuzzy, *typo)).result["matched"] is True

    agent_side = PhraseOperator(name="intro", phrases=["my name is"], roles=["assistant"])
    said = [("customer", "my name is Ada"), ("assistant", "Hi, my name is Max")]
    intro = await run_offline(agent_side, *said)
    assert [e.index for e in intro.evidence] == [1]
    with pytest.raises(ValueError, match="fuzzy"):
        PhraseOperator(name="x", phrases=["a"], fuzzy=1.5)
    with pytest.raises(ValueError, match="non-empty"):
        PhraseOperator(name="x", phrases=["!!"])


async def test_regex_and_pii_operators() -> None:
    orders = RegexOperator(name="order_numbers", patterns=[r"\b[A-Z]\d{4}\b"])
    found = await run_offline(orders, *customer("orders a1001 and B2002, not 12345"))
    assert found.result == {"matched": True, "matches": ["a1001", "B2002"]}
    strict = RegexOperator(name="order_numbers", patterns=[r"\b[A-Z]\d{4}\b"], ignore_case=False)
    assert (await run_offline(strict, *customer("a1001"))).result["matched"] is False
    with pytest.raises(ValueError, match="pattern"):
        RegexOperator(name="bad", patterns=["("])

    emails = PiiOperator(name="emails", types=["email"], roles=["customer"])
    said = [("customer", "ada@example.com, 4111 1111 1111 1111"), ("assistant", "me@x.io")]
    output = await run_offline(emails, *said)
    assert output.result == {
        "entities": [{"type": "email", "text": "ada@example.com"}],
        "redacted": "customer: [EMAIL], 4111 1111 1111 1111",
    }
    with pytest.raises(ValueError, match="unknown PII type 'passport'"):
        PiiOperator(name="x", types=["passport"])


def count_lines(transcript: list[AnalysisLine]) -> dict[str, int]:
    return {"customer": sum(1 for line in transcript if line.role == "customer")}


async def test_function_operators_sync_async_and_with_context() -> None:
    sync = FunctionOperator(name="counts", function=count_lines)

    @function_operator(on="turn", every=3)
    async def customer_of(
        transcript: list[AnalysisLine], context: OperatorContext
    ) -> dict[str, str]:
        return {"customer": context.request.customer, "lines": str(len(transcript))}

    @function_operator
    def with_evidence(transcript: list[AnalysisLine]) -> OperatorOutput:
        from switchboard.intelligence.transcript import quote

        return OperatorOutput(result={"first": transcript[0].text}, evidence=[quote(transcript[0])])

    assert customer_of.name == "customer_of"
    assert customer_of.policy() == OperatorPolicy(name="customer_of", on_turn=True, every=3)
    said = customer("one", "two")
    assert (await run_offline(sync, *said)).result == {"customer": 2}
    assert (await run_offline(customer_of, *said)).result == {
        "customer": "+14155550100",
        "lines": "4",
    }
    evidence = await run_offline(with_evidence, *said)
    assert evidence.result == {"first": "one"} and evidence.evidence[0].index == 0
    with pytest.raises(TypeError, match="transcript"):
        FunctionOperator(name="bad", function=lambda: {})


async def test_a_failing_operator_is_an_error_result_beside_the_others() -> None:
    @function_operator
    def crashes(transcript: list[AnalysisLine]) -> dict[str, int]:
        raise RuntimeError("boom")

    @function_operator
    def not_a_dict(transcript: list[AnalysisLine]) -> list[int]:
        return [1]

    @function_operator
    def not_json(transcript: list[AnalysisLine]) -> dict[str, object]:
        return {"when": object()}

    @function_operator(timeout=0.05)
    async def slow(transcript: list[AnalysisLine]) -> dict[str, int]:
        await asyncio.sleep(5)
        return {}

    @function_operator
    def refuses(transcript: list[AnalysisLine]) -> dict[str, int]:
        raise OperatorError("not today", model="m", tokens=7)

    operators = [crashes, not_a_dict, not_json, slow, refuses, Sentiment()]
    names = [op.name for op in operators]
    results = await Analyzer(operators, None, None).run(
        request(*customer("thanks!"), operators=[*names, "missing"])
    )
    assert [r.operator for r in results] == [*names, "missing"]
    errors = {r.operator: r.error for r in results}
    assert errors == {
        "crashes": "RuntimeError: boom",
        "not_a_dict": "not_a_dict returned list: operators answer JSON dicts",
        "not_json": "not_json returned a dict that is not JSON: operators answer JSON dicts",
        "slow": "no result within 0.05s",
        "refuses": "not today",
        "sentiment": None,
        "missing": "unknown operator 'missing'",
    }
    refused = results[4]
    assert (refused.model, refused.tokens, refused.result) == ("m", 7, {})
    assert results[-1].version == "" and results[-2].result["label"] == "positive"


async def test_operators_run_concurrently_and_recall_once() -> None:
    calls: list[str] = []

    async def recall(customer: str, query: str) -> tuple[str, str]:
        calls.append(query)
        return "- Likes tea", "Opening hours: 9-5"

    def slow(name: str, memory: bool) -> FunctionOperator:
        async def run(transcript: list[AnalysisLine], context: OperatorContext) -> dict[str, str]:
            await asyncio.sleep(0.2)
            return {"memory": context.memory, "knowledge": context.knowledge}

        return FunctionOperator(name=name, function=run, wants_memory=memory, wants_knowledge=True)

    analyzer = Analyzer([slow("a", True), slow("b", False)], None, None, recall=recall)
    started = time.perf_counter()
    first, second = await analyzer.run(request(*customer("hi", "tea?"), operators=["a", "b"]))
    assert time.perf_counter() - started < 0.35
    assert first.result == {"memory": "- Likes tea", "knowledge": "Opening hours: 9-5"}
    assert second.result == {"memory": "", "knowledge": "Opening hours: 9-5"}
    assert calls == ["hi tea?"]

    async def broken(customer: str, query: str) -> tuple[str, str]:
        raise ConnectionError("database down")

    fallback = Analyzer([slow("a", True)], None, None, recall=broken)
    (result,) = await fallback.run(request(*customer("hi"), operators=["a"]))
    assert result.error is None and result.result == {"memory": "", "knowledge": ""}


def test_policies_and_unique_names() -> None:
    kinds = ClassificationOperator(
        name="intent", prompt="Why?", labels=["a"], on=["turn", "close"], every=2
    )
    analyzer = Analyzer([Sentiment(), kinds], None, None)
    assert analyzer.policies() == [
        OperatorPolicy(name="sentiment", on_turn=True, every=1, on_close=False),
        OperatorPolicy(name="intent", on_turn=True, every=2, on_close=True),
    ]
    with pytest.raises(ValueError, match="two operators are named 'sentiment'"):
        Analyzer([Sentiment(), Sentiment()], None, None)
    with pytest.raises(ValueError, match="on must be"):
        Sentiment(on="reanalysis")
    with pytest.raises(ValueError, match="every"):
        Sentiment(every=0)
    with pytest.raises(ValueError, match="name"):
        TextOperator(name="has space", prompt="x")


def test_prompt_placeholders_are_checked() -> None:
    parameters = {"company": "Acme", "thing": "service"}
    filled = TextOperator(name="t", prompt="Rate {company}'s {thing}", parameters=parameters)
    assert filled.instructions().startswith("Rate Acme's service")
    with pytest.raises(ValueError, match=r"no parameter for \{company\}"):
        TextOperator(name="t", prompt="Rate {company}")
    with pytest.raises(ValueError, match="'extra' is not in the prompt"):
        TextOperator(name="t", prompt="Rate it", parameters={"extra": 1})
    # JSON in a prompt is not a placeholder.
    TextOperator(name="t", prompt='Answer like {"score": 1}')


class Shape(BaseModel):
    score: int


class OtherShape(BaseModel):
    score: int
    why: str


def test_versions_change_with_the_definition() -> None:
    def text(prompt: str, **kwargs: str) -> str:
        return TextOperator(name="t", prompt=prompt, **kwargs).version  # type: ignore[arg-type]

    assert text("Summarise") == text("Summarise")
    assert text("Summarise") != text("Summarise briefly")
    assert len(text("Summarise")) == 12
    assert text("Summarise", version="2024-06") == "2024-06"
    on_turn = TextOperator(name="t", prompt="Summarise", on="turn", every=5)
    assert on_turn.version == text("Summarise")  # when it runs is not what it finds

    def labels(*values: str) -> str:
        return ClassificationOperator(name="c", prompt="p", labels=values).version

    assert labels("a", "b") != labels("a", "c")
    assert (
        JsonOperator(name="j", prompt="p", schema=Shape).version
        != JsonOperator(name="j", prompt="p", schema=OtherShape).version
    )
    assert JsonOperator(name="j", prompt="p", schema=Shape).version == (
        JsonOperator(name="j", prompt="p", schema=Shape).version
    )
    phrases = PhraseOperator(name="p", phrases=["a"]).version
    assert phrases != PhraseOperator(name="p", phrases=["a"], fuzzy=0.9).version
    assert Sentiment().version == "1"
    assert FunctionOperator(name="f", function=count_lines).version != (
        FunctionOperator(name="f", function=lambda transcript: {}).version
    )


async def test_custom_prompts_need_a_model() -> None:
    gist = TextOperator(name="gist", prompt="Summarise")
    (result,) = await Analyzer([gist], None, None).run(request(*customer("hi"), operators=["gist"]))
    assert result.error == "gist needs a model: LLM_BASE_URL is not set"
    assert result.model is None
