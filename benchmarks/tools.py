"""Tools and handoff benchmark: what the agent's own tools and a human handoff cost a turn.

``make bench-tools`` (or ``.venv/bin/python benchmarks/tools.py --help``; ``--quick`` for a
short run). It starts its own Temporal dev server, one worker and one gateway as separate
processes — exactly as a user would, with ``AGENT=tests.support.tools_agent:agent`` and TaskRouter
pointed at the fake Twilio — with an instant fake OpenAI-compatible LLM and a fake Twilio
(Messages and TaskRouter) served from this process, so only our own overhead shows. One
customer text (or operator request) at a time, it measures:

1. the operator API's reads: ``GET /api/conversations`` with N open conversations (each row
   is a query to its workflow) and ``GET /api/conversations/{id}``;
2. text turns, interleaved at random so all three see the same conditions: the baseline (the
   model answers at once), one call of the agent's ``lookup_order`` tool, and three
   ``lookup_order`` calls in one reply (run in parallel) — signed webhook → reply POSTed to
   the fake Twilio, with where the time goes: when the model was asked (this process's
   clock) and the ``run_tool`` activities (the server's own event timestamps);
3. handoff cycles: "I want a human" → the model calls ``handoff_to_human`` → the customer's
   "connecting you" reply and the TaskRouter task at the fake Twilio; then a human's
   ``POST /api/conversations/{id}/messages`` (202, and the text at Twilio) and
   ``POST …/resume`` (202), which hands the conversation back for the next cycle.

Figures are percentiles and ratios to the baseline turn measured in the same run, with the
CPU each process spent per item (net of what the idle system spends); the raw numbers are
saved as JSON under ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from activities.handoff import HANDOFF_SUMMARY_INSTRUCTIONS
from benchmarks.harness import (
    BENCH_ACCOUNT_SID,
    BENCH_AUTH_TOKEN,
    BENCH_LLM_KEY,
    cpu_seconds,
    product_env,
    save_results,
    spawn,
    stop_all,
    summary,
    wait_healthy,
)
from benchmarks.messaging import Webhooks
from switchboard.contract.addresses import conversation_id
from switchboard.devtools.devserver import DevServer
from tests.support.fake_llm import FakeLLM, FakeReply, Messages, last_user_text
from tests.support.fake_twilio import FakeTwilio
from tests.support.server import free_port, serve

AGENT = "tests.support.tools_agent:agent"
WORKSPACE = "WS" + "c" * 32
WORKFLOW = "WW" + "d" * 32
API_KEY = "bench-operator-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
CONNECTING = "Sure, connecting you with a person now."
KINDS = ("plain", "tool1", "tool3")
KIND_NAMES = {"plain": "baseline: no tool", "tool1": "1 tool call", "tool3": "3 parallel calls"}
# Settings that would change what is measured if they leaked in from the environment.
UNSET = ("TOOLS_FILE", "HANDOFF_WEBHOOK_URL", "EMBEDDING_MODEL", "AGENT_INSTRUCTIONS")

Match = Callable[[dict[str, Any]], bool]


class Arrivals:
    """Waiters for what reaches a fake; each gets this process's clock at the first match.

    The fakes run in this process, so arrival times share the clock of the request that
    caused them: no clock skew between sender and receiver.
    """

    def __init__(self) -> None:
        self._waiters: list[tuple[Match, asyncio.Future[float]]] = []

    def expect(self, match: Match) -> asyncio.Future[float]:
        """A future for the next item that ``match`` accepts (register before sending)."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiters.append((match, future))
        return future

    def arrived(self, item: dict[str, Any]) -> None:
        """An item reached the fake (called by the fake itself)."""
        now = time.perf_counter()
        for match, future in self._waiters:
            if not future.done() and match(item):
                future.set_result(now)
        self._waiters = [(m, f) for m, f in self._waiters if not f.done()]


class TimedTwilio(FakeTwilio):
    """The fake Twilio, also announcing every TaskRouter task the moment it is created."""

    def __init__(self, on_task: Callable[[dict[str, Any]], None]) -> None:
        super().__init__(BENCH_ACCOUNT_SID, BENCH_AUTH_TOKEN)
        self._on_task = on_task

    def _new_task(self, workspace_sid: str, form: dict[str, str]) -> dict[str, Any]:
        task = super()._new_task(workspace_sid, form)
        self._on_task(task)
        return task


