"""Messaging benchmark: webhook acknowledgement, webhook → Twilio send, sustained load.

Run with ``make bench`` (or ``.venv/bin/python benchmarks/messaging.py --help``). It starts
its own Temporal dev server, a worker process and a gateway process exactly as a user
would, with an instant fake OpenAI-compatible LLM and a fake Twilio REST API served from
this process, and measures in one run:

1. the Temporal floor: signal → first activity start and → second activity start, with a
   worker in this process (two no-op activities: the shape of a text turn);
2. spaced turns: webhook acknowledgement and webhook → Twilio send, one message at a time;
3. sustained load: an open-loop rate across many customers, counting lost and duplicated
   replies.

Percentiles and ratios to the floor are printed, and written as JSON under
``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.worker import Worker

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.floor import FloorClock, FloorWorkflow  # noqa: E402
from switchboard.devserver import DevServer  # noqa: E402
from switchboard.twilio_sim import TwilioWebhookClient, inbound_message_form  # noqa: E402
from tests.fakes.fake_llm import FakeLLM  # noqa: E402
from tests.fakes.fake_twilio import FakeTwilio  # noqa: E402
from tests.fakes.server import free_port, serve  # noqa: E402

ACCOUNT_SID = "AC" + "b" * 32
AUTH_TOKEN = "bench-token"
BUSINESS = "+15005550001"


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) in milliseconds."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index] * 1000


def summary(values: list[float]) -> dict[str, float]:
    """p50/p95/p99/max in ms."""
    return {
        "n": len(values),
        "p50": round(pct(values, 50), 2),
        "p95": round(pct(values, 95), 2),
        "p99": round(pct(values, 99), 2),
        "max": round(max(values) * 1000, 2) if values else float("nan"),
        "mean": round(statistics.fmean(values) * 1000, 2) if values else float("nan"),
    }


@dataclass
class Tracker:
    """Send times by message body, and Twilio arrival times."""

    sent: dict[str, float] = field(default_factory=dict)
    acks: list[float] = field(default_factory=list)
    arrivals: dict[str, list[float]] = field(default_factory=dict)
    failures: Counter[int] = field(default_factory=Counter)

    def on_accept(self, message: dict[str, Any]) -> None:
        body = str(message["body"]).removeprefix("echo: ")
        self.arrivals.setdefault(body, []).append(time.perf_counter())

    def e2e(self) -> list[float]:
        return [self.arrivals[k][0] - t for k, t in self.sent.items() if k in self.arrivals]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_snapshot(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds of each named process."""
    return {name: cpu_seconds(pid) for name, pid in pids.items()}


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT)  # fmt: skip


