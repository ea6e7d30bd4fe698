"""Messaging benchmark: webhook acknowledgement, webhook → Twilio send, sustained load.

``make bench`` (or ``.venv/bin/python benchmarks/messaging.py --help``). It starts its own
Temporal dev server, one worker and two gateways as separate processes — exactly as a user
would — with an instant fake OpenAI-compatible LLM and a fake Twilio REST API served from
this process, and measures in one run:

1. the Temporal floor, with a worker in this process: signal → first and → second no-op
   activity start, with regular activities and with local ones (the shape of a text turn);
2. spaced turns through the product, once with the default design (a text turn is one
   workflow task running local activities) and once with regular activities;
3. sustained load: an open-loop rate across many customers, counting lost and duplicated
   replies, with the CPU each process spent per message.

Results are printed as percentiles and ratios to the floor, and saved as JSON under
``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker
from twilio.request_validator import RequestValidator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.floor import FloorClock, FloorWorkflow
from benchmarks.harness import (
    BENCH_ACCOUNT_SID,
    BENCH_AUTH_TOKEN,
    BENCH_LLM_KEY,
    CpuMeter,
    product_env,
    save_results,
    spawn,
    stop_all,
    summary,
    wait_healthy,
)
from benchmarks.loadgen import RawHttpPool
from switchboard.devtools.devserver import DevServer
from switchboard.devtools.twilio_sim import inbound_message_form
from tests.support.fake_llm import FakeLLM
from tests.support.fake_twilio import FakeTwilio
from tests.support.server import free_port, serve

BUSINESS = "+15005550001"


@dataclass
class Tracker:
    """What was sent and acknowledged, and which replies reached Twilio when.

    The fake LLM echoes the customer's last text. A reply answers every text of that
    customer up to the one it echoes: texts that queued up while the customer's previous
    turn ran are answered together, by design, in one reply.
    """

    sent: dict[str, float] = field(default_factory=dict)
    accepted: set[str] = field(default_factory=set)
    acks: list[float] = field(default_factory=list)
    failures: Counter[int] = field(default_factory=Counter)
    by_customer: dict[str, list[str]] = field(default_factory=dict)
    answered_at: dict[str, float] = field(default_factory=dict)
    replies: Counter[str] = field(default_factory=Counter)

    def record_send(self, customer: str, text: str, at: float) -> None:
        """A text is about to be sent."""
        self.sent[text] = at
        self.by_customer.setdefault(customer.removeprefix("whatsapp:"), []).append(text)

    def on_accept(self, message: dict[str, Any]) -> None:
        """Fake Twilio accepted a reply."""
        now = time.perf_counter()
        echoed = str(message["body"]).removeprefix("echo: ")
        self.replies[echoed] += 1
        texts = self.by_customer.get(str(message["to"]).removeprefix("whatsapp:"), [])
        if echoed not in texts:
            return
        for text in texts[: texts.index(echoed) + 1]:
            self.answered_at.setdefault(text, now)

    def e2e(self) -> list[float]:
        """Webhook sent → reply at Twilio, per answered text."""
        return [at - self.sent[text] for text, at in self.answered_at.items()]

    def duplicates(self) -> int:
        """Replies beyond the first that echo the same text."""
        return sum(count - 1 for count in self.replies.values() if count > 1)

    def answered(self) -> int:
        """Accepted texts that have been answered."""
        return sum(1 for text in self.accepted if text in self.answered_at)

    def lost(self) -> int:
        """Accepted texts never answered."""
        return len(self.accepted) - self.answered()


async def measure_floor(client: Client, n: int, gap: float, local: bool) -> dict[str, Any]:
    """Signal → first/second no-op activity start, spaced like real turns."""
    clock = FloorClock()
    queue = f"floor-{uuid.uuid4().hex[:6]}"
    async with Worker(client, task_queue=queue, workflows=[FloorWorkflow],
                      activities=[clock.floor_first, clock.floor_second]):  # fmt: skip
        handle = await client.start_workflow(FloorWorkflow.run, local, id=queue, task_queue=queue)
        sends: list[float] = []
        for _ in range(n + 5):
            sent_at = time.perf_counter()
            await handle.signal(FloorWorkflow.ping, sent_at)
            sends.append(sent_at)
            await asyncio.sleep(gap * random.uniform(0.8, 1.2))
        await handle.signal(FloorWorkflow.stop)
        await handle.result()
    sends = sends[5:]  # warm-up
    return {
        "signal_to_first_activity": summary([clock.first[s] - s for s in sends]),
        "signal_to_second_activity": summary([clock.second[s] - s for s in sends]),
    }


class Webhooks:
    """Signed inbound-message webhooks to one gateway over a lean connection pool."""

    def __init__(self, gateway: str, connections: int = 32) -> None:
        self.pool = RawHttpPool(gateway, connections)
        self._url = f"{gateway}/twilio/messaging"
        self._validator = RequestValidator(BENCH_AUTH_TOKEN)

    def request(self, customer: str, text: str) -> bytes:
        """A signed POST, exactly as Twilio would send it."""
        form = inbound_message_form(customer, BUSINESS, text, account_sid=BENCH_ACCOUNT_SID)
        signature = self._validator.compute_signature(self._url, form)
        return self.pool.form_post("/twilio/messaging", form, {"X-Twilio-Signature": signature})


async def send_one(webhooks: Webhooks, tracker: Tracker, customer: str, text: str,
                   due: float | None = None) -> None:  # fmt: skip
    """One inbound SMS. Latency counts from ``due`` (the intended send time) when given."""
    request = webhooks.request(customer, text)
    started = due if due is not None else time.perf_counter()
    tracker.record_send(customer, text, started)
    try:
        status = await webhooks.pool.send(request)
    except (OSError, asyncio.IncompleteReadError, ValueError):
        status = 599
    tracker.acks.append(time.perf_counter() - started)
    if status == 200:
        tracker.accepted.add(text)
    else:
        tracker.failures[status] += 1


async def spaced(webhooks: Webhooks, tracker: Tracker, n: int, gap: float,
                 tag: str) -> Tracker:  # fmt: skip
    """``n`` messages one at a time, ~``gap`` apart, across 50 customers."""
    customers = [f"+1415{random.randint(2000000, 9999999)}" for _ in range(50)]
    for i in range(n):
        await send_one(webhooks, tracker, random.choice(customers), f"{tag}-{i}")
        await asyncio.sleep(gap * random.uniform(0.8, 1.2))
    return tracker


async def sustained(webhooks: Webhooks, tracker: Tracker, rate: float, seconds: float,
                    customers: int) -> float:  # fmt: skip
    """An open-loop rate across ``customers``; returns the rate actually offered."""
    numbers = [f"+1628{n:07d}" for n in random.sample(range(2000000, 9999999), customers)]
    total = int(rate * seconds)
    start = time.perf_counter()
    tasks = []
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        customer = numbers[i % customers]
        tasks.append(asyncio.create_task(send_one(webhooks, tracker, customer, f"load-{i}", due)))
    await asyncio.gather(*tasks)
    return total / (time.perf_counter() - start)


async def drain(tracker: Tracker, timeout: float) -> None:
    """Wait for every sent message to be answered (or ``timeout``), then for stragglers."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline and tracker.lost():  # noqa: ASYNC110
        await asyncio.sleep(0.2)
    await asyncio.sleep(2)  # let any duplicate show itself


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Switchboard messaging benchmark")
    parser.add_argument("--spaced", type=int, default=300, help="spaced turns per design")
    parser.add_argument("--gap", type=float, default=0.15, help="seconds between spaced turns")
    parser.add_argument("--rate", type=float, default=100, help="sustained messages per second")
    parser.add_argument("--seconds", type=float, default=60, help="sustained duration")
    parser.add_argument("--customers", type=int, default=500, help="customers under load")
    parser.add_argument("--drain", type=float, default=600, help="max seconds to await replies")
    parser.add_argument("--batch-window", default="0s", help="MESSAGE_BATCH_WINDOW of the run")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the worker and gateways (repeatable)",
    )
    parser.add_argument(
        "--server-arg",
        action="append",
        default=[],
        help="extra argument for `temporal server start-dev` (repeatable)",
    )
    return parser.parse_args()  # fmt: skip