class ScriptedModel:
    """The fake model: instant, with the behaviour chosen by the customer's text.

    ``tool1 …`` and ``tool3 …`` ask for one or three ``lookup_order`` calls, then answer once
    the results are in; ``handoff …`` answers and calls ``handoff_to_human`` in the same reply
    (as a real model does); the handoff summary is answered with a fixed sentence; anything
    else is echoed. ``asked`` holds the arrival time and purpose of every request.
    """

    def __init__(self) -> None:
        self.asked: list[tuple[float, str]] = []

    def __call__(self, messages: Messages) -> FakeReply:
        now = time.perf_counter()
        if messages and messages[0].get("content") == HANDOFF_SUMMARY_INSTRUCTIONS:
            self.asked.append((now, "summary"))
            return FakeReply(text="The customer asked for a person; nothing else is pending.")
        if messages and messages[-1].get("role") == "tool":
            self.asked.append((now, "after_tools"))
            results = 0
            for message in reversed(messages):
                if message.get("role") != "tool":
                    break
                results += 1
            return FakeReply(text=f"Checked {results} order(s): all shipped.")
        self.asked.append((now, "turn"))
        text = last_user_text(messages)
        kind, _, rest = text.partition(" ")
        if kind in ("tool1", "tool3"):
            order = rest.split(":")[0]
            calls = [
                {"name": "lookup_order", "arguments": {"order_id": f"A{order}-{i}"}}
                for i in range(1 if kind == "tool1" else 3)
            ]
            return FakeReply(text="", tool_calls=calls)
        if kind == "handoff":
            call = {"name": "handoff_to_human", "arguments": {"reason": "asked for a human"}}
            return FakeReply(text=CONNECTING, tool_calls=[call])
        return FakeReply(text="echo: " + text)


class CpuTally:
    """CPU seconds of each process per measured item, net of what the idle system spends.

    The dev server, the worker's pollers and the gateway burn some CPU even when nothing
    happens; a slow item would otherwise be charged more of that than a fast one. Windows
    are added one item at a time so interleaved kinds are accounted separately (the
    kernel counts in 10 ms ticks: single windows are coarse, sums over hundreds are not).
    """

    def __init__(self, pids: dict[str, int]) -> None:
        self._pids = pids
        self.idle_ms_per_s: dict[str, float] = {}
        self._spent: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self._wall: dict[str, float] = defaultdict(float)
        self._items: Counter[str] = Counter()

    def snapshot(self) -> tuple[float, dict[str, float]]:
        """Wall clock and every process's CPU seconds, now."""
        return time.perf_counter(), {name: cpu_seconds(pid) for name, pid in self._pids.items()}

    async def measure_idle(self, seconds: float) -> None:
        """What each process spends per second with nothing to do."""
        before = self.snapshot()
        await asyncio.sleep(seconds)
        after = self.snapshot()
        wall = after[0] - before[0]
        self.idle_ms_per_s = {
            name: round((after[1][name] - before[1][name]) * 1000 / wall, 2) for name in self._pids
        }

    def add(self, kind: str, before: tuple[float, dict[str, float]]) -> None:
        """Charge the window since ``before`` (a ``snapshot``) to one item of ``kind``."""
        after = self.snapshot()
        spent = self._spent[kind]
        for name in self._pids:
            spent[name] += after[1][name] - before[1][name]
        self._wall[kind] += after[0] - before[0]
        self._items[kind] += 1

    def per_item_ms(self, kind: str) -> dict[str, float]:
        """Net CPU milliseconds per item of ``kind``, for each process and in all."""
        items = max(1, self._items[kind])
        net: dict[str, float] = {}
        for name in self._pids:
            idle = self.idle_ms_per_s.get(name, 0.0) / 1000 * self._wall[kind]
            net[name] = round(max(0.0, self._spent[kind][name] - idle) * 1000 / items, 2)
        net["total"] = round(sum(net.values()), 2)
        return net


@dataclass
class Bench:
    """The system under test as this process sees it, and what it has observed so far."""

    gateway: str
    webhooks: Webhooks
    http: httpx.AsyncClient
    messages: Arrivals
    tasks: Arrivals
    model: ScriptedModel
    cpu: CpuTally
    gap: float
    timeout: float = 30.0
    failures: Counter[str] = field(default_factory=Counter)

    def api(self, path: str) -> str:
        """Full URL of an operator API path."""
        return f"{self.gateway}/api{path}"

    async def pause(self) -> None:
        """Space requests like real conversations (and let the last one's tail finish)."""
        await asyncio.sleep(self.gap * random.uniform(0.8, 1.2))