async def wait_healthy(url: str) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(300):
            try:
                if (await http.get(f"{url}/healthz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("gateway not healthy")


async def measure_floor(client: Client, n: int, gap: float) -> dict[str, Any]:
    clock = FloorClock()
    queue = f"floor-{uuid.uuid4().hex[:6]}"
    async with Worker(client, task_queue=queue, workflows=[FloorWorkflow],
                      activities=[clock.floor_first, clock.floor_second]):  # fmt: skip
        handle = await client.start_workflow(FloorWorkflow.run, id=f"floor-{queue}",
                                             task_queue=queue)  # fmt: skip
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


async def send_one(
    webhooks: TwilioWebhookClient, tracker: Tracker, customer: str, text: str
) -> None:
    form = inbound_message_form(customer, BUSINESS, text, account_sid=ACCOUNT_SID)
    started = time.perf_counter()
    tracker.sent[text] = started
    response = await webhooks.post("/twilio/messaging", form)
    tracker.acks.append(time.perf_counter() - started)
    if response.status_code != 200:
        tracker.failures[response.status_code] += 1


async def drain(tracker: Tracker, expected: int, timeout: float) -> None:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if sum(1 for k in tracker.sent if k in tracker.arrivals) >= expected:
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(2)  # let any duplicate show itself


async def main() -> None:
    parser = argparse.ArgumentParser(description="Switchboard messaging benchmark")
    parser.add_argument("--spaced", type=int, default=300, help="spaced turns to measure")
    parser.add_argument("--gap", type=float, default=0.15, help="seconds between spaced turns")
    parser.add_argument("--rate", type=float, default=100, help="sustained messages per second")
    parser.add_argument("--seconds", type=float, default=60, help="sustained duration")
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument("--batch-window", default="0s", help="MESSAGE_BATCH_WINDOW for the run")
    parser.add_argument(
        "--server-arg",
        action="append",
        default=[],
        help="extra argument for `temporal server start-dev` (repeatable)",
    )
    parser.add_argument("--in-memory", action="store_true", help="dev server without a db file")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the worker and gateway (repeatable)",
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="switchboard-bench-"))
    server = DevServer(port=free_port(), ui_port=None,
                       db_file=None if args.in_memory else work / "temporal.db",
                       log_file=work / "temporal.log", extra_args=args.server_arg)  # fmt: skip
    await server.start()
    twilio, llm = FakeTwilio(ACCOUNT_SID, AUTH_TOKEN), FakeLLM("sk-bench")
    processes: list[subprocess.Popen[bytes]] = []
    results: dict[str, Any] = {"config": vars(args), "cpus": os.cpu_count()}
    try:
        async with serve(twilio.app) as twilio_url, serve(llm.app) as llm_url:
            port = free_port()
            env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "LLM_"))}
            env.update(
                TEMPORAL_ADDRESS=server.address, TWILIO_ACCOUNT_SID=ACCOUNT_SID,
                TWILIO_AUTH_TOKEN=AUTH_TOKEN, TWILIO_API_BASE_URL=twilio_url,
                LLM_BASE_URL=f"{llm_url}/v1", LLM_API_KEY="sk-bench", LLM_MODEL="bench",
                MEMORY_DATABASE_URL=f"sqlite:///{work / 'memory.db'}",
                PUBLIC_BASE_URL=f"http://127.0.0.1:{port}", GATEWAY_PORT=str(port),
                MESSAGE_BATCH_WINDOW=args.batch_window, LOG_LEVEL="WARNING",
            )  # fmt: skip
            env.update(item.split("=", 1) for item in args.env)
            processes.append(spawn(["worker.py"], env, work / "worker.log"))
            processes.append(spawn(["-m", "gateway"], env, work / "gateway.log"))
            gateway = f"http://127.0.0.1:{port}"
            await wait_healthy(gateway)
            client = await Client.connect(server.address)

            print(f"floor: {args.spaced} signals, ~{args.gap * 1000:.0f} ms apart …", flush=True)
            results["floor"] = await measure_floor(client, args.spaced, args.gap)

            limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
            async with httpx.AsyncClient(limits=limits, timeout=30) as http:
                webhooks = TwilioWebhookClient(http, gateway, AUTH_TOKEN)
                await spaced_turns_tracked(webhooks, Tracker(), 10, args.gap)  # warm-up
                print(f"spaced turns: {args.spaced} …", flush=True)
                tracker = Tracker()
                twilio.on_accept = tracker.on_accept
                tracker = await spaced_turns_tracked(webhooks, tracker, args.spaced, args.gap)
                await drain(tracker, args.spaced, 30)
                results["spaced"] = {
                    "ack": summary(tracker.acks),
                    "webhook_to_send": summary(tracker.e2e()),
                    "lost": len(tracker.sent) - len(tracker.e2e()),
                }
                print(f"sustained: {args.rate:.0f}/s for {args.seconds:.0f} s across "
                      f"{args.customers} customers …", flush=True)  # fmt: skip
                load = Tracker()
                twilio.on_accept = load.on_accept
                pids = {"temporal": server.process.pid, "worker": processes[0].pid,
                        "gateway": processes[1].pid, "harness": os.getpid()}  # fmt: skip
                assert server.process is not None
                before = cpu_snapshot(pids)
                load, offered = await sustained_tracked(webhooks, load, args)
                await drain(load, len(load.sent), 120)
                after = cpu_snapshot(pids)
                results["cpu_ms_per_message"] = {
                    name: round((after[name] - before[name]) * 1000 / max(1, len(load.sent)), 2)
                    for name in pids
                }
                duplicates = sum(len(v) - 1 for v in load.arrivals.values() if len(v) > 1)
                results["sustained"] = {
                    "offered_per_s": round(offered, 1),
                    "sent": len(load.sent),
                    "replied": len(load.e2e()),
                    "lost": len(load.sent) - len(load.e2e()),
                    "duplicated": duplicates,
                    "rejected_webhooks": dict(load.failures),
                    "ack": summary(load.acks),
                    "webhook_to_send": summary(load.e2e()),
                }
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=20)
        server.stop()
    report(results)
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    path = out / f"messaging-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"\nraw results: {path.relative_to(ROOT)}   logs: {work}")


