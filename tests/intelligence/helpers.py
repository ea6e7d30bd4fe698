"""Transcripts, requests and the contract's result shapes for the intelligence tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from jsonschema import Draft202012Validator
from pydantic import JsonValue

from switchboard.contract.addresses import Channel
from switchboard.contract.intelligence import AnalysisLine, AnalysisRequest, OperatorTrigger
from switchboard.intelligence import Operator, OperatorContext, OperatorOutput

CUSTOMER = "+14155550100"
START = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)

Line = tuple[str, str]


def lines(*said: Line) -> list[AnalysisLine]:
    """Transcript lines from ``(role, text)`` pairs, a second apart."""
    return [
        AnalysisLine(
            index=i, role=role, text=text, channel=Channel.SMS, at=START + timedelta(seconds=i)
        )
        for i, (role, text) in enumerate(said)
    ]


def customer(*texts: str) -> list[Line]:
    """Customer lines, each answered by the assistant."""
    out: list[Line] = []
    for text in texts:
        out += [("customer", text), ("assistant", "I see, let me help with that.")]
    return out


def request(
    *said: Line,
    operators: list[str] | None = None,
    trigger: OperatorTrigger = OperatorTrigger.TURN,
) -> AnalysisRequest:
    """An analysis request over ``said``."""
    transcript = lines(*said)
    turns = max(1, sum(1 for line in transcript if line.role == "customer"))
    return AnalysisRequest(
        conversation_id=f"conv-{CUSTOMER}",
        run_id="run-1",
        customer=CUSTOMER,
        trigger=trigger,
        turns=(1, turns),
        transcript=transcript,
        operators=operators or [],
    )


async def run_offline(operator: Operator, *said: Line, memory: str = "") -> OperatorOutput:
    """What ``operator`` finds in ``said`` without a model."""
    return await operator.run(OperatorContext(request=request(*said), memory=memory))


def _closed(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


_STRINGS = {"type": "array", "items": {"type": "string"}}

SHAPES: dict[str, dict[str, Any]] = {
    # Written from CONTRACT.md ("Conversation intelligence"), not from the library's schemas.
    "sentiment": _closed(
        {
            "label": {"enum": ["positive", "neutral", "negative", "mixed"]},
            "score": {"type": "number", "minimum": -1, "maximum": 1},
        }
    ),
    "escalation": _closed(
        {
            "level": {"enum": ["low", "medium", "high"]},
            "human_requested": {"type": "boolean"},
            "reasons": _STRINGS,
        }
    ),
    "topic": _closed({"label": {"type": "string", "minLength": 1}}),
    "summary": _closed(
        {
            "text": {"type": "string"},
            "reason": {"type": "string"},
            "resolution": {"type": "string"},
            "next_steps": _STRINGS,
        }
    ),
    "outcome": _closed(
        {
            "outcome": {"enum": ["resolved", "escalated", "abandoned", "unresolved"]},
            "resolved": {"type": "boolean"},
            "reason": {"type": "string"},
        }
    ),
    "pii": _closed(
        {
            "entities": {
                "type": "array",
                "items": _closed({"type": {"type": "string"}, "text": {"type": "string"}}),
            },
            "redacted": {"type": "string"},
        }
    ),
    "memory": _closed(
        {
            "observations": {
                "type": "array",
                "items": _closed(
                    {"text": {"type": "string"}, "action": {"enum": ["add", "update", "discard"]}}
                ),
            },
            "traits": {"type": "object"},
        }
    ),
    "do_not_contact": _closed({"matched": {"type": "boolean"}, "phrases": _STRINGS}),
    "adherence": _closed(
        {
            "criteria": {
                "type": "array",
                "items": _closed(
                    {
                        "key": {"type": "string"},
                        "passed": {"type": "boolean"},
                        "evidence": {"type": "string"},
                    }
                ),
            },
            "score": {"type": "integer", "minimum": 0, "maximum": 100},
        }
    ),
}


def assert_shape(operator: str, result: dict[str, JsonValue]) -> None:
    """``result`` is what the contract promises for ``operator``."""
    errors = [e.message for e in Draft202012Validator(SHAPES[operator]).iter_errors(result)]
    assert not errors, f"{operator}: {errors} in {result}"