async def arrival(future: asyncio.Future[float], timeout: float) -> float | None:
    """The time ``future`` is resolved with, or None after ``timeout`` seconds."""
    try:
        return await asyncio.wait_for(future, timeout)
    except TimeoutError:
        return None


def conversation_path(customer: str) -> str:
    """``/conversations/{id}`` with the ``+`` percent-encoded, as an operator's client would."""
    return "/conversations/" + quote(conversation_id(customer), safe="")


@dataclass
class Turn:
    """One text turn, as the benchmark saw it.

    Times are seconds from sending the webhook, on this process's clock; ``wall`` is the
    epoch time of sending, to place the server's event times on the same axis.
    """

    customer: str
    wall: float
    ack: float
    reply: float
    asked: list[tuple[float, str]]
    body: str


async def text_turn(b: Bench, customer: str, text: str) -> Turn | None:
    """One signed inbound SMS, then wait for the reply to reach the fake Twilio."""
    request = b.webhooks.request(customer, text)
    body: list[str] = []

    def to_customer(message: dict[str, Any]) -> bool:
        if message["to"] != customer:
            return False
        body.append(str(message["body"]))
        return True

    replied = b.messages.expect(to_customer)
    mark = len(b.model.asked)
    wall, sent = time.time(), time.perf_counter()
    try:
        status = await b.webhooks.pool.send(request)
    except (OSError, asyncio.IncompleteReadError, ValueError):
        status = 599
    ack = time.perf_counter() - sent
    at = await arrival(replied, b.timeout)
    if status != 200 or at is None:
        b.failures[f"turn: status {status}" if status != 200 else "turn: no reply"] += 1
        return None
    asked = [(t - sent, purpose) for t, purpose in b.model.asked[mark:]]
    return Turn(customer, wall, ack=ack, reply=at - sent, asked=asked, body=body[0])


async def api_call(
    b: Bench, method: str, path: str, expected: int, body: dict[str, Any] | None = None
) -> tuple[float, dict[str, Any]] | None:
    """One operator API request; its latency and JSON answer (None if it failed)."""
    started = time.perf_counter()
    try:
        response = await b.http.request(method, b.api(path), json=body, headers=AUTH)
    except httpx.HTTPError as exc:
        b.failures[f"{method} {path}: {type(exc).__name__}"] += 1
        return None
    elapsed = time.perf_counter() - started
    if response.status_code != expected:
        b.failures[f"{method}: status {response.status_code}"] += 1
        return None
    answer: dict[str, Any] = response.json()
    return elapsed, answer


# --- where the time goes, by the server's own clock ----------------------------------------------


@dataclass
class ActivityRound:
    """Regular activities one workflow task scheduled together, from the history's events.

    Times are epoch seconds from the dev server, which reads the same system clock as this
    process: placed on a sample's axis with the sample's ``wall``, they split it into parts.
    """

    name: str
    calls: int
    scheduled: float  # the workflow task that scheduled them completed
    dispatch: float  # scheduled → started, the slowest of the round (seconds)
    done: float  # the last of them completed
    resumed: float  # the workflow task that goes on with their results started


@dataclass
class History:
    """What one conversation's history says about time: activity rounds, workflow tasks."""

    rounds: list[ActivityRound] = field(default_factory=list)
    task_starts: list[float] = field(default_factory=list)  # epoch seconds, oldest first

    def round(self, name: str, start: float, end: float) -> ActivityRound | None:
        """The round of activity ``name`` scheduled between ``start`` and ``end``."""
        return next(
            (r for r in self.rounds if r.name == name and start <= r.scheduled <= end), None
        )

    def task_start(self, start: float, end: float) -> float | None:
        """The first workflow task started between ``start`` and ``end``."""
        return next((t for t in self.task_starts if start <= t <= end), None)


