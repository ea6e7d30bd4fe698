"""Intelligence benchmark: how soon after a turn's reply its real-time operator results are stored.

``.venv/bin/python benchmarks/intelligence.py --help``. It starts its own Temporal dev server,
one worker and one gateway as separate processes — exactly as a user would, with the
built-in operators on (sentiment, escalation, topic and do-not-contact on every customer
turn) — and, in this process, an instant fake OpenAI-compatible model (replies and the
operators' Structured Outputs) and a fake Twilio. Spaced text turns go one at a time across
a set of customers: a signed webhook, the reply at the fake Twilio, a pause, the next.

Measured for every turn, after a warm-up:

1. the baseline: webhook → reply at Twilio, the plain reply latency of the same run;
2. reply at Twilio → the turn's operator results stored: every turn operator's row for
   (conversation, turn) readable in the store. This process polls the store's SQLite file
   (read only, new rows by id, every ``--poll``): that is what "stored" means to any reader,
   the operator API included, and a poll is one indexed query in microseconds, where polling
   the API as finely would add an HTTP request, a gateway hop and a store read each time to
   two busy cores. The poll's interval bounds the error (5 ms against a 2 s target);
3. where that time goes, from the dev server's own event times and the results' ``at`` (the
   worker's clock when each operator finished, before the write), all on this machine's one
   system clock: reply → ``analyze_conversation`` scheduled, → started, → the last operator
   finished, → visible in the store.

Target: reply → stored p95 ≤ 2 s with an instant model. Results are printed as percentiles
and saved as JSON under ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness import (
    BENCH_ACCOUNT_SID,
    BENCH_AUTH_TOKEN,
    BENCH_LLM_KEY,
    product_env,
    save_results,
    spawn,
    stop_all,
    summary,
    wait_healthy,
)
from benchmarks.messaging import Webhooks
from switchboard.contract.addresses import conversation_id
from switchboard.contract.names import ANALYZE_CONVERSATION_ACTIVITY
from switchboard.devtools.devserver import DevServer
from tests.support.fake_llm import FakeLLM
from tests.support.fake_twilio import FakeTwilio
from tests.support.server import free_port, serve

TURN_OPERATORS = 4
"""The built-ins that run on every customer turn: sentiment, escalation, topic, do-not-contact."""


@dataclass
class Turn:
    """One customer text and what became of it; ``perf_counter`` times unless ``_wall``."""

    customer: str
    number: int  # the customer's turn: its results' last turn
    sent: float
    replied: float | None = None
    replied_wall: float | None = None
    stored: float | None = None
    finished_wall: float | None = None  # the latest ``at`` of its results
    operators: set[str] = field(default_factory=set)
    answered: asyncio.Event = field(default_factory=asyncio.Event)


class StorePoller:
    """Reads new rows of ``operator_results`` from the store's SQLite file every ``interval``.

    Rows are only ever added or updated in place, so ``id > last seen`` is every new result;
    a turn's results are written in one transaction and become visible together.
    """

    def __init__(self, path: Path, interval: float) -> None:
        self._path = path
        self._interval = interval
        self._db: sqlite3.Connection | None = None
        self._last = 0

    async def run(self, turns: dict[tuple[str, int], Turn]) -> None:
        """Poll until cancelled."""
        try:
            while True:
                self.scan(turns)
                await asyncio.sleep(self._interval)
        finally:
            if self._db is not None:
                self._db.close()

    def scan(self, turns: dict[tuple[str, int], Turn]) -> None:
        """Mark the turns whose results are all visible now."""
        if self._db is None:
            if not self._path.exists():
                return
            self._db = sqlite3.connect(f"file:{self._path}?mode=ro", uri=True)
        try:
            rows = self._db.execute(
                "SELECT id, conversation_id, last_turn, operator, at FROM operator_results "
                "WHERE id > ? AND trigger = 'turn' ORDER BY id",
                (self._last,),
            ).fetchall()
        except sqlite3.OperationalError:  # the worker has not created the schema yet
            return
        now = time.perf_counter()
        for row_id, conversation, last_turn, operator, at in rows:
            self._last = row_id
            turn = turns.get((conversation, last_turn))
            if turn is None:
                continue
            turn.operators.add(operator)
            finished = datetime.fromisoformat(at).timestamp()
            turn.finished_wall = max(turn.finished_wall or finished, finished)
            if len(turn.operators) >= TURN_OPERATORS and turn.stored is None:
                turn.stored = now


async def analyses(client: Client, customers: list[str]) -> dict[tuple[str, int], list[float]]:
    """Each turn analysis's scheduled and started times (epoch s), from the server's events."""
    found: dict[tuple[str, int], list[float]] = {}
    for customer in customers:
        conversation = conversation_id(customer)
        history = await client.get_workflow_handle(conversation).fetch_history()
        by_event: dict[int, tuple[str, int]] = {}
        for event in history.events:
            when = event.event_time.ToNanoseconds() / 1e9
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                attributes = event.activity_task_scheduled_event_attributes
                if attributes.activity_type.name != ANALYZE_CONVERSATION_ACTIVITY:
                    continue
                request = json.loads(attributes.input.payloads[0].data)
                if request["trigger"] == "turn":
                    key = (conversation, int(request["turns"][1]))
                    by_event[event.event_id] = key
                    found[key] = [when]
            elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                scheduled = event.activity_task_started_event_attributes.scheduled_event_id
                if scheduled in by_event:
                    found[by_event[scheduled]].append(when)
    return found


async def run_turns(
    webhooks: Webhooks,
    twilio: FakeTwilio,
    args: argparse.Namespace,
    turns: dict[tuple[str, int], Turn],
) -> list[str]:
    """Spaced turns, each awaited at Twilio, the measured ones added to ``turns`` as sent
    (the poller reads it); returns the customers."""
    customers = [f"+1415{n:07d}" for n in random.sample(range(2000000, 9999999), args.customers)]
    by_text: dict[str, Turn] = {}

    def on_accept(message: dict[str, Any]) -> None:
        turn = by_text.get(str(message["body"]).removeprefix("echo: "))
        if turn is not None and turn.replied is None:
            turn.replied, turn.replied_wall = time.perf_counter(), time.time()
            turn.answered.set()

    twilio.on_accept = on_accept
    numbers: Counter[str] = Counter()
    for i in range(args.warmup + args.turns):
        customer = customers[i % len(customers)]
        numbers[customer] += 1
        text = f"turn {i}: where is my order?"
        turn = Turn(customer=customer, number=numbers[customer], sent=time.perf_counter())
        by_text[text] = turn
        if i >= args.warmup:
            turns[(conversation_id(customer), turn.number)] = turn
        status = await webhooks.pool.send(webhooks.request(customer, text))
        if status != 200:
            raise RuntimeError(f"webhook answered {status}")
        await asyncio.wait_for(turn.answered.wait(), timeout=30)
        await asyncio.sleep(args.gap * random.uniform(0.8, 1.2))
    return customers


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Switchboard intelligence benchmark")
    parser.add_argument("--turns", type=int, default=300, help="measured turns")
    parser.add_argument("--warmup", type=int, default=20, help="turns not counted")
    parser.add_argument("--customers", type=int, default=20, help="conversations taking turns")
    parser.add_argument("--gap", type=float, default=0.3, help="seconds from a reply to the next")
    parser.add_argument("--poll", type=float, default=0.005, help="store poll interval, seconds")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the worker and gateway (repeatable)",
    )
    return parser.parse_args()


async def main() -> None:
    args = parse_args()
    work = Path(tempfile.mkdtemp(prefix="switchboard-bench-"))
    server = DevServer(port=free_port(), ui_port=None, db_file=work / "temporal.db",
                       log_file=work / "temporal.log")  # fmt: skip
    await server.start()
    twilio, llm = FakeTwilio(BENCH_ACCOUNT_SID, BENCH_AUTH_TOKEN), FakeLLM(BENCH_LLM_KEY)
    processes = []
    results: dict[str, Any] = {"config": vars(args), "cpus": os.cpu_count()}
    try:
        async with serve(twilio.app) as twilio_url, serve(llm.app) as llm_url:
            env = product_env(server.address, twilio_url, llm_url, work,
                              MESSAGE_BATCH_WINDOW="0s", INTELLIGENCE="true")  # fmt: skip
            env.update(item.split("=", 1) for item in args.env)
            port = free_port()
            gateway = f"http://127.0.0.1:{port}"
            processes.append(spawn(["worker.py"], env, work / "worker.log"))
            processes.append(spawn(["-m", "gateway"], {**env, "GATEWAY_PORT": str(port),
                                   "PUBLIC_BASE_URL": gateway}, work / "gateway.log"))  # fmt: skip
            await wait_healthy(gateway)
            client = await Client.connect(server.address)
            webhooks = Webhooks(gateway, 4)
            await webhooks.pool.open()
            turns: dict[tuple[str, int], Turn] = {}
            poller = StorePoller(work / "memory.db", args.poll)
            polling = asyncio.create_task(poller.run(turns))
            try:
                print(f"{args.turns} spaced turns (+{args.warmup} warm-up) across "
                      f"{args.customers} customers, ~{args.gap * 1000:.0f} ms apart …",
                      flush=True)  # fmt: skip
                customers = await run_turns(webhooks, twilio, args, turns)
                deadline = time.perf_counter() + 30
                while any(t.stored is None for t in turns.values()):
                    if time.perf_counter() > deadline:
                        break
                    await asyncio.sleep(0.1)
            finally:
                polling.cancel()
                await webhooks.pool.close()
            events = await analyses(client, customers)
    finally:
        stop_all(processes)
        server.stop()
    results.update(measure(list(turns.items()), events))
    report(results)
    save_results("intelligence", results, work)


def measure(
    turns: list[tuple[tuple[str, int], Turn]], events: dict[tuple[str, int], list[float]]
) -> dict[str, Any]:
    """The percentiles of each span (seconds in, ms out)."""
    done = [(key, t) for key, t in turns if t.replied is not None and t.stored is not None]
    spans: dict[str, list[float]] = {
        "webhook_to_reply": [],
        "reply_to_stored": [],
        "reply_to_scheduled": [],
        "scheduled_to_started": [],
        "started_to_finished": [],
        "finished_to_stored": [],
    }
    for key, t in done:
        assert t.replied is not None and t.stored is not None and t.replied_wall is not None
        spans["webhook_to_reply"].append(t.replied - t.sent)
        spans["reply_to_stored"].append(t.stored - t.replied)
        stored_wall = t.replied_wall + (t.stored - t.replied)
        times = events.get(key, [])
        if len(times) == 2 and t.finished_wall is not None:
            scheduled, started = times
            spans["reply_to_scheduled"].append(scheduled - t.replied_wall)
            spans["scheduled_to_started"].append(started - scheduled)
            spans["started_to_finished"].append(t.finished_wall - started)
            spans["finished_to_stored"].append(stored_wall - t.finished_wall)
    return {
        "turns": len(turns),
        "never_stored": len(turns) - len(done),
        **{name: summary(values) for name, values in spans.items()},
    }


def report(results: dict[str, Any]) -> None:
    rows = [
        ("baseline: webhook → reply at Twilio", results["webhook_to_reply"]),
        ("reply → operator results stored", results["reply_to_stored"]),
        ("  reply → analysis scheduled", results["reply_to_scheduled"]),
        ("  scheduled → started (dispatch)", results["scheduled_to_started"]),
        ("  started → last operator finished", results["started_to_finished"]),
        ("  finished → visible in the store", results["finished_to_stored"]),
    ]
    base = results["webhook_to_reply"]
    print(f"\n{'(ms)':42} {'n':>5} {'p50':>8} {'p95':>8} {'p99':>8} {'max':>8}  p50×base")
    for name, s in rows:
        if not s.get("n"):
            print(f"{name:42} {0:>5}")
            continue
        ratio = s["p50"] / base["p50"] if base.get("p50") else float("nan")
        print(f"{name:42} {s['n']:>5} {s['p50']:>8} {s['p95']:>8} {s['p99']:>8} {s['max']:>8}"
              f"  {ratio:>7.2f}×")  # fmt: skip
    stored = results["reply_to_stored"]
    verdict = "met" if stored.get("p95", float("inf")) <= 2000 else "missed"
    print(f"\ntarget: reply → stored p95 ≤ 2000 ms: {stored.get('p95')} ms ({verdict}); "
          f"turns never stored: {results['never_stored']} of {results['turns']}")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