async def spaced_turns_tracked(
    webhooks: TwilioWebhookClient, tracker: Tracker, n: int, gap: float
) -> Tracker:
    customers = [f"+1415{random.randint(2000000, 9999999)}" for _ in range(50)]
    for i in range(n):
        await send_one(webhooks, tracker, random.choice(customers), f"spaced-{i}")
        await asyncio.sleep(gap * random.uniform(0.8, 1.2))
    return tracker


async def sustained_tracked(
    webhooks: TwilioWebhookClient, tracker: Tracker, args: argparse.Namespace
) -> tuple[Tracker, float]:
    numbers = [f"+1628{n:07d}" for n in random.sample(range(2000000, 9999999), args.customers)]
    total = int(args.rate * args.seconds)
    start = time.perf_counter()
    tasks = []
    for i in range(total):
        delay = start + i / args.rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        text = f"load-{i}"
        tasks.append(asyncio.create_task(send_one(webhooks, tracker, numbers[i % args.customers],
                                                  text)))  # fmt: skip
    await asyncio.gather(*tasks)
    return tracker, total / (time.perf_counter() - start)


def report(results: dict[str, Any]) -> None:
    floor1 = results["floor"]["signal_to_first_activity"]
    floor2 = results["floor"]["signal_to_second_activity"]
    rows = [
        ("floor: signal → 1st activity start", floor1),
        ("floor: signal → 2nd activity start", floor2),
        ("spaced: webhook ack", results["spaced"]["ack"]),
        ("spaced: webhook → Twilio send", results["spaced"]["webhook_to_send"]),
    ]
    if "sustained" in results:
        rows += [
            ("load: webhook ack", results["sustained"]["ack"]),
            ("load: webhook → Twilio send", results["sustained"]["webhook_to_send"]),
        ]
    print(f"\n{'path':40} {'n':>6} {'p50':>8} {'p95':>8} {'p99':>8} {'max':>8}   (ms)")
    for name, s in rows:
        print(f"{name:40} {s['n']:>6} {s['p50']:>8} {s['p95']:>8} {s['p99']:>8} {s['max']:>8}")
    e2e = results["spaced"]["webhook_to_send"]
    print(f"\nwebhook → send p50 is {e2e['p50'] / floor2['p50']:.2f}× the two-activity floor "
          f"and {e2e['p50'] / floor1['p50']:.2f}× the one-activity floor")  # fmt: skip
    if "sustained" in results:
        s = results["sustained"]
        print(f"CPU per message (ms): {results['cpu_ms_per_message']}")
        print(f"sustained: offered {s['offered_per_s']}/s, {s['sent']} sent, {s['replied']} "
              f"replied, {s['lost']} lost, {s['duplicated']} duplicated, "
              f"rejected webhooks {s['rejected_webhooks'] or 'none'}")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