async def histories(client: Client, customers: list[str]) -> dict[str, History]:
    """The history of each customer's conversation, read for its event times."""
    found: dict[str, History] = {}
    for customer in customers:
        history = await client.get_workflow_handle(conversation_id(customer)).fetch_history()
        at: dict[int, float] = {}
        scheduled: dict[int, tuple[str, int]] = {}  # event id → (activity, its workflow task)
        started: dict[int, float] = {}  # scheduled event id → time
        completed: dict[int, tuple[float, int]] = {}  # scheduled event id → (time, event id)
        task_starts: list[tuple[int, float]] = []
        for event in history.events:
            when = event.event_time.ToNanoseconds() / 1e9
            at[event.event_id] = when
            kind = event.event_type
            if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                attributes = event.activity_task_scheduled_event_attributes
                scheduled[event.event_id] = (
                    attributes.activity_type.name,
                    attributes.workflow_task_completed_event_id,
                )
            elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                started[event.activity_task_started_event_attributes.scheduled_event_id] = when
            elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                done = event.activity_task_completed_event_attributes.scheduled_event_id
                completed[done] = (when, event.event_id)
            elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
                task_starts.append((event.event_id, when))
        groups: dict[int, list[int]] = {}
        for event_id, (_, task) in scheduled.items():
            if event_id in completed and event_id in started:
                groups.setdefault(task, []).append(event_id)
        found[customer] = timed = History(task_starts=[t for _, t in task_starts])
        for ids in groups.values():
            last_at, last_id = max(completed[i] for i in ids)
            resumed = next((t for e, t in task_starts if e > last_id), None)
            if resumed is not None:
                timed.rounds.append(
                    ActivityRound(
                        name=scheduled[ids[0]][0],
                        calls=len(ids),
                        scheduled=min(at[i] for i in ids),
                        dispatch=max(started[i] - at[i] for i in ids),
                        done=last_at,
                        resumed=resumed,
                    )
                )
    return found


def timeline(parts: list[tuple[str, list[float]]]) -> dict[str, Any]:
    """Percentiles of each consecutive part of a path (their means add up to the whole's)."""
    return {name: summary(values) for name, values in parts}


# --- phase 1: the operator API's reads ---------------------------------------------------------


async def open_conversations(b: Bench, customers: list[str]) -> None:
    """One text each, so each customer has an open conversation (this warms everything up)."""
    for customer in customers:
        await text_turn(b, customer, "hello")
        await b.pause()


async def measure_reads(b: Bench, customers: list[str], samples: int) -> dict[str, Any]:
    """``GET /api/conversations`` with ``len(customers)`` open, and ``GET …/{id}``."""
    measured: dict[str, list[float]] = {"list": [], "get_one": []}
    rows: Counter[int] = Counter()
    for read in measured:
        for i in range(samples + 10):  # the first 10 warm up
            path = "/conversations"
            if read == "get_one":
                path = conversation_path(random.choice(customers))
            before = b.cpu.snapshot()
            result = await api_call(b, "GET", path, 200)
            if result is not None and i >= 10:
                b.cpu.add(f"{read}_{len(customers)}", before)
                measured[read].append(result[0])
                if read == "list":
                    rows[len(result[1]["conversations"])] += 1
            await asyncio.sleep(b.gap / 5)  # reads change nothing: no tail to wait for
    return {
        "open": len(customers),
        "rows_listed": dict(rows),
        **{read: summary(values) for read, values in measured.items()},
    }


# --- phase 2: text turns with and without tools --------------------------------------------------


def turn_text(kind: str, n: int) -> str:
    """What the customer writes; its first word tells the fake model what to do."""
    if kind == "plain":
        return f"plain {n}: when do you open on Saturday?"
    return f"{kind} {n}: where is my order A{n}?"


def expected_body(kind: str) -> str:
    """How each kind's reply starts (proof that the tools really ran)."""
    if kind == "plain":
        return "echo: "
    return f"Checked {1 if kind == 'tool1' else 3} order(s)"


async def measure_turns(
    b: Bench, customers: list[str], rounds: int, record: bool = True
) -> dict[str, list[Turn]]:
    """``rounds`` rounds of one turn of each kind, in random order, across ``customers``.

    Interleaving means drift (the dev server's SQLite growing, another process waking up)
    touches every kind alike, so the ratios hold even when the absolute figures move.
    """
    turns: dict[str, list[Turn]] = {kind: [] for kind in KINDS}
    for round_ in range(rounds):
        kinds = list(KINDS)
        random.shuffle(kinds)
        for index, kind in enumerate(kinds):
            n = round_ * len(KINDS) + index
            before = b.cpu.snapshot()
            turn = await text_turn(b, customers[n % len(customers)], turn_text(kind, n))
            await b.pause()
            if not record:
                continue
            b.cpu.add(kind, before)
            if turn is None:
                continue
            if not turn.body.startswith(expected_body(kind)):
                b.failures[f"{kind}: unexpected reply {turn.body[:40]!r}"] += 1
                continue
            turns[kind].append(turn)
    return turns


TURN_PARTS = (
    "webhook → workflow task started",
    "workflow task started → model asked",
    "model answered → run_tool scheduled",
    "run_tool scheduled → completed",
    "completed → workflow task started",
    "workflow task started → model asked again",
    "model asked (last) → reply at Twilio",
)
"""A text turn, part by part; the five in the middle are a tool round (a plain turn has none)."""


