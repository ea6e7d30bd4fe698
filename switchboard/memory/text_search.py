"""Query handling shared by both backends: search terms, rank fusion, stable ids."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

_T = TypeVar("_T")

# Words that carry no meaning for a search over policies and conversations. Without them an
# OR-query for "what is your return policy?" ranks on "return" and "policy", not on "is".
STOP_WORDS = frozenset(
    """a about above after again all am an and any are as at be been before being below
    between both but by can could did do does doing down during each few for from further
    had has have having he her here hers him his how i if in into is it its just me more
    most my myself no nor not now of off on once only or other our ours out over own same
    she should so some such than that the their theirs them then there these they this
    those through to too under until up very was we were what when where which while who
    whom why will with would you your yours hi hello hey please thanks thank okay ok yes
    tell know want need like get got im i'm it's dont don't""".split()  # noqa: SIM905
)
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?", re.UNICODE)
MAX_TERMS = 12


def search_terms(query: str) -> list[str]:
    """The meaningful words of a query, lower-case, de-duplicated, in order (at most 12)."""
    seen: list[str] = []
    for word in _WORD.findall(query.lower()):
        word = word.replace("'", "")
        if len(word) > 1 and word not in STOP_WORDS and word not in seen:
            seen.append(word)
    return seen[:MAX_TERMS]


def fts5_query(terms: Sequence[str]) -> str:
    """An FTS5 MATCH expression: any of the terms (each quoted, so no syntax leaks in)."""
    return " OR ".join(f'"{t}"' for t in terms)


def tsquery(terms: Sequence[str]) -> str:
    """A PostgreSQL ``to_tsquery`` expression: any of the terms, as prefix-free lexemes."""
    return " | ".join(re.sub(r"[^\w]", "", t) for t in terms if re.sub(r"[^\w]", "", t))


def fuse(rankings: Iterable[Sequence[str]], k: int = 60) -> dict[str, float]:
    """Reciprocal rank fusion of several best-first id lists: id → fused score."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank + 1)
    return scores


def stable_id(*parts: str) -> str:
    """A short id derived from its parts: the same write always gets the same id."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


_SUFFIXES = ("ing", "ed", "es", "s", "ly")


def stem(word: str) -> str:
    """A light stem, so "returns", "returned" and "returning" meet at "return"."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def relevance(terms: Sequence[str], text: str) -> int:
    """How many of the query's terms a text contains (compared by stem)."""
    if not terms:
        return 0
    words = {stem(w.replace("'", "")) for w in _WORD.findall(text.lower())}
    return sum(1 for term in terms if stem(term) in words)


def most_relevant(
    items: Sequence[_T], text_of: Callable[[_T], str], terms: Sequence[str], limit: int
) -> list[_T]:
    """Items that match the terms first (more matches first), then the rest; order kept.

    ``items`` come newest first, so among equals the newest wins.
    """
    scored = [(relevance(terms, text_of(item)), index) for index, item in enumerate(items)]
    scored.sort(key=lambda pair: (-pair[0], pair[1]))
    return [items[index] for _, index in scored[:limit]]
