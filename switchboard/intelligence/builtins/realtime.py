"""The built-ins that run on customer turns: sentiment, escalation, topic, do-not-contact.

Results (CONTRACT.md, "Conversation intelligence")::

    sentiment       {"label": "positive"|"neutral"|"negative"|"mixed", "score": -1..1}
    escalation      {"level": "low"|"medium"|"high", "human_requested": bool, "reasons": [..]}
    topic           {"label": "<one of the labels>"}
    do_not_contact  {"matched": bool, "phrases": [..]}
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any, ClassVar

from pydantic import JsonValue

from switchboard.contract.intelligence import Evidence
from switchboard.intelligence import lexicon
from switchboard.intelligence.builtins.base import BuiltinOperator, enum, string_list
from switchboard.intelligence.matching import DEFAULT_FUZZY, PhraseOperator
from switchboard.intelligence.model import strict_schema, with_evidence
from switchboard.intelligence.operator import OperatorContext, OperatorOutput, Triggers
from switchboard.intelligence.transcript import CUSTOMER, quote

DO_NOT_CONTACT_PHRASES = (
    "stop calling me", "stop texting me", "stop messaging me", "stop contacting me",
    "do not contact me", "do not call me", "do not call", "do not text me",
    "do not message me", "call me never", "never call me again", "never contact me again",
    "remove me from your list", "take me off your list", "remove my number", "unsubscribe",
    "leave me alone", "no more calls", "no more messages",
)  # fmt: skip
"""Matched on words: "Don't contact me!" is "do not contact me"; near misses match fuzzily."""


@dataclass(frozen=True, kw_only=True)
class Sentiment(BuiltinOperator):
    """The customer's sentiment so far, their latest messages weighing most."""

    name: str = "sentiment"
    on: Triggers = "turn"
    INSTRUCTIONS: ClassVar[str] = (
        "Judge the customer's sentiment over the conversation so far, their latest messages "
        "weighing most: positive, neutral, negative, or mixed (clearly both at once). "
        "`score` runs from -1 (very negative) through 0 to 1 (very positive). Cite the "
        "customer's lines that show it."
    )
    SCHEMA: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "label": enum("positive", "neutral", "negative", "mixed"),
            "score": {"type": "number", "minimum": -1, "maximum": 1},
        },
    }

    async def offline(self, context: OperatorContext) -> OperatorOutput:
        """Lexicon scores per customer line, averaged with the latest weighing most."""
        lines = context.lines(CUSTOMER)
        scores = [lexicon.line_sentiment(line.text) for line in lines]
        weights = range(1, len(lines) + 1)
        total = sum(weights) or 1
        positive = sum(w * p for w, (p, _) in zip(weights, scores, strict=True)) / total
        negative = sum(w * n for w, (_, n) in zip(weights, scores, strict=True)) / total
        score = lexicon.normalise(positive - negative)
        if min(positive, negative) >= 1.0 and min(positive, negative) >= 0.5 * max(
            positive, negative
        ):
            label = "mixed"
        else:
            label = "positive" if score >= 0.15 else "negative" if score <= -0.15 else "neutral"
        evidence: list[Evidence] = []
        if label in ("positive", "mixed"):
            best = max(zip(lines, scores, strict=True), key=lambda item: item[1][0])
            evidence.append(quote(best[0]))
        if label in ("negative", "mixed"):
            worst = max(zip(lines, scores, strict=True), key=lambda item: item[1][1])
            evidence.append(quote(worst[0]))
        return OperatorOutput(result={"label": label, "score": score}, evidence=evidence)