def turn_parts(t: Turn, history: History) -> tuple[float, ...] | None:
    """One turn's parts in seconds: its own clock, and the server's events on its axis."""
    end = t.wall + t.reply
    task = history.task_start(t.wall, end)
    if task is None:
        return None
    started, asked = task - t.wall, t.asked[0][0]
    if len(t.asked) == 1:
        return started, asked - started, t.reply - asked
    found = history.round("run_tool", t.wall, end)
    if found is None:
        return None
    scheduled, finished = found.scheduled - t.wall, found.done - t.wall
    resumed, again = found.resumed - t.wall, t.asked[1][0]
    return (started, asked - started, scheduled - asked, finished - scheduled,
            resumed - finished, again - resumed, t.reply - again)  # fmt: skip


def turn_results(turns: dict[str, list[Turn]], timed: dict[str, History]) -> dict[str, Any]:
    """Percentiles of each kind, and each turn split in parts with the server's events."""
    results: dict[str, Any] = {}
    for kind, done in turns.items():
        entry: dict[str, Any] = {
            "webhook_to_reply": summary([t.reply for t in done]),
            "ack": summary([t.ack for t in done]),
            "webhook_to_model_asked": summary([t.asked[0][0] for t in done]),
            "model_asked_to_reply": summary([t.reply - t.asked[-1][0] for t in done]),
        }
        names = TURN_PARTS if kind != "plain" else (TURN_PARTS[0], TURN_PARTS[1], TURN_PARTS[-1])
        parts: dict[str, list[float]] = {name: [] for name in names}
        dispatch: list[float] = []
        for t in done:
            values = turn_parts(t, timed[t.customer])
            if values is None:
                continue
            for name, value in zip(names, values, strict=True):
                parts[name].append(value)
            found = timed[t.customer].round("run_tool", t.wall, t.wall + t.reply)
            if found is not None:
                dispatch.append(found.dispatch)
        entry["parts"] = timeline(list(parts.items()))
        if kind != "plain":
            # Model asked (it answers with the tool calls) → asked again with the results.
            entry["tool_round"] = summary([t.asked[1][0] - t.asked[0][0] for t in done])
            entry["run_tool_dispatch"] = summary(dispatch)
        results[kind] = entry
    return results


# --- phase 3: handoff, the human's message, resume ---------------------------------------------


@dataclass
class Cycle:
    """One handoff cycle: seconds on this process's clock (``wall``: epoch time of the webhook)."""

    customer: str
    wall: float
    reply: float  # webhook → "connecting you" at Twilio
    task: float  # webhook → TaskRouter task at Twilio
    summary_asked: float | None  # webhook → the summary's model request
    message_ack: float  # POST …/messages → 202
    message_sent: float  # POST …/messages → the human's text at Twilio
    resume_ack: float  # POST …/resume → 202


async def handoff_cycle(b: Bench, customer: str, n: int) -> Cycle | None:
    """Hand off (the model asks for it), a human writes, the AI takes the conversation back."""
    conversation = conversation_id(customer)
    request = b.webhooks.request(customer, f"handoff {n}: I want a human")
    told = b.messages.expect(lambda m: m["to"] == customer and m["body"] == CONNECTING)
    task = b.tasks.expect(lambda t: t["parsed_attributes"]["conversation_id"] == conversation)
    mark = len(b.model.asked)
    wall, sent = time.time(), time.perf_counter()
    try:
        status = await b.webhooks.pool.send(request)
    except (OSError, asyncio.IncompleteReadError, ValueError):
        status = 599
    told_at = await arrival(told, b.timeout)
    task_at = await arrival(task, b.timeout)
    if status != 200 or told_at is None or task_at is None:
        b.failures["handoff: " + ("no reply" if told_at is None else "no task")] += 1
        return None
    summaries = [t for t, purpose in b.model.asked[mark:] if purpose == "summary"]
    await b.pause()

    text = f"Hi, Sam here ({n})."
    human = b.messages.expect(lambda m: m["to"] == customer and m["body"] == text)
    started = time.perf_counter()
    path = conversation_path(customer)
    posted = await api_call(b, "POST", f"{path}/messages", 202, {"text": text})
    human_at = await arrival(human, b.timeout)
    if posted is None or human_at is None or posted[1]["status"] != "human":
        b.failures["human message: " + ("no 202" if posted is None else "not sent")] += 1
        return None
    await b.pause()

    resumed = await api_call(b, "POST", f"{path}/resume", 202, {})
    if resumed is None or resumed[1]["status"] != "ai":
        b.failures["resume: no 202 or not back to the AI"] += 1
        return None
    return Cycle(
        customer,
        wall,
        reply=told_at - sent,
        task=task_at - sent,
        summary_asked=summaries[0] - sent if summaries else None,
        message_ack=posted[0],
        message_sent=human_at - started,
        resume_ack=resumed[0],
    )


