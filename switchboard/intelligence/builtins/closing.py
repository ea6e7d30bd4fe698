"""The built-ins that run at close: summary, outcome, PII, memory.

Results (CONTRACT.md, "Conversation intelligence")::

    summary  {"text", "reason", "resolution", "next_steps": [..]}
    outcome  {"outcome": "resolved"|"escalated"|"abandoned"|"unresolved", "resolved", "reason"}
    pii      {"entities": [{"type", "text"}], "redacted": "..."}
    memory   {"observations": [{"text", "action": "add"|"update"|"discard"}], "traits": {..}}
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import JsonValue

from switchboard.contract.intelligence import AnalysisLine, Evidence
from switchboard.intelligence import lexicon
from switchboard.intelligence.builtins.base import BuiltinOperator, enum, string_list
from switchboard.intelligence.generative import Found
from switchboard.intelligence.operator import OperatorContext, OperatorOutput
from switchboard.intelligence.pii import PII_TYPES, detect, locate, pii_output
from switchboard.intelligence.transcript import AGENT, ASSISTANT, CUSTOMER, cited, clip, quote

_RESOLUTIONS = {
    "resolved": "The customer's request appears resolved.",
    "escalated": "The conversation was handed to a person.",
    "abandoned": "The customer left before getting an answer.",
    "unresolved": "No resolution was reached.",
}
_NEXT_STEPS = {
    "escalated": ["A person from the team follows up with the customer."],
    "unresolved": ["Follow up with the customer."],
}


def judge_outcome(lines: Sequence[AnalysisLine]) -> tuple[str, str, list[Evidence]]:
    """The rule-based outcome, first rule that applies.

    Escalated: a person (``agent``) spoke, or the assistant said it is handing over.
    Abandoned: fewer than two customer turns and no reply. Resolved: one of the customer's
    last two messages thanks or says it is solved (and is not negative). Else unresolved.
    """
    customer = [line for line in lines if line.role == CUSTOMER]
    replies = [line for line in lines if line.role in (ASSISTANT, AGENT)]
    handoff = [
        line
        for line in replies
        if line.role == AGENT or lexicon.terms_in(line.text, lexicon.HANDOFF)
    ]
    if handoff:
        return "escalated", "the conversation was handed to a person", [quote(handoff[0])]
    if len(customer) < 2 and not replies:
        return "abandoned", "the customer left before any reply", []
    for line in reversed(customer[-2:]):
        positive, negative = lexicon.line_sentiment(line.text)
        if lexicon.terms_in(line.text, lexicon.THANKS) and positive >= negative:
            return "resolved", "the customer thanked or said it was solved", [quote(line)]
    return "unresolved", "no sign the request was resolved", []


@dataclass(frozen=True, kw_only=True)
class Summary(BuiltinOperator):
    """What happened, why the customer came, how it ended, what is left to do."""

    name: str = "summary"
    INSTRUCTIONS: ClassVar[str] = (
        "Summarise the conversation for a colleague who picks it up later. `text`: two to "
        "four sentences on what happened. `reason`: why the customer got in touch. "
        "`resolution`: how it ended, or that it did not. `next_steps`: what is still to be "
        "done and by whom (empty when nothing is). Cite the lines that matter most."
    )
    SCHEMA: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "text": {"type": "string"},
            "reason": {"type": "string"},
            "resolution": {"type": "string"},
            "next_steps": string_list(),
        },
    }

    async def offline(self, context: OperatorContext) -> OperatorOutput:
        """The customer's own words, shortened, and the rule-based outcome."""
        customer = context.lines(CUSTOMER)
        outcome, _, _ = judge_outcome(context.transcript)
        if not customer:
            text = "The customer did not write anything."
        else:
            said = " / ".join(clip(line.text, 120) for line in customer[:3])
            more = f" (and {len(customer) - 3} more)" if len(customer) > 3 else ""
            plural = "s" if len(customer) > 1 else ""
            text = f"The customer wrote {len(customer)} message{plural}: {said}{more}"
        steps: list[JsonValue] = list(_NEXT_STEPS.get(outcome, []))
        result: dict[str, JsonValue] = {
            "text": text,
            "reason": clip(customer[0].text, 160) if customer else "",
            "resolution": _RESOLUTIONS[outcome],
            "next_steps": steps,
        }
        return OperatorOutput(result=result, evidence=[quote(customer[0])] if customer else [])