async def main() -> None:
    args = parse_args()
    work = Path(tempfile.mkdtemp(prefix="switchboard-bench-"))
    server = DevServer(port=free_port(), ui_port=None, db_file=work / "temporal.db",
                       log_file=work / "temporal.log", extra_args=args.server_arg)  # fmt: skip
    await server.start()
    assert server.process is not None
    twilio, llm = FakeTwilio(BENCH_ACCOUNT_SID, BENCH_AUTH_TOKEN), FakeLLM(BENCH_LLM_KEY)
    processes = []
    results: dict[str, Any] = {"config": vars(args), "cpus": os.cpu_count()}
    try:
        async with serve(twilio.app) as twilio_url, serve(llm.app) as llm_url:
            env = product_env(server.address, twilio_url, llm_url, work,
                              MESSAGE_BATCH_WINDOW=args.batch_window)  # fmt: skip
            env.update(item.split("=", 1) for item in args.env)
            gateways = {}
            processes.append(spawn(["worker.py"], env, work / "worker.log"))
            for design, local in (("local", "true"), ("regular", "false")):
                port = free_port()
                gateway_env = {**env, "GATEWAY_PORT": str(port),
                               "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
                               "CONVERSATION_LOCAL_ACTIVITIES": local}  # fmt: skip
                processes.append(spawn(["-m", "gateway"], gateway_env, work / f"gw-{design}.log"))
                gateways[design] = f"http://127.0.0.1:{port}"
            for url in gateways.values():
                await wait_healthy(url)
            client = await Client.connect(server.address)

            print(f"floor: {args.spaced} signals per design, ~{args.gap * 1000:.0f} ms apart …")
            meter = CpuMeter({"temporal": server.process.pid})
            meter.start()
            results["floor_local"] = await measure_floor(client, args.spaced, args.gap, True)
            results["floor_server_cpu_ms_per_signal"] = meter.per_item_ms(args.spaced + 5)
            results["floor_regular"] = await measure_floor(client, args.spaced, args.gap, False)

            senders = {design: Webhooks(url, 64) for design, url in gateways.items()}
            for sender in senders.values():
                await sender.pool.open()
            try:
                for design, webhooks in senders.items():
                    await spaced(webhooks, Tracker(), 10, args.gap, f"warm-{design}")
                    print(f"spaced turns ({design} activities): {args.spaced} …", flush=True)
                    tracker = Tracker()
                    twilio.on_accept = tracker.on_accept
                    await spaced(webhooks, tracker, args.spaced, args.gap, design)
                    await drain(tracker, 30)
                    results[f"spaced_{design}"] = {
                        "ack": summary(tracker.acks),
                        "webhook_to_send": summary(tracker.e2e()),
                        "lost": tracker.lost(),
                        "duplicated": tracker.duplicates(),
                        "rejected_webhooks": dict(tracker.failures),
                    }

                print(f"sustained: {args.rate:.0f}/s for {args.seconds:.0f} s across "
                      f"{args.customers} customers …", flush=True)  # fmt: skip
                load = Tracker()
                twilio.on_accept = load.on_accept
                meter = CpuMeter({"temporal": server.process.pid, "worker": processes[0].pid,
                                  "gateway": processes[1].pid, "harness": os.getpid()})  # fmt: skip
                meter.start()
                started = time.perf_counter()
                webhooks = senders["local"]
                offered = await sustained(webhooks, load, args.rate, args.seconds, args.customers)
                await drain(load, args.drain)
                elapsed = time.perf_counter() - started - 2
                results["sustained"] = {
                    "offered_per_s": round(offered, 1),
                    "completed_per_s": round(load.answered() / elapsed, 1),
                    "sent": len(load.sent),
                    "replied": load.answered(),
                    "lost": load.lost(),
                    "duplicated": load.duplicates(),
                    "rejected_webhooks": dict(load.failures),
                    "ack": summary(load.acks),
                    "webhook_to_send": summary(load.e2e()),
                    "cpu_ms_per_message": meter.per_item_ms(len(load.sent)),
                }
            finally:
                for sender in senders.values():
                    await sender.pool.close()
    finally:
        stop_all(processes)
        server.stop()
    report(results)
    save_results("messaging", results, work)