async def measure_handoffs(
    b: Bench, customers: list[str], samples: int, record: bool = True
) -> list[Cycle]:
    """``samples`` handoff cycles, each on the next customer (a cycle ends back with the AI)."""
    cycles: list[Cycle] = []
    for i in range(samples):
        before = b.cpu.snapshot()
        # No pause after a cycle: it ends with the resume's 202, which is answered once the
        # workflow task that applied it is done, and the next cycle is another customer's.
        cycle = await handoff_cycle(b, customers[i % len(customers)], i)
        if record:
            b.cpu.add("handoff_cycle", before)
            if cycle is not None:
                cycles.append(cycle)
    return cycles


HANDOFF_PARTS = (
    "webhook → 'connecting you' at Twilio",
    "reply sent → prepare_handoff scheduled",
    "prepare_handoff scheduled → completed",
    "completed → workflow task started",
    "workflow task started → deliver_handoff scheduled",
    "deliver_handoff scheduled → task at TaskRouter",
)
"""Webhook → TaskRouter task, part by part."""


def handoff_results(cycles: list[Cycle], timed: dict[str, History]) -> dict[str, Any]:
    """Percentiles of each step of the handoff cycles, the path to the task in parts."""
    parts: dict[str, list[float]] = {name: [] for name in HANDOFF_PARTS}
    summary_asked: list[float] = []
    for c in cycles:
        end = c.wall + c.task
        prepare = timed[c.customer].round("prepare_handoff", c.wall, end)
        deliver = timed[c.customer].round("deliver_handoff", c.wall, end)
        if prepare is None or deliver is None:
            continue
        scheduled, done = prepare.scheduled - c.wall, prepare.done - c.wall
        resumed, delivering = prepare.resumed - c.wall, deliver.scheduled - c.wall
        values = (c.reply, scheduled - c.reply, done - scheduled, resumed - done,
                  delivering - resumed, c.task - delivering)  # fmt: skip
        for name, value in zip(HANDOFF_PARTS, values, strict=True):
            parts[name].append(value)
        if c.summary_asked is not None:
            summary_asked.append(c.summary_asked - scheduled)
    return {
        "webhook_to_connecting_reply": summary([c.reply for c in cycles]),
        "webhook_to_task": summary([c.task for c in cycles]),
        "parts": timeline(list(parts.items())),
        "prepare_scheduled_to_summary_asked": summary(summary_asked),
        "human_message_202": summary([c.message_ack for c in cycles]),
        "human_message_to_twilio": summary([c.message_sent for c in cycles]),
        "resume_202": summary([c.resume_ack for c in cycles]),
    }


# --- the run ------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=200, help="measured turns of each kind")
    parser.add_argument("--handoffs", type=int, default=200, help="measured handoff cycles")
    parser.add_argument("--reads", type=int, default=200, help="measured GETs of each kind")
    parser.add_argument(
        "--open", default="10,50", help="open conversations for the reads (comma-separated)"
    )
    parser.add_argument("--gap", type=float, default=0.08, help="seconds between requests")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the worker and the gateway (repeatable)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a short run: 40 samples of each, 10 and 25 open"
    )
    args = parser.parse_args()
    if args.quick:
        args.turns, args.handoffs, args.reads, args.open = 40, 40, 40, "10,25"
    return args


