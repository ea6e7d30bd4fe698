"""Personal data in a transcript: found by patterns, replaced by its type.

The patterns find what has a shape: e-mail addresses, phone numbers (international with
``+``, or ten North American digits), payment card numbers (13-19 digits that pass the Luhn
check, so order numbers are left alone), IBAN-like account numbers and SSN-like numbers.
The model-backed ``pii`` built-in adds what has no shape (names, addresses) and redacts both
the same way. Result, here and there::

    {"entities": [{"type": "email", "text": "ada@example.com"}],
     "redacted": "customer: write to [EMAIL]"}
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import JsonValue

from switchboard.contract.intelligence import AnalysisLine, Evidence
from switchboard.intelligence.operator import Operator, OperatorContext, OperatorOutput
from switchboard.intelligence.transcript import quote


def _luhn(text: str) -> bool:
    digits = [int(c) for c in text if c.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for position, digit in enumerate(reversed(digits)):
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def _iban_like(text: str) -> bool:
    return 15 <= sum(1 for c in text if c.isalnum()) <= 34


def _phone_like(text: str) -> bool:
    return 10 <= sum(1 for c in text if c.isdigit()) <= 15


PATTERNS: dict[str, tuple[re.Pattern[str], Callable[[str], bool] | None]] = {
    # In this order: a span taken by an earlier type is not looked at again.
    "email": (re.compile(r"\b[\w.%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"), None),
    "iban": (
        re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b"),
        _iban_like,
    ),
    "credit_card": (re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])"), _luhn),
    "ssn": (re.compile(r"(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-])"), None),
    "phone_number": (
        re.compile(
            r"(?<![\w+])(?:\+\d[\d ().-]{7,}\d|(?:1[ .-])?\(?\d{3}\)?[ .-]?\d{3}[ .-]?\d{4})(?!\w)"
        ),
        _phone_like,
    ),
}
PII_TYPES = tuple(PATTERNS)


@dataclass(frozen=True)
class Entity:
    """One piece of personal data: its type, its text, and where it is."""

    type: str
    text: str
    line: AnalysisLine
    start: int
    end: int


def detect(lines: Iterable[AnalysisLine], types: Sequence[str] = PII_TYPES) -> list[Entity]:
    """The entities the patterns find, line by line, in reading order."""
    found: list[Entity] = []
    for line in lines:
        taken: list[Entity] = []
        for kind in types:
            pattern, check = PATTERNS[kind]
            for match in pattern.finditer(line.text):
                if check is not None and not check(match.group()):
                    continue
                entity = Entity(kind, match.group(), line, match.start(), match.end())
                if not any(_overlap(entity, other) for other in taken):
                    taken.append(entity)
        found.extend(sorted(taken, key=lambda e: e.start))
    return found


def locate(lines: Iterable[AnalysisLine], named: Iterable[tuple[str, str]]) -> list[Entity]:
    """Every occurrence of the ``(type, text)`` pairs (a model's findings) in ``lines``."""
    pairs = [(kind, text) for kind, text in named if text.strip()]
    found: list[Entity] = []
    for line in lines:
        for kind, text in pairs:
            start = line.text.find(text)
            while start >= 0:
                found.append(Entity(kind, text, line, start, start + len(text)))
                start = line.text.find(text, start + len(text))
    return found


def redact(lines: Sequence[AnalysisLine], entities: Iterable[Entity]) -> str:
    """The lines as ``role: text``, each entity replaced by ``[TYPE]`` (first found wins)."""
    by_line: dict[int, list[Entity]] = {}
    for entity in entities:
        kept = by_line.setdefault(entity.line.index, [])
        if not any(_overlap(entity, other) for other in kept):
            kept.append(entity)
    out: list[str] = []
    for line in lines:
        text = line.text
        for entity in sorted(by_line.get(line.index, []), key=lambda e: e.start, reverse=True):
            text = f"{text[: entity.start]}[{entity.type.upper()}]{text[entity.end :]}"
        out.append(f"{line.role}: {text}")
    return "\n".join(out)


def pii_output(lines: Sequence[AnalysisLine], entities: Sequence[Entity]) -> OperatorOutput:
    """``{"entities", "redacted"}`` (each type and text once), with the lines as evidence."""
    unique = list(dict.fromkeys((e.type, e.text) for e in entities))
    listed: list[JsonValue] = [{"type": kind, "text": text} for kind, text in unique]
    evidence: list[Evidence] = [quote(e.line, e.text) for e in entities]
    return OperatorOutput(
        result={"entities": listed, "redacted": redact(lines, entities)},
        evidence=list({(e.index, e.quote): e for e in evidence}.values()),
    )


def _overlap(a: Entity, b: Entity) -> bool:
    return a.start < b.end and b.start < a.end


@dataclass(frozen=True, kw_only=True)
class PiiOperator(Operator):
    """Finds and redacts personal data by pattern, in the lines of ``roles`` (all when empty).

    Raises:
        ValueError: an unknown type.
    """

    types: Sequence[str] = PII_TYPES
    roles: Sequence[str] = ()
    _types: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if unknown := [t for t in self.types if t not in PATTERNS]:
            raise ValueError(
                f"operator {self.name!r}: unknown PII type {unknown[0]!r} "
                f"(known: {', '.join(PII_TYPES)})"
            )
        # Kept in PATTERNS' order: that order decides which type an overlapping span gets.
        object.__setattr__(self, "_types", tuple(t for t in PII_TYPES if t in self.types))
        object.__setattr__(self, "roles", tuple(self.roles))
        super().__post_init__()

    def definition(self) -> dict[str, Any]:
        """The types looked for and whose lines are read."""
        return {"kind": "pii", "types": list(self._types), "roles": list(self.roles)}

    async def run(self, context: OperatorContext) -> OperatorOutput:
        """``{"entities", "redacted"}`` over the lines read."""
        lines = context.lines(*self.roles)
        return pii_output(lines, detect(lines, self._types))
