"""Word lists and scores behind the offline built-ins: deterministic, small, in English.

They stand in for the model when none is configured (``make run`` without credentials),
so they aim at the obvious cases — an angry customer, a request for a person, an order that
never came — and say nothing rather than guess on the rest.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

from switchboard.intelligence.matching import Word, phrase_words, words

SENTIMENT: dict[str, float] = {
    # positive
    "thanks": 1.5, "thank": 1.5, "great": 2.0, "perfect": 2.5, "awesome": 2.5,
    "excellent": 2.5, "love": 2.5, "happy": 2.0, "glad": 1.5, "helpful": 1.5, "good": 1.0,
    "nice": 1.0, "appreciate": 2.0, "wonderful": 2.5, "amazing": 2.5, "fantastic": 2.5,
    "brilliant": 2.0, "pleased": 1.5, "satisfied": 1.5, "lovely": 2.0, "solved": 1.5,
    "fixed": 1.0, "works": 1.0, "cool": 1.0, "quick": 0.5, "fast": 0.5,
    # negative
    "angry": -2.5, "furious": -3.0, "terrible": -2.5, "awful": -2.5, "horrible": -2.5,
    "worst": -3.0, "hate": -2.5, "ridiculous": -2.0, "unacceptable": -2.5, "useless": -2.0,
    "disappointed": -2.0, "disappointing": -2.0, "annoyed": -1.5, "annoying": -1.5,
    "frustrated": -2.0, "frustrating": -2.0, "broken": -1.5, "wrong": -1.0, "bad": -1.5,
    "scam": -3.0, "waste": -2.0, "upset": -2.0, "rude": -2.0, "pathetic": -2.5,
    "stupid": -2.0, "mad": -2.0, "sucks": -2.0, "incompetent": -2.5, "late": -1.0,
    "missing": -1.0, "damaged": -1.5, "lied": -2.0, "disgusting": -3.0, "outrageous": -2.5,
    "unhappy": -2.0, "poor": -1.5, "delayed": -1.0, "problem": -0.5, "issue": -0.5,
    "complaint": -1.5,
}  # fmt: skip
_CLAUSE_END = re.compile(r"[,.;:!?]")
NEGATIONS = frozenset({"not", "no", "never", "nothing", "hardly", "without"})
INTENSIFIERS = {"very": 1.3, "really": 1.3, "so": 1.3, "extremely": 1.5, "absolutely": 1.5,
                "totally": 1.3, "completely": 1.3, "super": 1.3}  # fmt: skip

PERSON = re.compile(
    r"\b(human|humans|real person|live person|actual person|agent|representative|rep|manager|"
    r"supervisor|operator|someone real|somebody real)\b",
    re.IGNORECASE,
)
ASKING = re.compile(
    r"\b(talk|speak|chat|connect|transfer|get|want|need|give|put|let me|can i|could i|may i|"
    r"escalate|call)\b",
    re.IGNORECASE,
)
ANGER = ("furious", "angry", "ridiculous", "unacceptable", "outrageous", "disgusting",
         "pathetic", "incompetent", "worst", "scam", "lawyer", "sue", "hate", "fed up",
         "sick of", "waste of time", "report you", "joke")  # fmt: skip
COMPLAINT = ("still", "again", "already told", "third time", "second time", "nobody",
             "no one", "never arrived", "not working", "does not work", "complaint",
             "problem", "issue", "wrong", "missing", "broken", "late")  # fmt: skip

TOPICS: dict[str, tuple[str, ...]] = {
    "billing": ("bill", "billing", "billed", "invoice", "charge", "charged", "charges",
                "payment", "pay", "paid", "subscription", "price", "fee", "fees",
                "overcharged", "receipt", "card"),
    "orders": ("order", "orders", "delivery", "deliver", "delivered", "shipping", "shipped",
               "ship", "package", "parcel", "tracking", "track", "arrive", "arrived",
               "courier", "dispatch", "dispatched"),
    "returns": ("return", "returns", "returned", "refund", "refunds", "refunded", "exchange",
                "money back", "send it back", "send back"),
    "account": ("account", "password", "login", "log in", "sign in", "username", "profile",
                "email address", "locked out", "verification", "two factor"),
    "technical": ("error", "bug", "crash", "crashes", "crashing", "not working",
                  "does not work", "app", "website", "install", "update", "glitch",
                  "loading", "connection"),
}  # fmt: skip
DEFAULT_TOPICS = (*TOPICS, "other")
TOPIC_ALIASES = {"delivery": "orders", "shipping": "orders", "order": "orders",
                 "refunds": "returns", "refund": "returns", "payments": "billing",
                 "payment": "billing", "login": "account", "tech": "technical",
                 "support": "technical"}  # fmt: skip

THANKS = ("thanks", "thank you", "thx", "that worked", "it works", "that works", "solved",
          "sorted", "perfect", "great", "all good", "that helps", "got it", "appreciate it",
          "fixed")  # fmt: skip
HANDOFF = ("connecting you with", "connect you with", "transferring you", "transfer you",
           "a member of our team", "handing you over", "hand you over",
           "a colleague will")  # fmt: skip


def line_sentiment(text: str) -> tuple[float, float]:
    """The positive and negative weight of one line (both >= 0)."""
    tokens = words(text)
    shouted = _shouted(text)
    positive = negative = 0.0
    for i, (word, start, end) in enumerate(tokens):
        value = SENTIMENT.get(word)
        if value is None:
            continue
        if _negated(text, tokens[max(0, i - 3) : i], start):
            value *= -0.75  # "not good" is mildly negative, "no problem" mildly positive
        if i and tokens[i - 1][0] in INTENSIFIERS:
            value *= INTENSIFIERS[tokens[i - 1][0]]
        if shouted or (end - start > 2 and text[start:end].isupper()):
            value *= 1.3
        if value > 0:
            positive += value
        else:
            negative -= value
    boost = 1 + 0.1 * min(text.count("!"), 3)
    return positive * boost, negative * boost


def _negated(text: str, before: Sequence[Word], start: int) -> bool:
    """A negation among the few words before, in the same clause ("no problem, thanks")."""
    return any(
        word in NEGATIONS and not _CLAUSE_END.search(text, end, start) for word, _, end in before
    )


def normalise(raw: float) -> float:
    """A raw score in -1..1 (the usual ``x / sqrt(x² + 15)``), rounded."""
    return round(raw / math.sqrt(raw * raw + 15), 3)


def terms_in(text: str, terms: Iterable[str]) -> list[str]:
    """The terms (words or phrases) found in ``text``, matched on normalised words."""
    tokens = tuple(word for word, _, _ in words(text))
    return [term for term in terms if _contains(tokens, phrase_words(term))]


def _contains(tokens: Sequence[str], phrase: Sequence[str]) -> bool:
    size = len(phrase)
    return any(tuple(tokens[i : i + size]) == tuple(phrase) for i in range(len(tokens) - size + 1))


def _shouted(text: str) -> bool:
    """Most of a line of at least three words in capitals."""
    letters = [c for c in text if c.isalpha()]
    return (
        len(text.split()) >= 3
        and len(letters) >= 8
        and (sum(1 for c in letters if c.isupper()) / len(letters) >= 0.7)
    )


def asks_for_person(text: str) -> bool:
    """The customer asks for a person: a person word with a request, or almost alone."""
    if not PERSON.search(text):
        return False
    # "Are you a real person?" is a question, not a request; "agent!" or "human please" is.
    return bool(ASKING.search(text)) or len(text.split()) <= 3


def shouting(text: str) -> bool:
    """Capitals or a run of exclamation marks: the line is shouted."""
    return _shouted(text) or "!!" in text


def topic_terms(label: str) -> tuple[str, ...]:
    """The keywords of a topic label: the built-in list it names, plus its own words."""
    key = TOPIC_ALIASES.get(label.lower(), label.lower())
    own = [w for w in re.split(r"[^a-z0-9]+", label.lower()) if w]
    singular = [w[:-1] for w in own if w.endswith("s") and len(w) > 3]
    return tuple(dict.fromkeys((*TOPICS.get(key, ()), *own, *singular)))