async def main() -> None:
    args = parse_args()
    sizes = sorted(int(n) for n in args.open.split(","))
    work = Path(tempfile.mkdtemp(prefix="switchboard-bench-tools-"))
    server = DevServer(port=free_port(), ui_port=None, db_file=work / "temporal.db",
                       log_file=work / "temporal.log")  # fmt: skip
    await server.start()
    assert server.process is not None
    messages, tasks, model = Arrivals(), Arrivals(), ScriptedModel()
    twilio, llm = TimedTwilio(tasks.arrived), FakeLLM(BENCH_LLM_KEY)
    twilio.on_accept = messages.arrived
    llm.responder = model
    processes = []
    results: dict[str, Any] = {"config": vars(args), "cpus": os.cpu_count()}
    began = time.perf_counter()
    try:
        async with serve(twilio.app) as twilio_url, serve(llm.app) as llm_url:
            env = product_env(server.address, twilio_url, llm_url, work,
                              AGENT=AGENT, MESSAGE_BATCH_WINDOW="0s", GATEWAY_API_KEY=API_KEY,
                              TWILIO_TASKROUTER_BASE_URL=twilio_url,
                              TWILIO_TASKROUTER_WORKSPACE_SID=WORKSPACE,
                              TWILIO_TASKROUTER_WORKFLOW_SID=WORKFLOW)  # fmt: skip
            for name in UNSET:
                env.pop(name, None)
            for item in args.env:
                key, _, value = item.partition("=")
                env[key] = value
            port = free_port()
            gateway = f"http://127.0.0.1:{port}"
            processes.append(spawn(["worker.py"], env, work / "worker.log"))
            gateway_env = {**env, "GATEWAY_PORT": str(port), "PUBLIC_BASE_URL": gateway}
            processes.append(spawn(["-m", "gateway"], gateway_env, work / "gateway.log"))
            await wait_healthy(gateway)
            client = await Client.connect(server.address)
            cpu = CpuTally({"temporal": server.process.pid, "worker": processes[0].pid,
                            "gateway": processes[1].pid, "bench": os.getpid()})  # fmt: skip
            webhooks = Webhooks(gateway, 4)
            await webhooks.pool.open()
            try:
                async with httpx.AsyncClient(timeout=30) as http:
                    b = Bench(gateway, webhooks, http, messages, tasks, model, cpu, args.gap)
                    await run_phases(b, client, args, sizes, results)
            finally:
                await webhooks.pool.close()
    finally:
        stop_all(processes)
        server.stop()
    results["seconds"] = round(time.perf_counter() - began, 1)
    report(results)
    save_results("tools", results, work)


async def run_phases(
    b: Bench, client: Client, args: argparse.Namespace, sizes: list[int], results: dict[str, Any]
) -> None:
    """Reads, turns and handoffs, in that order (the reads need exactly N open conversations)."""
    customers: list[str] = []
    phases: dict[str, float] = {}
    started = time.perf_counter()
    for size in sizes:
        numbers = random.sample(range(2000000, 9999999), size - len(customers))
        new = [f"+1415{n:07d}" for n in numbers]
        print(f"opening {len(new)} conversations ({size} open) …", flush=True)
        await open_conversations(b, new)
        customers += new
        print(f"operator reads with {size} open: {args.reads} of each …", flush=True)
        results[f"reads_{size}_open"] = await measure_reads(b, customers, args.reads)
    phases["open_and_read"], started = time.perf_counter() - started, time.perf_counter()

    # Settle first: the reads leave the dev server a moment of its own work to finish.
    await asyncio.sleep(2.0)
    await b.cpu.measure_idle(5.0)
    results["idle_cpu_ms_per_s"] = b.cpu.idle_ms_per_s

    print(f"text turns: {args.turns} of each kind, interleaved …", flush=True)
    started = time.perf_counter()
    await measure_turns(b, customers, 10, record=False)
    turns = await measure_turns(b, customers, args.turns)
    results["turns"] = turn_results(turns, await histories(client, customers))
    phases["turns"], started = time.perf_counter() - started, time.perf_counter()

    print(f"handoff cycles: {args.handoffs} …", flush=True)
    await measure_handoffs(b, customers, 5, record=False)
    cycles = await measure_handoffs(b, customers, args.handoffs)
    results["handoff"] = handoff_results(cycles, await histories(client, customers))
    phases["handoffs"] = time.perf_counter() - started

    kinds = [f"{read}_{size}" for size in sizes for read in ("list", "get_one")]
    kinds += [*KINDS, "handoff_cycle"]
    results["cpu_ms_per_item"] = {kind: b.cpu.per_item_ms(kind) for kind in kinds}
    results["phase_seconds"] = {name: round(seconds, 1) for name, seconds in phases.items()}
    results["failures"] = dict(b.failures)


def table_line(name: str, s: dict[str, Any], base: dict[str, Any]) -> str:
    """One row of the table: percentiles in ms and the ratios to the baseline turn."""
    if not s.get("n"):
        return f"{name:46} {0:>5}"
    figures = " ".join(f"{s[p]:>8.2f}" for p in ("p50", "p95", "p99", "max"))
    ratios = f"{s['p50'] / base['p50']:7.2f}× {s['p95'] / base['p95']:7.2f}×"
    return f"{name:46} {s['n']:>5} {figures}   {ratios}"


