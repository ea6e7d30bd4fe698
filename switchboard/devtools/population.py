"""Population mode for the simulator: many simulated customers, so the insights dashboard fills.

``python -m switchboard.devtools.simulator --population 50`` (or ``make populate N=50``)
plans N customers from a seed — channel, mood, topic and how the conversation goes — and plays
them against a running gateway a few at a time, through the very endpoints Twilio would call:
signed ``/twilio/messaging`` webhooks for SMS and WhatsApp, the Voice webhook and a signed
ConversationRelay socket for calls. Each conversation is then closed through the operator API
(``POST /api/conversations/{id}/close``), so its facts reach ``GET /api/insights`` at once.

The plan is a pure function of ``(n, seed)``; what the agent answers is up to the stack.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

import httpx

from switchboard.contract.addresses import Channel, conversation_id
from switchboard.devtools.twilio_sim import (
    RelayCall,
    TwilioWebhookClient,
    inbound_message_form,
    incoming_call_form,
)

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


@dataclass(frozen=True)
class Gateway:
    """Where the gateway is and what Twilio would sign and send with."""

    url: str
    auth_token: str
    account_sid: str
    business: str
    public_base_url: str | None = None
    api_key: str | None = None


@dataclass
class Played:
    """What happened to one planned customer."""

    customer: PlannedCustomer
    replies: int = 0
    handed_off: bool = False
    closed: bool = False
    error: str | None = None


@dataclass
class Report:
    """A population run: the plan, what happened, and the insights afterwards."""

    customers: list[PlannedCustomer]
    played: list[Played] = field(default_factory=list)
    insights: dict[str, Any] | None = None
    seconds: float = 0.0

    @property
    def mix(self) -> dict[str, dict[str, int]]:
        """The mix of the customers played (the plan's, when every one was)."""
        return mix([p.customer for p in self.played])

    @property
    def handed_off(self) -> int:
        """Customers seen handed off to a person."""
        return sum(p.handed_off for p in self.played)

    @property
    def closed(self) -> int:
        """Conversations closed through the operator API."""
        return sum(p.closed for p in self.played)

    @property
    def failed(self) -> list[Played]:
        """Customers whose conversation could not be played."""
        return [p for p in self.played if p.error]

    def summary(self) -> str:
        """The lines printed at the end."""
        lines = [
            f"{len(self.played)} customers in {self.seconds:.1f}s: {self.closed} closed, "
            f"{self.handed_off} handed off, {len(self.failed)} failed"
        ]
        for name, counts in self.mix.items():
            parts = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
            lines.append(f"  {name + ':':<9} {parts}")
        if self.insights is None:
            lines.append("insights: not available")
        else:
            totals = self.insights["totals"]
            lines.append(
                "insights: "
                f"{totals['conversations']} conversations, "
                f"handoff {totals['handoff_rate']:.0%}, "
                f"containment {totals['containment_rate']:.0%}, "
                f"resolution {totals['resolution_rate']:.0%}, "
                f"abandonment {totals['abandonment_rate']:.0%}, "
                f"opted out {totals['opted_out']}"
            )
            for name in ("sentiment", "topics", "handoff_reasons"):
                counts = totals.get(name) or {}
                parts = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
                lines.append(f"  {name + ':':<16} {parts or '-'}")
        return "\n".join(lines)


class _Player:
    """Plays planned customers against one gateway."""

    def __init__(self, http: httpx.AsyncClient, gateway: Gateway, timeout: float) -> None:
        self._http = http
        self._gateway = gateway
        self._url = gateway.url.rstrip("/")
        self._timeout = timeout
        self._headers = {"Authorization": f"Bearer {gateway.api_key}"} if gateway.api_key else {}
        self.webhooks = TwilioWebhookClient(
            http, self._url, gateway.auth_token, gateway.public_base_url
        )

    async def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self._http.request(
            method, f"{self._url}/api{path}", headers=self._headers, **kwargs
        )

    async def insights(self) -> dict[str, Any]:
        response = await self.api("GET", "/insights")
        response.raise_for_status()
        found: dict[str, Any] = response.json()
        return found

    async def view(self, customer: PlannedCustomer) -> dict[str, Any] | None:
        """The open conversation (``GET /api/conversations/{id}``), None when there is none."""
        response = await self.api("GET", f"/conversations/{conversation_id(customer.number)}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        found: dict[str, Any] = response.json()
        return found

    async def _until(
        self, customer: PlannedCustomer, check: Callable[[Mapping[str, Any] | None], bool]
    ) -> bool:
        """Poll the conversation until ``check`` holds; False after ``timeout`` seconds."""
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            if check(await self.view(customer)):
                return True
            await asyncio.sleep(0.2)
        return False

    async def play(self, customer: PlannedCustomer) -> Played:
        played = Played(customer)
        try:
            if customer.channel is Channel.VOICE:
                await self._call(customer, played)
            else:
                await self._text(customer, played)
            played.closed = await self._close(customer)
        except (httpx.HTTPError, OSError, TimeoutError, ValueError) as exc:
            played.error = f"{type(exc).__name__}: {exc}"
        return played

    async def _text(self, customer: PlannedCustomer, played: Played) -> None:
        for text in customer.messages:
            before = _replies(await self.view(customer))
            form = inbound_message_form(
                customer.number, self._gateway.business, text, channel=customer.channel,
                account_sid=self._gateway.account_sid,
            )  # fmt: skip
            response = await self.webhooks.post("/twilio/messaging", form)
            response.raise_for_status()
            if await self._until(customer, _answered_after(before)):
                played.replies += 1
        if customer.kind is Kind.HANDOFF:
            played.handed_off = await self._until(customer, _handed_off)

    async def _call(self, customer: PlannedCustomer, played: Played) -> None:
        call = await RelayCall.dial(
            self.webhooks, customer.number, self._gateway.business,
            account_sid=self._gateway.account_sid,
        )  # fmt: skip
        try:
            for text in customer.messages:
                await call.say(text)
                end = await self._listen(call, played)
                if end is not None:
                    if end.get("handoffData"):  # Twilio then requests the <Connect> action
                        await self._call_ended(customer, call, end)
                    break
            if customer.kind is Kind.HANDOFF:
                played.handed_off = await self._until(customer, _handed_off)
        finally:
            await call.hang_up()

    async def _listen(self, call: RelayCall, played: Played) -> dict[str, Any] | None:
        """The agent's spoken reply; returns the ``end`` frame if the agent ends the call."""
        while True:
            frame = await call.frame(within=self._timeout)
            if frame.get("type") == "text" and frame.get("last"):
                played.replies += 1
                return None
            if frame.get("type") == "end":
                return frame

    async def _call_ended(
        self, customer: PlannedCustomer, call: RelayCall, end: Mapping[str, Any]
    ) -> None:
        form = incoming_call_form(
            customer.number, self._gateway.business, call_sid=call.call_sid,
            account_sid=self._gateway.account_sid,
        )  # fmt: skip
        form.update(
            CallStatus="in-progress", SessionStatus="ended", HandoffData=str(end["handoffData"])
        )
        await self.webhooks.post("/twilio/voice/action", form)

    async def _close(self, customer: PlannedCustomer) -> bool:
        response = await self.api(
            "POST",
            f"/conversations/{conversation_id(customer.number)}/close",
            json={"reason": "simulated population: done"},
        )
        if response.status_code == 404:
            return False  # already closed
        response.raise_for_status()
        return True


def _transcript(view: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    return list(view["transcript"]) if view else []


def _replies(view: Mapping[str, Any] | None) -> int:
    return sum(1 for e in _transcript(view) if e["role"] in ("assistant", "agent"))


def _answered_after(replies: int) -> Callable[[Mapping[str, Any] | None], bool]:
    """A check: the agent replied more than ``replies`` times, or a person took over."""
    return lambda view: _replies(view) > replies or _handed_off(view)


def _handed_off(view: Mapping[str, Any] | None) -> bool:
    return bool(view and (view.get("handoff") or view["status"] in ("handoff_pending", "human")))


def describe(played: Played, position: int, total: int) -> str:
    """The progress line for one customer."""
    c = played.customer
    if played.error:
        result = f"FAILED ({played.error})"
    else:
        steps = [f"{played.replies} repl{'y' if played.replies == 1 else 'ies'}"]
        if played.handed_off:
            steps.append("handed off")
        steps.append("closed" if played.closed else "not closed")
        result = ", ".join(steps)
    width = len(str(total))
    return (
        f"[{position:>{width}}/{total}] {c.number} {c.channel:<8} {c.mood:<7} "
        f"{c.topic:<9} {c.kind:<14} -> {result}"
    )


async def populate(
    gateway: Gateway,
    n: int,
    *,
    seed: int = 0,
    concurrency: int = 5,
    wait: float = 30.0,
    out: Callable[[str], None] = print,
) -> Report:
    """Play ``plan(n, seed)`` against ``gateway``, ``concurrency`` customers at a time.

    Prints a line per customer as each finishes and returns the report, with the insights
    once every closed conversation is counted (or ``wait`` seconds have passed). ``wait``
    also bounds each wait for a reply or a handoff.
    """
    customers = plan(n, seed)
    report = Report(customers)
    started = time.monotonic()
    slots = asyncio.Semaphore(max(1, concurrency))
    async with httpx.AsyncClient(timeout=max(10.0, wait)) as http:
        before = await _Player(http, gateway, wait).insights()

        async def one(customer: PlannedCustomer) -> None:
            async with slots:
                played = await _Player(http, gateway, wait).play(customer)
            report.played.append(played)
            out(describe(played, len(report.played), n))

        await asyncio.gather(*(one(c) for c in customers))
        expected = before["totals"]["conversations"] + report.closed
        player = _Player(http, gateway, wait)
        deadline = time.monotonic() + wait
        insights = await player.insights()
        while insights["totals"]["conversations"] < expected and time.monotonic() < deadline:
            await asyncio.sleep(0.25)
            insights = await player.insights()
        report.insights = insights
    report.seconds = time.monotonic() - started
    return report