@dataclass(frozen=True, kw_only=True)
class Outcome(BuiltinOperator):
    """How the conversation ended."""

    name: str = "outcome"
    INSTRUCTIONS: ClassVar[str] = (
        "Judge how the conversation ended: resolved (the customer got what they needed), "
        "escalated (handed to a person), abandoned (the customer left before being helped) "
        "or unresolved. `resolved` is whether the customer's need was met; `reason` says why "
        "in one sentence. Cite the lines."
    )
    SCHEMA: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "outcome": enum("resolved", "escalated", "abandoned", "unresolved"),
            "resolved": {"type": "boolean"},
            "reason": {"type": "string"},
        },
    }

    async def offline(self, context: OperatorContext) -> OperatorOutput:
        """The rules: handed off, abandoned, thanked, or unresolved (see ``judge_outcome``)."""
        outcome, reason, evidence = judge_outcome(context.transcript)
        result: dict[str, JsonValue] = {
            "outcome": outcome,
            "resolved": outcome == "resolved",
            "reason": reason,
        }
        return OperatorOutput(result=result, evidence=evidence)


MODEL_PII_TYPES = (*PII_TYPES, "person_name", "address", "date_of_birth", "other")


@dataclass(frozen=True, kw_only=True)
class Pii(BuiltinOperator):
    """Personal data in the conversation, and the conversation with it redacted."""

    name: str = "pii"
    INSTRUCTIONS: ClassVar[str] = (
        "List the personal data in the conversation, each piece once: names, postal "
        "addresses, dates of birth, e-mail addresses, phone numbers, card and bank account "
        "numbers, national identity numbers. `type` from the list, `text` copied exactly "
        "as written. Not order numbers or the business's own details."
    )
    SCHEMA: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "entities": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"type": enum(*MODEL_PII_TYPES), "text": {"type": "string"}},
                },
            }
        },
    }

    def read(self, answer: dict[str, Any], context: OperatorContext) -> Found:
        """The model's findings and the patterns' together, redacted the same way."""
        lines = context.transcript
        found = detect(lines)
        known = {entity.text for entity in found}
        named = [
            (item["type"], item["text"]) for item in answer["entities"] if item["text"] not in known
        ]
        output = pii_output(lines, [*found, *locate(lines, named)])
        return output.result, output.evidence

    async def offline(self, context: OperatorContext) -> OperatorOutput:
        """The patterns alone (e-mail, phone, card with Luhn, IBAN-like, SSN-like)."""
        return pii_output(context.transcript, detect(context.transcript))


_NAME = re.compile(
    r"\bmy name(?: is|'s)\s+([A-Za-z][A-Za-z'-]+(?:\s+[A-Z][A-Za-z'-]+)?)", re.IGNORECASE
)
_PREFERS = re.compile(r"\bI(?: would|'d)? prefer\s+([^.!?\n]{3,120})", re.IGNORECASE)
_LIVES = re.compile(r"\bI live in\s+([^.!?,\n]{2,80})", re.IGNORECASE)


@dataclass(frozen=True, kw_only=True)
class Memory(BuiltinOperator):
    """What to remember about the customer: observations (add, update, discard) and traits."""

    name: str = "memory"
    wants_memory: bool = True
    INSTRUCTIONS: ClassVar[str] = (
        "Extract what is worth remembering about this customer for future conversations: "
        "lasting facts and preferences they stated themselves, not this conversation's "
        "one-off details and not what the business said. For each observation, `action` is "
        "add (new), update (changes something already known: write the new fact in full) or "
        "discard (already known, or not worth keeping). `traits` are short facts as "
        "key-value pairs (name, language, preferred_channel, ...), keys in snake_case."
    )
    SCHEMA: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "observations": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "text": {"type": "string"},
                        "action": enum("add", "update", "discard"),
                    },
                },
            },
            "traits": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"key": {"type": "string"}, "value": {"type": "string"}},
                },
            },
        },
    }

    def read(self, answer: dict[str, Any], context: OperatorContext) -> Found:
        """Traits come as key-value pairs (strict mode has no open objects): made a dict."""
        traits: dict[str, JsonValue] = {
            item["key"].strip(): item["value"]
            for item in answer["traits"]
            if item["key"].strip() and item["value"].strip()
        }
        result: dict[str, JsonValue] = {"observations": answer["observations"], "traits": traits}
        return result, cited(answer.get("evidence", []), context.transcript)

    async def offline(self, context: OperatorContext) -> OperatorOutput:
        """Sentences like "my name is …", "I prefer …", "I live in …"; known ones discarded."""
        known = context.memory.lower()
        observations: list[JsonValue] = []
        traits: dict[str, JsonValue] = {}
        evidence: list[Evidence] = []
        for line in context.lines(CUSTOMER):
            found: list[str] = []
            if match := _NAME.search(line.text):
                name = match.group(1).strip().title()
                traits["name"] = name
                found.append(f"Their name is {name}.")
            found += [f"Prefers {m.group(1).strip()}." for m in _PREFERS.finditer(line.text)]
            found += [f"Lives in {m.group(1).strip()}." for m in _LIVES.finditer(line.text)]
            for text in found:
                action = "discard" if text.rstrip(".").lower() in known else "add"
                observations.append({"text": text, "action": action})
            if found:
                evidence.append(quote(line))
        return OperatorOutput(
            result={"observations": observations, "traits": traits}, evidence=evidence
        )