@dataclass(frozen=True, kw_only=True)
class Escalation(BuiltinOperator):
    """How urgently a person should take over, and whether the customer asked for one."""

    name: str = "escalation"
    on: Triggers = "turn"
    INSTRUCTIONS: ClassVar[str] = (
        "Judge whether a person from the business should take this conversation over. "
        "`level` is high when the customer asks for a person, is angry, threatens to leave "
        "or complain, or keeps repeating a complaint the assistant has not solved; medium "
        "when they are frustrated or the assistant seems stuck; low otherwise. "
        "`human_requested` is whether the customer asked for a person. `reasons` are short "
        "phrases saying why (empty when low). Cite the lines."
    )
    SCHEMA: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "level": enum("low", "medium", "high"),
            "human_requested": {"type": "boolean"},
            "reasons": string_list(),
        },
    }

    async def offline(self, context: OperatorContext) -> OperatorOutput:
        """Keywords: a person asked for, anger, repeated complaints (high); frustration."""
        lines = context.lines(CUSTOMER)
        reasons: list[JsonValue] = []
        evidence: list[Evidence] = []
        human = [line for line in lines if lexicon.asks_for_person(line.text)]
        if human:
            reasons.append("the customer asked for a person")
            evidence += [quote(line) for line in human]
        anger = {line.index: lexicon.terms_in(line.text, lexicon.ANGER) for line in lines}
        if angry := [line for line in lines if anger[line.index]]:
            words = dict.fromkeys(word for line in angry for word in anger[line.index])
            reasons.append(f"anger: {', '.join(words)}")
            evidence += [quote(line) for line in angry]
        complaints = [
            line
            for line in lines
            if lexicon.terms_in(line.text, lexicon.COMPLAINT)
            or lexicon.line_sentiment(line.text)[1] >= 2.0
        ]
        if len(complaints) >= 2:
            reasons.append(f"repeated complaints ({len(complaints)} messages)")
            evidence += [quote(line) for line in complaints]
        if _repeats(lines):
            reasons.append("the customer repeated a message")
        shouted = [line for line in lines if lexicon.shouting(line.text)]
        if shouted:
            reasons.append("shouting")
            evidence += [quote(line) for line in shouted]
        if human or angry or len(complaints) >= 2 or _repeats(lines):
            level = "high"
        elif complaints or shouted:
            level = "medium"
        else:
            level = "low"
        unique = list({(e.index, e.quote): e for e in evidence}.values())
        result: dict[str, JsonValue] = {
            "level": level,
            "human_requested": bool(human),
            "reasons": reasons,
        }
        return OperatorOutput(result=result, evidence=unique)


def _repeats(lines: Sequence[Any]) -> bool:
    """Two customer messages of some length that are nearly the same."""
    texts = [" ".join(line.text.lower().split()) for line in lines]
    return any(
        len(a) >= 12 and SequenceMatcher(None, a, b).ratio() >= 0.85
        for a, b in itertools.combinations(texts, 2)
    )


@dataclass(frozen=True, kw_only=True)
class Topic(BuiltinOperator):
    """What the conversation is about: one of ``labels`` ("other" is always one)."""

    name: str = "topic"
    on: Triggers = "turn"
    labels: Sequence[str] = lexicon.DEFAULT_TOPICS
    INSTRUCTIONS: ClassVar[str] = (
        "Label what the customer is contacting the business about, choosing the one label "
        "that fits best (other when none does). Cite the lines that show it."
    )

    def __post_init__(self) -> None:
        labels = tuple(dict.fromkeys(label.strip() for label in self.labels if label.strip()))
        object.__setattr__(self, "labels", (*labels, *(() if "other" in labels else ("other",))))
        super().__post_init__()

    def answer_schema(self) -> dict[str, Any]:
        """``{"label": <one of labels>, "evidence"}``."""
        label = enum(*self.labels)
        return strict_schema(with_evidence({"type": "object", "properties": {"label": label}}))

    async def offline(self, context: OperatorContext) -> OperatorOutput:
        """The label whose keywords the customer used most (the first on a tie)."""
        lines = context.lines(CUSTOMER)
        best, best_hits = "other", 0
        for label in self.labels:
            terms = lexicon.topic_terms(label)
            hits = sum(len(lexicon.terms_in(line.text, terms)) for line in lines)
            if hits > best_hits:
                best, best_hits = label, hits
        evidence = []
        if best_hits:
            terms = lexicon.topic_terms(best)
            evidence = [quote(line) for line in lines if lexicon.terms_in(line.text, terms)]
        return OperatorOutput(result={"label": best}, evidence=evidence[:5])


@dataclass(frozen=True, kw_only=True)
class DoNotContact(PhraseOperator):
    """The customer asked not to be contacted: deterministic, fuzzy phrase matching."""

    name: str = "do_not_contact"
    on: Triggers = "turn"
    version: str = "1"
    phrases: Sequence[str] = DO_NOT_CONTACT_PHRASES
    fuzzy: float | None = DEFAULT_FUZZY