def report(results: dict[str, Any]) -> None:
    floor = results["floor_local"]["signal_to_first_activity"]
    rows = [
        ("floor: signal → local activity", floor),
        ("floor: signal → 2nd local activity", results["floor_local"]["signal_to_second_activity"]),
        ("floor: signal → activity", results["floor_regular"]["signal_to_first_activity"]),
        ("floor: signal → 2nd activity", results["floor_regular"]["signal_to_second_activity"]),
        ("spaced: webhook ack", results["spaced_local"]["ack"]),
        ("spaced: webhook → send (local acts)", results["spaced_local"]["webhook_to_send"]),
        ("spaced: webhook → send (regular acts)", results["spaced_regular"]["webhook_to_send"]),
        ("load: webhook ack", results["sustained"]["ack"]),
        ("load: webhook → send", results["sustained"]["webhook_to_send"]),
    ]
    print(f"\n{'path':40} {'n':>6} {'p50':>8} {'p95':>8} {'p99':>8} {'max':>9}   (ms)")
    for name, s in rows:
        if not s.get("n"):
            print(f"{name:40} {0:>6}")
            continue
        print(f"{name:40} {s['n']:>6} {s['p50']:>8} {s['p95']:>8} {s['p99']:>8} {s['max']:>9}")
    e2e = results["spaced_local"]["webhook_to_send"]
    print(f"\nspaced webhook → send p50 = {e2e['p50'] / floor['p50']:.2f}× the floor "
          f"(signal → local activity), {e2e['p50'] / rows[3][1]['p50']:.2f}× the "
          "two-activity floor")  # fmt: skip
    s = results["sustained"]
    print(
        f"sustained: offered {s['offered_per_s']}/s, completed {s['completed_per_s']}/s; "
        f"{s['sent']} sent, {s['replied']} replied, {s['lost']} lost, "
        f"{s['duplicated']} duplicated; webhooks refused: {s['rejected_webhooks'] or 'none'}"
    )
    cpu = s["cpu_ms_per_message"]
    total = sum(cpu.values())
    print(f"CPU per message (ms): {cpu} = {total:.1f} ms → at most "
          f"{2000 / total:.0f} messages/s on 2 cores; the floor's server alone spends "
          f"{results['floor_server_cpu_ms_per_signal']['temporal']} ms per signal")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
