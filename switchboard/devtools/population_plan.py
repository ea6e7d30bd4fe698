"""The plan of a simulated population: who each customer is and how their conversation goes.

A pure function of ``(n, seed)`` (``plan``), and the mix it makes (``mix``); played by
``switchboard.devtools.population``.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from switchboard.contract.addresses import Channel

_T = TypeVar("_T")

MAX_POPULATION = 9999
"""Customer numbers are ``+1555`` + three digits of the seed + four of the index."""


class Mood(StrEnum):
    """How the customer feels."""

    HAPPY = "happy"
    NEUTRAL = "neutral"
    ANGRY = "angry"


class Kind(StrEnum):
    """How the conversation goes."""

    RESOLVED = "resolved"
    """A question, an answer, then "thanks, that solved it"."""
    UNRESOLVED = "unresolved"
    """A question, an answer, a follow-up question."""
    HANDOFF = "handoff"
    """Angry: asks for a manager; the offline ``escalation`` operator hands it off."""
    DO_NOT_CONTACT = "do_not_contact"
    """A question, an answer, then "stop calling me"."""
    ABANDONED = "abandoned"
    """One message, then silence."""


TOPICS: dict[str, str] = {
    "billing": "I was charged twice on my last invoice.",
    "orders": "Where is my order? The parcel has not arrived yet.",
    "returns": "I would like to return a jacket and get a refund.",
    "account": "I cannot log in to my account, the password reset never comes.",
    "technical": "The app shows an error and keeps crashing when I open it.",
}
"""Each topic's opening line, worded so the offline ``topic`` operator recognises it."""

OPENERS: dict[Mood, str] = {
    Mood.HAPPY: "Hi there! ",
    Mood.NEUTRAL: "Hello. ",
    Mood.ANGRY: "This is the third time I write. ",
}
FOLLOW_UPS: dict[Kind, str] = {
    Kind.RESOLVED: "Thanks, that solved it!",
    Kind.UNRESOLVED: "OK. And how long will that take?",
    Kind.HANDOFF: "This is ridiculous and useless, I'm furious. Get me a manager right now!",
    Kind.DO_NOT_CONTACT: "Please stop calling me, I'm not interested.",
}
"""The customer's second message, by kind (an abandoned conversation has none)."""

CHANNEL_WEIGHTS: dict[Channel, int] = {Channel.SMS: 45, Channel.WHATSAPP: 35, Channel.VOICE: 20}
MOOD_WEIGHTS: dict[Mood, int] = {Mood.HAPPY: 35, Mood.NEUTRAL: 40, Mood.ANGRY: 25}
NEUTRAL_KINDS: dict[Kind, int] = {
    Kind.RESOLVED: 30,
    Kind.UNRESOLVED: 30,
    Kind.ABANDONED: 25,
    Kind.DO_NOT_CONTACT: 15,
}
"""Angry customers ask for a manager and happy ones are helped; neutral ones go either way."""
COVER: tuple[tuple[Kind, Channel], ...] = (
    (Kind.HANDOFF, Channel.VOICE),
    (Kind.RESOLVED, Channel.WHATSAPP),
    (Kind.ABANDONED, Channel.SMS),
    (Kind.DO_NOT_CONTACT, Channel.VOICE),
    (Kind.UNRESOLVED, Channel.SMS),
)
"""The first customers planned (before the shuffle): one of each kind, on every channel."""


@dataclass(frozen=True)
class PlannedCustomer:
    """One simulated customer and the conversation they will have."""

    index: int
    number: str
    channel: Channel
    mood: Mood
    topic: str
    kind: Kind

    @property
    def messages(self) -> list[str]:
        """What the customer writes (or says), in order."""
        first = OPENERS[self.mood] + TOPICS[self.topic]
        follow_up = FOLLOW_UPS.get(self.kind)
        return [first] if follow_up is None else [first, follow_up]


def _pick(rng: random.Random, weights: Mapping[_T, int]) -> _T:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def plan(n: int, seed: int) -> list[PlannedCustomer]:
    """N customers, the same for the same ``(n, seed)``; all kinds and channels from N = 5."""
    if not 0 <= n <= MAX_POPULATION:
        raise ValueError(f"a population is 0 to {MAX_POPULATION} customers, not {n}")
    rng = random.Random(seed)
    customers = []
    for index in range(n):
        if index < len(COVER):  # even a small population shows every kind and channel
            kind, channel = COVER[index]
            mood = {Kind.HANDOFF: Mood.ANGRY, Kind.RESOLVED: Mood.HAPPY}.get(kind, Mood.NEUTRAL)
        else:
            channel = _pick(rng, CHANNEL_WEIGHTS)
            mood = _pick(rng, MOOD_WEIGHTS)
            kind = {Mood.ANGRY: Kind.HANDOFF, Mood.HAPPY: Kind.RESOLVED}.get(mood) or _pick(
                rng, NEUTRAL_KINDS
            )
        customers.append(
            PlannedCustomer(
                index=index,
                number=f"+1555{seed % 1000:03d}{index:04d}",
                channel=channel,
                mood=mood,
                topic=rng.choice(list(TOPICS)),
                kind=kind,
            )
        )
    rng.shuffle(customers)  # the order they get in touch
    return customers


def mix(customers: Sequence[PlannedCustomer]) -> dict[str, dict[str, int]]:
    """How many customers of each kind, mood, channel and topic."""
    return {
        "kind": dict(Counter(str(c.kind) for c in customers)),
        "mood": dict(Counter(str(c.mood) for c in customers)),
        "channel": dict(Counter(str(c.channel) for c in customers)),
        "topic": dict(Counter(c.topic for c in customers)),
    }
