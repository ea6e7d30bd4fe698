"""Script adherence: did the business's side (assistant and agents) follow a script?

Off unless a script is configured. The script is written as Twilio's is, categories with
keyed criteria (a line without a key gets one made from its words)::

    Opening:
    - greeting: Greets the customer and says the business's name
    - recording: Says "this call may be recorded"
    Closing:
    - anything_else: Asks whether there is anything else

Result: ``{"criteria": [{"key", "passed", "evidence"}], "score": 0..100}``, every criterion
once in script order; the score is the share passed, counted here rather than by the model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import JsonValue

from switchboard.contract.intelligence import AnalysisLine, Evidence
from switchboard.intelligence.builtins.base import BuiltinOperator
from switchboard.intelligence.generative import Found
from switchboard.intelligence.model import strict_schema, with_evidence
from switchboard.intelligence.operator import OperatorContext, OperatorOutput
from switchboard.intelligence.transcript import AGENT, ASSISTANT, cited, clip, quote

_ITEM = re.compile(r"^\s*[-*•]\s*(?:([A-Za-z0-9_ -]{1,40}?)\s*:\s+)?(.+?)\s*$")
_QUOTED = re.compile(r"[\"“]([^\"”]{3,})[\"”]")  # double quotes only: ' is an apostrophe too
_STOPWORDS = frozenset(
    ("a", "an", "the", "and", "or", "of", "to", "for", "in", "on", "at", "by", "with", "that",
     "this", "is", "are", "be", "it", "its", "their", "they", "them", "customer", "customers",
     "agent", "assistant", "says", "say", "said", "asks", "ask", "whether", "there", "any", "if")
)  # fmt: skip


def parse_script(script: str) -> list[tuple[str, str]]:
    """The ``(key, criterion)`` pairs of a script (categories are headings only).

    Raises:
        ValueError: the script has no criteria.
    """
    criteria: dict[str, str] = {}
    for line in script.splitlines():
        match = _ITEM.match(line)
        if not match:
            continue  # a category heading, or prose around the list
        key, text = match.group(1), match.group(2)
        base = re.sub(r"[^a-z0-9]+", "_", (key or " ".join(text.split()[:4])).lower()).strip("_")
        unique, n = base or "criterion", 2
        while unique in criteria:
            unique, n = f"{base}_{n}", n + 1
        criteria[unique] = text
    if not criteria:
        raise ValueError("adherence: the script has no criteria ('- key: criterion' lines)")
    return list(criteria.items())


@dataclass(frozen=True, kw_only=True)
class Adherence(BuiltinOperator):
    """How well the business's side followed ``script`` (see the module docstring)."""

    name: str = "adherence"
    script: str
    _criteria: tuple[tuple[str, str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_criteria", tuple(parse_script(self.script)))
        super().__post_init__()

    def instructions(self) -> str:
        """The script's criteria, to be judged one by one."""
        listed = "\n".join(f"- {key}: {text}" for key, text in self._criteria)
        return (
            "Judge whether the business's side (assistant and agent lines) followed this "
            "script. For every criterion give its `key`, whether it `passed`, and as "
            "`evidence` the words that meet it (empty when it was not met).\n\n"
            f"Script:\n{listed}"
        )

    def answer_schema(self) -> dict[str, Any]:
        """``{"criteria": [{"key": <enum>, "passed", "evidence"}], "evidence"}``."""
        item = {
            "type": "object",
            "properties": {
                "key": {"type": "string", "enum": [key for key, _ in self._criteria]},
                "passed": {"type": "boolean"},
                "evidence": {"type": "string"},
            },
        }
        schema = {"type": "object", "properties": {"criteria": {"type": "array", "items": item}}}
        return strict_schema(with_evidence(schema))

    def read(self, answer: dict[str, Any], context: OperatorContext) -> Found:
        """Every criterion once, in script order (one the model left out did not pass)."""
        judged = {item["key"]: item for item in answer["criteria"]}
        rows = [
            (key, bool(judged.get(key, {}).get("passed")), judged.get(key, {}).get("evidence", ""))
            for key, _ in self._criteria
        ]
        return _result(rows), cited(answer.get("evidence", []), context.transcript)

    async def offline(self, context: OperatorContext) -> OperatorOutput:
        """A criterion passes when a business line has its quoted words, or most of its words."""
        said = context.lines(ASSISTANT, AGENT)
        rows: list[tuple[str, bool, str]] = []
        evidence: list[Evidence] = []
        for key, text in self._criteria:
            line = _meets(text, said)
            rows.append((key, line is not None, clip(line.text) if line else ""))
            if line is not None:
                evidence.append(quote(line))
        return OperatorOutput(result=_result(rows), evidence=evidence)


def _result(rows: list[tuple[str, bool, str]]) -> dict[str, JsonValue]:
    criteria: list[JsonValue] = [
        {"key": key, "passed": passed, "evidence": evidence} for key, passed, evidence in rows
    ]
    passed = sum(1 for _, ok, _ in rows if ok)
    return {"criteria": criteria, "score": round(100 * passed / len(rows)) if rows else 0}


def _meets(criterion: str, lines: list[AnalysisLine]) -> AnalysisLine | None:
    quoted = [q.lower() for q in _QUOTED.findall(criterion)]
    if quoted:
        return next((li for li in lines if any(q in li.text.lower() for q in quoted)), None)
    wanted = {w[:5] for w in re.findall(r"[a-z']+", criterion.lower()) if w not in _STOPWORDS}
    wanted = {w for w in wanted if len(w) > 2}
    if not wanted:
        return None
    best, best_share = None, 0.0
    for line in lines:
        have = {w[:5] for w in re.findall(r"[a-z']+", line.text.lower())}
        share = len(wanted & have) / len(wanted)
        if share > best_share:
            best, best_share = line, share
    return best if best_share >= 0.5 else None
