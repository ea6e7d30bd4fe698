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
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from switchboard.contract.addresses import Channel, conversation_id
from switchboard.devtools.population_plan import (
    Kind,
    PlannedCustomer,
    mix,
    plan,
)
from switchboard.devtools.twilio_sim import (
    RelayCall,
    TwilioWebhookClient,
    inbound_message_form,
    incoming_call_form,
)


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