def parts_lines(title: str, parts: dict[str, Any], total: dict[str, Any]) -> list[str]:
    """A path in parts: p50, p95 and mean of each (the means add up to the total's)."""
    lines = [f"\n{title:56} {'p50':>7} {'p95':>7} {'mean':>7}"]
    for name, s in parts.items():
        if s.get("n"):
            lines.append(f"  {name:54} {s['p50']:>7.2f} {s['p95']:>7.2f} {s['mean']:>7.2f}")
    means = sum(s.get("mean", 0.0) for s in parts.values())
    lines.append(f"  {'sum of the means (the whole: mean ' + str(total['mean']) + ')':54} "
                 f"{'':>7} {'':>7} {means:>7.2f}")  # fmt: skip
    return lines


def report(results: dict[str, Any]) -> None:
    turns, handoff = results["turns"], results["handoff"]
    base = turns["plain"]["webhook_to_reply"]
    rows: list[tuple[str, dict[str, Any] | None]] = [("text turns (webhook → reply)", None)]
    rows += [(f"{KIND_NAMES[k]}", turns[k]["webhook_to_reply"]) for k in KINDS]
    rows += [
        ("  baseline: webhook → 200 (ack)", turns["plain"]["ack"]),
        ("  baseline: webhook → model asked", turns["plain"]["webhook_to_model_asked"]),
        ("  baseline: model asked → reply", turns["plain"]["model_asked_to_reply"]),
        ("  1 call: tool round (model → model again)", turns["tool1"]["tool_round"]),
        ("  3 calls: tool round (model → model again)", turns["tool3"]["tool_round"]),
        ("handoff (the model calls handoff_to_human)", None),
        ("webhook → 'connecting you' at Twilio", handoff["webhook_to_connecting_reply"]),
        ("webhook → task at TaskRouter", handoff["webhook_to_task"]),
        ("operator API", None),
        ("POST …/messages → 202", handoff["human_message_202"]),
        ("POST …/messages → text at Twilio", handoff["human_message_to_twilio"]),
        ("POST …/resume → 202", handoff["resume_202"]),
    ]
    reads = [results[k] for k in results if k.startswith("reads_")]
    for read in sorted(reads, key=lambda r: int(r["open"])):
        rows.append((f"GET /api/conversations ({read['open']} open)", read["list"]))
        rows.append((f"GET /api/conversations/{{id}} ({read['open']} open)", read["get_one"]))

    header = " ".join(f"{p:>8}" for p in ("p50", "p95", "p99", "max"))
    print(f"\n{'(ms)':46} {'n':>5} {header}   p50×base p95×base")
    for name, s in rows:
        print(name if s is None else table_line(name, s, base))
    for kind in KINDS:
        title = f"{KIND_NAMES[kind]}: where the time goes (ms)"
        for line in parts_lines(title, turns[kind]["parts"], turns[kind]["webhook_to_reply"]):
            print(line)
        if kind != "plain":
            print(f"  {'of which run_tool scheduled → started':54} "
                  f"{turns[kind]['run_tool_dispatch'].get('p50', 0):>7.2f}")  # fmt: skip
    title = "handoff: webhook → task (ms)"
    for line in parts_lines(title, handoff["parts"], handoff["webhook_to_task"]):
        print(line)
    print(f"  {'of which prepare_handoff scheduled → summary asked':54} "
          f"{handoff['prepare_scheduled_to_summary_asked'].get('p50', 0):>7.2f}")  # fmt: skip

    one, three = turns["tool1"]["webhook_to_reply"], turns["tool3"]["webhook_to_reply"]
    task = handoff["webhook_to_task"]
    print(
        f"\none tool call adds {one['p50'] - base['p50']:.1f} ms at p50 "
        f"({one['p50'] / base['p50']:.2f}× the baseline); three parallel calls add "
        f"{three['p50'] - one['p50']:.1f} ms more ({three['p50'] / one['p50']:.2f}× one call)"
    )
    print(
        f"handoff: the task reaches TaskRouter {task['p50']:.1f} ms after the webhook at p50 "
        f"({task['p50'] / base['p50']:.2f}× a plain turn)"
    )
    print(f"idle CPU (ms/s): {results['idle_cpu_ms_per_s']}")
    print("CPU per item, net of idle (ms):")
    for kind, cpu in results["cpu_ms_per_item"].items():
        print(f"  {KIND_NAMES.get(kind, kind):22} {cpu}")
    print(f"failures: {results['failures'] or 'none'}; the run took {results['seconds']} s "
          f"({results['phase_seconds']})")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
