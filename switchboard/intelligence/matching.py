"""Deterministic operators: phrases (exact or fuzzy) and regular expressions. No model.

Phrases match on words, not characters: case, punctuation and curly apostrophes are
ignored, and common contractions are spelled out ("don't" is "do not"), so "Don't contact
me!" matches the phrase "do not contact me". With ``fuzzy`` set, a run of words also matches
when ``difflib`` finds it at least that similar to the phrase ("stop caling me"). Results::

    PhraseOperator  {"matched": bool, "phrases": [the phrases found, as declared]}
    RegexOperator   {"matched": bool, "matches": [the texts matched]}
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any

from pydantic import JsonValue

from switchboard.contract.intelligence import AnalysisLine, Evidence
from switchboard.intelligence.operator import Operator, OperatorContext, OperatorOutput
from switchboard.intelligence.transcript import CUSTOMER, quote

DEFAULT_FUZZY = 0.9
"""Similarity (0..1) a fuzzy match needs: high, since "stop telling me" is 0.87 from
"stop calling me"."""
MAX_MATCHES = 50

_WORD = re.compile(r"[\w']+")
_CONTRACTIONS = {
    "dont": ("do", "not"),
    "doesnt": ("does", "not"),
    "didnt": ("did", "not"),
    "wont": ("will", "not"),
    "cant": ("can", "not"),
    "cannot": ("can", "not"),
    "isnt": ("is", "not"),
    "arent": ("are", "not"),
    "im": ("i", "am"),
}

Word = tuple[str, int, int]
"""A normalised word and where it is in the original text."""


def words(text: str) -> list[Word]:
    """The normalised words of ``text``, each with its span in ``text``."""
    found: list[Word] = []
    # Curly apostrophes become straight ones: one character for one, so spans still hold.
    for match in _WORD.finditer(text.replace("\u2019", "'")):
        word = match.group().lower().replace("'", "")
        for part in _CONTRACTIONS.get(word, (word,)):
            if part:
                found.append((part, match.start(), match.end()))
    return found


def phrase_words(phrase: str) -> tuple[str, ...]:
    """A phrase as the words it matches."""
    return tuple(word for word, _, _ in words(phrase))


def find_phrase(
    text: str, phrase: tuple[str, ...], fuzzy: float | None = None
) -> tuple[int, int] | None:
    """The span of ``text`` where ``phrase`` occurs (or nearly, with ``fuzzy``), if anywhere."""
    tokens = words(text)
    size = len(phrase)
    for start in range(len(tokens) - size + 1):
        if tuple(word for word, _, _ in tokens[start : start + size]) == phrase:
            return tokens[start][1], tokens[start + size - 1][2]
    if fuzzy is None:
        return None
    target = " ".join(phrase)
    best: tuple[float, int, int] | None = None
    for width in {max(1, size - 1), size, size + 1}:
        for start in range(len(tokens) - width + 1):
            window = tokens[start : start + width]
            ratio = SequenceMatcher(None, " ".join(w for w, _, _ in window), target).ratio()
            if ratio >= fuzzy and (best is None or ratio > best[0]):
                best = (ratio, window[0][1], window[-1][2])
    return (best[1], best[2]) if best else None


@dataclass(frozen=True, kw_only=True)
class PhraseOperator(Operator):
    """Finds any of ``phrases`` in the lines of ``roles``.

    Raises:
        ValueError: no phrases, a phrase without words, or ``fuzzy`` outside (0, 1].
    """

    phrases: Sequence[str]
    fuzzy: float | None = None
    """None: exact (on words); else the similarity a near match needs."""
    roles: Sequence[str] = (CUSTOMER,)
    _words: tuple[tuple[str, ...], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "phrases", tuple(self.phrases))
        object.__setattr__(self, "roles", tuple(self.roles))
        parsed = tuple(phrase_words(phrase) for phrase in self.phrases)
        if not parsed or not all(parsed):
            raise ValueError(f"operator {self.name!r}: phrases must be non-empty words")
        if self.fuzzy is not None and not 0 < self.fuzzy <= 1:
            raise ValueError(f"operator {self.name!r}: fuzzy must be in (0, 1]")
        object.__setattr__(self, "_words", parsed)
        super().__post_init__()

    def definition(self) -> dict[str, Any]:
        """The phrases, how near a match must be, and whose lines are read."""
        return {
            "kind": "phrases",
            "phrases": list(self.phrases),
            "fuzzy": self.fuzzy,
            "roles": list(self.roles),
        }

    def matches(self, lines: Sequence[AnalysisLine]) -> Iterator[tuple[str, Evidence]]:
        """Each phrase found, with where (once per line and phrase).

        A phrase found inside a longer one's match ("do not call" in "do not call me") is
        left out: the longer phrase says it better.
        """
        for line in lines:
            if line.role not in self.roles:
                continue
            hits: list[tuple[str, tuple[int, int]]] = []
            for phrase, parsed in zip(self.phrases, self._words, strict=True):
                span = find_phrase(line.text, parsed, self.fuzzy)
                if span is not None:
                    hits.append((phrase, span))
            for phrase, (start, end) in hits:
                if not any(
                    (a, b) != (start, end) and a <= start and end <= b for _, (a, b) in hits
                ):
                    yield phrase, quote(line, line.text[start:end])

    async def run(self, context: OperatorContext) -> OperatorOutput:
        """``{"matched", "phrases"}`` with a quote of every match."""
        found = list(self.matches(context.transcript))[:MAX_MATCHES]
        phrases: list[JsonValue] = list(dict.fromkeys(phrase for phrase, _ in found))
        return OperatorOutput(
            result={"matched": bool(found), "phrases": phrases},
            evidence=[evidence for _, evidence in found],
        )


@dataclass(frozen=True, kw_only=True)
class RegexOperator(Operator):
    """Finds matches of any of ``patterns`` (Python regular expressions) in ``roles``' lines.

    Raises:
        ValueError: no patterns, or one that does not compile.
    """

    patterns: Sequence[str]
    ignore_case: bool = True
    roles: Sequence[str] = (CUSTOMER,)
    _compiled: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "patterns", tuple(self.patterns))
        object.__setattr__(self, "roles", tuple(self.roles))
        if not self.patterns:
            raise ValueError(f"operator {self.name!r}: patterns are empty")
        flags = re.IGNORECASE if self.ignore_case else 0
        compiled = []
        for pattern in self.patterns:
            try:
                compiled.append(re.compile(pattern, flags))
            except re.error as exc:
                raise ValueError(f"operator {self.name!r}: pattern {pattern!r}: {exc}") from exc
        object.__setattr__(self, "_compiled", tuple(compiled))
        super().__post_init__()

    def definition(self) -> dict[str, Any]:
        """The patterns, their case rule, and whose lines are read."""
        return {
            "kind": "regex",
            "patterns": list(self.patterns),
            "ignore_case": self.ignore_case,
            "roles": list(self.roles),
        }

    async def run(self, context: OperatorContext) -> OperatorOutput:
        """``{"matched", "matches"}`` with a quote of every match."""
        found: list[tuple[str, Evidence]] = []
        for line in context.transcript:
            if line.role not in self.roles:
                continue
            for pattern in self._compiled:
                for match in pattern.finditer(line.text):
                    if match.group():
                        found.append((match.group(), quote(line, match.group())))
        found = found[:MAX_MATCHES]
        return OperatorOutput(
            result={"matched": bool(found), "matches": [text for text, _ in found]},
            evidence=[evidence for _, evidence in found],
        )
