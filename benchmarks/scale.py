"""Scale benchmark: many open conversations on one worker, a very long one, CPU per turn.

``make bench-scale`` (or ``.venv/bin/python benchmarks/scale.py --help``). It starts its own
Temporal dev server and one conversation worker as separate processes — as a user would —
with an instant fake OpenAI-compatible model and a fake Twilio REST API served from this
process. Texts go in exactly as the gateway sends them, by signal-with-start through a
Temporal client (``workflows.starting.signal_with_start``), so the gateway's own CPU stays
out of the figures; a turn is timed from that call to the reply's arrival at the fake
Twilio. It measures in one run:

1. the baseline: spaced turns across a few conversations on an otherwise empty worker, and
   the worker's resident memory (``VmRSS``) before any conversation;
2. ``--open`` conversations started (one text each), the start rate, the worker's RSS with
   its sticky cache (``WORKER_MAX_CACHED_WORKFLOWS``) full, RSS per cached conversation, and
   spaced turns to conversations still in the cache and to ones it evicted (replayed);
3. worker CPU per text turn over a steady open-loop load (``/proc/<pid>/stat``, with the
   split between the Python threads and the SDK core's threads) and turns/s per worker
   core;
4. one conversation of ``--long`` turns: turn latency early and late, and the history of
   each run, which continue-as-new bounds;
5. where a turn's CPU goes: the same load on a fresh worker whose main thread is sampled
   (``MainThreadSampler``).

Raw results are saved as JSON under ``benchmarks/results/``; ``--report FILE`` prints one
again. The worker runs under this script (``--as-worker``): ``worker.main()`` unchanged,
with the sampler installed when ``SCALE_PROFILE_OUT`` is set.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import signal
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from temporalio.client import Client

from benchmarks.cpu_floor import measure_floor, run_floor_worker
from benchmarks.harness import (
    BENCH_ACCOUNT_SID,
    BENCH_AUTH_TOKEN,
    BENCH_LLM_KEY,
    ROOT,
    CpuMeter,
    cpu_per_turn,
    open_loop,
    product_env,
    save_results,
    spawn,
    stop_all,
    summary,
    thread_cpu,
)
from switchboard.contract.addresses import Channel
from switchboard.contract.conversation import ConversationConfig, InboundMessage
from switchboard.contract.names import INBOUND_MESSAGE_SIGNAL
from switchboard.devtools.devserver import DevServer
from switchboard.runtime.config import Settings
from switchboard.runtime.temporal import connect
from tests.support.fake_llm import FakeLLM
from tests.support.fake_twilio import FakeTwilio
from tests.support.server import free_port, serve
from workflows.starting import conversation_config, signal_with_start

BUSINESS = "+15005550001"
PROFILE_ENV = "SCALE_PROFILE_OUT"
"""Set for a worker started with ``--as-worker``: it samples its main thread from SIGUSR1
and writes the counts there on SIGUSR2."""

# --- the worker process and its profiler -----------------------------------------------------


class MainThreadSampler:
    """A sampling profiler of a worker's main thread (the event loop), SIGUSR1 to SIGUSR2.

    ``ITIMER_PROF`` sends SIGPROF every ``interval`` s of the process's CPU time; Python runs
    the handler on the main thread with the frame it interrupted, whose stack is counted:
    ``self`` by the innermost function, ``total`` by every function on it once. A sample in
    the event loop's ``select`` (or, under uvloop, in the runner's call into the loop) is idle
    (another thread used the CPU). The event loop runs the
    SDK's activation handling, payload conversion and the local activities; workflow code
    runs on the SDK's executor threads and the SDK core on Rust threads, whose CPU the
    per-thread split reports. SIGUSR2 writes the counts as JSON to ``out``.
    """

    def __init__(self, out: Path, interval: float = 0.001) -> None:
        self._out = out
        self._interval = interval
        self._self: collections.Counter[str] = collections.Counter()
        self._total: collections.Counter[str] = collections.Counter()
        self._idle = 0

    def install(self) -> None:
        """Start on SIGUSR1, stop and write on SIGUSR2."""
        signal.signal(signal.SIGPROF, self._sample)
        signal.signal(signal.SIGUSR1, lambda *_: self._timer(self._interval))
        signal.signal(signal.SIGUSR2, lambda *_: self._dump())

    def _timer(self, interval: float) -> None:
        signal.setitimer(signal.ITIMER_PROF, interval, interval)

    def _sample(self, _: int, frame: FrameType | None) -> None:
        names: list[str] = []
        while frame is not None:
            code = frame.f_code
            names.append(f"{_short(code.co_filename)}:{code.co_firstlineno}({code.co_name})")
            frame = frame.f_back
        # Idle: the standard loop's select, or under uvloop the runner's call into the C loop
        # (waiting in epoll; uvloop's own C work is counted with it).
        if not names or names[0].startswith(("selectors.py", "runners.py")):
            self._idle += 1
            return
        self._self[names[0]] += 1
        for name in set(names):
            self._total[name] += 1

    def _dump(self) -> None:
        self._timer(0)
        busy = sum(self._self.values())
        self._out.write_text(
            json.dumps(
                {
                    "interval": self._interval,
                    "busy_samples": busy,
                    "idle_samples": self._idle,
                    "self": self._self.most_common(40),
                    "total": self._total.most_common(100),
                }
            )
        )


def _short(filename: str) -> str:
    """A file name without the uninteresting part of its path."""
    for marker in ("site-packages/", str(ROOT) + "/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename.rsplit("/", 1)[-1]


def run_worker() -> None:
    """``python worker.py``; with the sampler installed when ``PROFILE_ENV`` is set."""
    if os.environ.get(PROFILE_ENV):
        MainThreadSampler(Path(os.environ[PROFILE_ENV])).install()
    import worker

    worker.run()  # on the loop the worker picks (WORKER_EVENT_LOOP)


# --- measuring the worker from outside -------------------------------------------------------


def rss_mb(pid: int) -> float:
    """Resident memory of a process (``VmRSS``), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def sticky_cache_size(metrics_url: str) -> float | None:
    """The worker's ``temporal_sticky_cache_size`` gauge, from its SDK metrics."""
    try:
        with urllib.request.urlopen(metrics_url, timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return None
    values = [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("temporal_sticky_cache_size")
    ]
    return sum(values) if values else None


# --- sending texts and timing replies --------------------------------------------------------


class Turns:
    """Texts sent by signal-with-start, and when each one's reply reached the fake Twilio."""

    def __init__(self, client: Client, config: ConversationConfig, task_queue: str) -> None:
        self._client = client
        self._config = config
        self._task_queue = task_queue
        self.sent: dict[str, float] = {}
        self.replied: dict[str, float] = {}
        self._waiters: dict[str, asyncio.Future[float]] = {}
        self._by_customer: dict[str, list[str]] = {}
        self._seq = 0

    def on_accept(self, message: dict[str, Any]) -> None:
        """The fake Twilio accepted a reply (the fake model echoes the customer's last text).

        A reply answers every text of that customer up to the one it echoes: texts that
        arrive during a turn are answered together, by design, in one reply.
        """
        now = time.perf_counter()
        echoed = str(message["body"]).removeprefix("echo: ")
        texts = self._by_customer.get(str(message["to"]), [])
        if echoed not in texts:
            return
        upto = texts.index(echoed) + 1
        for text in texts[:upto]:
            self.replied.setdefault(text, now)
            waiter = self._waiters.pop(text, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(self.replied[text])
        del texts[:upto]

    async def send(self, customer: str, tag: str) -> str:
        """One inbound SMS to ``customer``'s conversation, as the gateway delivers it."""
        self._seq += 1
        text = f"{tag}-{self._seq}"
        message = InboundMessage(
            message_sid=f"SM{self._seq:032x}",
            customer=customer,
            channel=Channel.SMS,
            from_address=customer,
            to_address=BUSINESS,
            body=text,
            received_at=datetime.now(UTC),
        )
        self.sent[text] = time.perf_counter()
        self._by_customer.setdefault(customer, []).append(text)
        await signal_with_start(
            self._client,
            customer=customer,
            channel=Channel.SMS,
            signal=INBOUND_MESSAGE_SIGNAL,
            arg=message,
            task_queue=self._task_queue,
            config=self._config,
        )
        return text

    async def turn(self, customer: str, tag: str, timeout: float = 30.0) -> float:
        """Send one text and wait for its reply; seconds from the send to the reply."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        text = await self.send(customer, tag)
        if text in self.replied:
            return self.replied[text] - self.sent[text]
        self._waiters[text] = future
        replied_at = await asyncio.wait_for(future, timeout)
        return replied_at - self.sent[text]

    def latencies(self, texts: Iterable[str]) -> list[float]:
        """Send → reply of the answered ``texts``."""
        return [self.replied[t] - self.sent[t] for t in texts if t in self.replied]

    def unanswered(self, texts: Iterable[str]) -> int:
        """How many of ``texts`` have no reply yet."""
        return sum(1 for t in texts if t not in self.replied)


def customer(area: int, i: int) -> str:
    """A distinct E.164 number per (area code, index)."""
    return f"+1{area}{2_000_000 + i:07d}"


async def spaced(turns: Turns, customers: list[str], n: int, gap: float, tag: str) -> list[float]:
    """``n`` turns one at a time, each after the previous reply and ``gap`` s, round robin."""
    out = []
    for i in range(n):
        out.append(await turns.turn(customers[i % len(customers)], tag))
        await asyncio.sleep(gap)
    return out


async def open_conversations(turns: Turns, customers: list[str], window: int) -> dict[str, Any]:
    """Start a conversation for each customer (one text), at most ``window`` unanswered."""
    texts: list[str] = []
    started = time.perf_counter()
    gate = asyncio.Semaphore(window)
    loop = asyncio.get_running_loop()

    async def one(who: str) -> None:
        await gate.acquire()
        future: asyncio.Future[float] = loop.create_future()
        text = await turns.send(who, "open")
        texts.append(text)
        if text not in turns.replied:
            turns._waiters[text] = future
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(future, 120)
        gate.release()

    last_report = started
    tasks = []
    for who in customers:
        tasks.append(asyncio.create_task(one(who)))
        await asyncio.sleep(0)
        if time.perf_counter() - last_report > 15:
            last_report = time.perf_counter()
            done = len(texts) - turns.unanswered(texts)
            print(f"  {done} answered after {last_report - started:.0f} s", flush=True)
        while gate.locked():  # noqa: ASYNC110
            await asyncio.sleep(0.005)
    await asyncio.gather(*tasks)
    seconds = time.perf_counter() - started
    return {
        "conversations": len(customers),
        "seconds": round(seconds, 1),
        "started_and_answered_per_s": round(len(customers) / seconds, 1),
        "unanswered": turns.unanswered(texts),
        "first_turn": summary(turns.latencies(texts)),
    }


async def steady(turns: Turns, customers: list[str], rate: float, seconds: float) -> int:
    """An open-loop rate of texts across ``customers`` (one at a time per customer)."""
    total = await open_loop(
        rate, seconds, lambda i: turns.send(customers[i % len(customers)], "load")
    )
    deadline = time.perf_counter() + 60
    while turns.unanswered(turns.sent) and time.perf_counter() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    return total


async def history_per_run(client: Client, workflow_id: str) -> list[dict[str, Any]]:
    """Each run of one conversation, oldest first: its history length and status."""
    runs = []
    async for execution in client.list_workflows(f"WorkflowId = '{workflow_id}'"):
        described = await client.get_workflow_handle(
            workflow_id, run_id=execution.run_id
        ).describe()
        info = described.raw_description.workflow_execution_info
        runs.append(
            {
                "started": described.start_time.isoformat(),
                "status": described.status.name if described.status else "?",
                "events": info.history_length,
                "history_bytes": info.history_size_bytes,
            }
        )
    return sorted(runs, key=lambda run: run["started"])


# --- the run ---------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Switchboard scale benchmark")
    parser.add_argument("--as-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--as-floor-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--report", metavar="JSON", help="print a saved run's results again")
    parser.add_argument("--open", type=int, default=10_000, help="conversations to open")
    parser.add_argument("--window", type=int, default=100, help="unanswered starts at most")
    parser.add_argument("--cache", type=int, default=None,
                        help="WORKER_MAX_CACHED_WORKFLOWS (default: the worker's)")  # fmt: skip
    parser.add_argument("--baseline", type=int, default=200, help="baseline turns")
    parser.add_argument("--probe", type=int, default=200, help="cached and evicted turns, each")
    parser.add_argument("--gap", type=float, default=0.1, help="seconds between spaced turns")
    parser.add_argument("--rate", type=float, default=40, help="steady load, texts per second")
    parser.add_argument("--seconds", type=float, default=30, help="steady load duration")
    parser.add_argument("--floor-seconds", type=float, default=None,
                        help="the SDK floor's load (default: --seconds; 0: none)")  # fmt: skip
    parser.add_argument("--profile-seconds", type=float, default=15, help="sampled load")
    parser.add_argument("--long", type=int, default=2000, help="turns of the long conversation")
    parser.add_argument("--long-gap", type=float, default=0.05, help="seconds between its turns")
    parser.add_argument("--intelligence", action="store_true", help="operators on every turn")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra environment for the worker (repeatable)")  # fmt: skip
    return parser.parse_args()


async def main(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="switchboard-scale-"))
    server = DevServer(port=free_port(), ui_port=None, db_file=work / "temporal.db",
                       log_file=work / "temporal.log")  # fmt: skip
    await server.start()
    assert server.process is not None
    twilio, llm = FakeTwilio(BENCH_ACCOUNT_SID, BENCH_AUTH_TOKEN), FakeLLM(BENCH_LLM_KEY)
    processes = []
    results: dict[str, Any] = {"config": vars(args), "cpus": os.cpu_count(),
                               "load_average_at_start": os.getloadavg()}  # fmt: skip
    profile_out = work / "worker-profile.json"
    metrics_port = free_port()
    try:
        async with serve(twilio.app) as twilio_url, serve(llm.app) as llm_url:
            env = product_env(
                server.address, twilio_url, llm_url, work,
                MESSAGE_BATCH_WINDOW="0s", CUSTOMER_RATE_LIMIT="0",
                INTELLIGENCE=str(args.intelligence).lower(),
                TEMPORAL_METRICS_BIND=f"127.0.0.1:{metrics_port}",
            )  # fmt: skip
            if args.cache is not None:
                env["WORKER_MAX_CACHED_WORKFLOWS"] = str(args.cache)
            env.update(item.split("=", 1) for item in args.env)
            settings = Settings(
                _env_file=None,
                temporal_address=server.address,
                message_batch_window="0s",
                customer_rate_limit=0,
                intelligence=args.intelligence,
            )
            cache = int(env.get("WORKER_MAX_CACHED_WORKFLOWS", Settings.model_fields[
                "worker_max_cached_workflows"].default))  # fmt: skip
            results["cache"] = cache
            worker = spawn(["benchmarks/scale.py", "--as-worker"], env, work / "worker.log")
            processes.append(worker)
            client = await connect(settings)
            turns = Turns(client, conversation_config(settings), settings.temporal_task_queue)
            twilio.on_accept = turns.on_accept
            metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"

            # 1. baseline: a few conversations on an empty worker
            few = [customer(415, i) for i in range(20)]
            await spaced(turns, few, 20, args.gap, "warm")  # starts them, warms the worker
            await asyncio.sleep(2)
            results["rss_mb_baseline"] = round(rss_mb(worker.pid), 1)
            results["cached_baseline"] = sticky_cache_size(metrics_url)
            print(f"baseline: {args.baseline} spaced turns across {len(few)} conversations …")
            results["baseline_turn"] = summary(
                await spaced(turns, few, args.baseline, args.gap, "base")
            )

            # 2. many open conversations
            many = [customer(628, i) for i in range(args.open)]
            print(f"opening {args.open} conversations (cache {cache}) …", flush=True)
            results["open"] = await open_conversations(turns, many, args.window)
            await asyncio.sleep(5)
            results["rss_mb_open"] = round(rss_mb(worker.pid), 1)
            cached = sticky_cache_size(metrics_url)
            results["cached_open"] = cached
            cached_count = cached if cached is not None else min(cache, args.open + len(few))
            results["rss_kb_per_cached_conversation"] = round(
                (results["rss_mb_open"] - results["rss_mb_baseline"])
                * 1024
                / max(1.0, cached_count - (results["cached_baseline"] or 0)),
                1,
            )
            print(f"cached vs evicted: {args.probe} turns each …", flush=True)
            if args.open > cache + 2 * args.probe:
                hot = many[-min(cache // 4, 200) :]  # the most recent: still cached
                cold = many[: 2 * args.probe]  # the oldest: evicted long ago
                cached_turns, evicted_turns = [], []
                for i in range(args.probe):
                    cached_turns.append(await turns.turn(hot[i % len(hot)], "hot"))
                    await asyncio.sleep(args.gap)
                    evicted_turns.append(await turns.turn(cold[i], "cold"))
                    await asyncio.sleep(args.gap)
                results["cached_turn"] = summary(cached_turns)
                results["evicted_turn"] = summary(evicted_turns)
            else:
                print("  (skipped: --open must exceed the cache by 2 × --probe)")

            # 3. CPU per turn under a steady load, then where it goes
            load = many[-min(cache // 2, 500) :] if args.open else few
            print(f"steady load: {args.rate:.0f}/s for {args.seconds:.0f} s …", flush=True)
            before, threads_before = time.perf_counter(), thread_cpu(worker.pid)
            others = CpuMeter({"temporal": server.process.pid, "harness": os.getpid()})
            others.start()
            load_turns = Turns(client, turns._config, turns._task_queue)
            twilio.on_accept = load_turns.on_accept
            sent = await steady(load_turns, load, args.rate, args.seconds)
            per_turn = cpu_per_turn(threads_before, thread_cpu(worker.pid), sent)
            total_ms = per_turn["worker_cpu_ms_per_turn"]
            results["steady"] = {
                "texts": sent,
                "seconds": round(time.perf_counter() - before, 1),
                "unanswered": load_turns.unanswered(load_turns.sent),
                "turn": summary(load_turns.latencies(load_turns.sent)),
                **per_turn,
                "turns_per_s_per_worker_core": round(1000 / total_ms, 0),
                "other_cpu_ms_per_turn": others.per_item_ms(sent),
            }
            # 3b. the SDK's own floor under the same load (benchmarks/cpu_floor.py)
            floor_seconds = args.seconds if args.floor_seconds is None else args.floor_seconds
            if floor_seconds > 0:
                print(f"floor: {args.rate:.0f}/s for {floor_seconds:.0f} s on a worker running "
                      "a signal and two no-op local activities …", flush=True)  # fmt: skip
                floor = await measure_floor(
                    client, {**env, "TEMPORAL_METRICS_BIND": f"127.0.0.1:{free_port()}"}, work,
                    workflows=len(load), rate=args.rate, seconds=floor_seconds,
                )  # fmt: skip
                floor_ms = floor["worker_cpu_ms_per_turn"]
                floor["product_over_floor"] = round(total_ms / floor_ms, 2)
                floor["product_minus_floor_ms"] = round(total_ms - floor_ms, 2)
                results["floor"] = floor
            # 4. one very long conversation
            twilio.on_accept = turns.on_accept
            llm.reset()
            twilio.messages.clear()
            long_customer = customer(650, 1)
            print(f"long conversation: {args.long} turns …", flush=True)
            long_latency, reference = [], []
            # The machine's speed drifts over a run of minutes, so the late turns are also
            # compared with turns 10-19 of fresh conversations taken in step with them: five
            # reference conversations, brought to turn 9 just before, then one of their turns
            # after each of the last 50 long turns, in turn.
            references = [customer(651, k) for k in range(5)]
            for i in range(args.long):
                if i == args.long - 50:
                    for who in references:
                        for _ in range(9):
                            await turns.turn(who, "reference")
                long_latency.append(await turns.turn(long_customer, "long"))
                await asyncio.sleep(args.long_gap)
                if i >= args.long - 50:
                    reference.append(await turns.turn(references[i % 5], "reference"))
                    await asyncio.sleep(args.long_gap)
                if (i + 1) % 500 == 0:
                    print(f"  turn {i + 1}", flush=True)
            early = long_latency[9:59]
            late = long_latency[-50:]
            runs = await history_per_run(client, f"conv-{long_customer}")
            results["long"] = {
                "turns": args.long,
                "early_turns_10_to_59": summary(early),
                "late_last_50": summary(late),
                "reference_turns_10_to_19_in_step": summary(reference),
                "all": summary(long_latency),
                "runs": len(runs),
                "max_events_per_run": max(run["events"] for run in runs),
                "history": runs,
                "latency_s": [round(x, 5) for x in long_latency],
            }
            results["rss_mb_end"] = round(rss_mb(worker.pid), 1)

            # 5. where a turn's CPU goes: the same load on a worker whose main thread is sampled
            if args.profile_seconds > 0:  # --profile-seconds 0: no profile phase
                print(f"profile: {args.rate:.0f}/s for {args.profile_seconds:.0f} s on a worker "
                      "with its main thread sampled …", flush=True)  # fmt: skip
                stop_all([worker])
                processes.remove(worker)
                profiled = spawn(["benchmarks/scale.py", "--as-worker"],
                                 {**env, PROFILE_ENV: str(profile_out),
                                  "TEMPORAL_METRICS_BIND": f"127.0.0.1:{free_port()}"},
                                 work / "worker-profiled.log")  # fmt: skip
                processes.append(profiled)
                warm = Turns(client, turns._config, turns._task_queue)
                twilio.on_accept = warm.on_accept
                # start-up, and every run of the load replayed into the cache once
                await steady(warm, load, args.rate, len(load) / args.rate + 3)
                profiled.send_signal(signal.SIGUSR1)
                profile_turns = Turns(client, turns._config, turns._task_queue)
                twilio.on_accept = profile_turns.on_accept
                cpu_before = thread_cpu(profiled.pid)
                sent = await steady(profile_turns, load, args.rate, args.profile_seconds)
                cpu_after = thread_cpu(profiled.pid)
                profiled.send_signal(signal.SIGUSR2)
                await asyncio.sleep(3)
                if profile_out.exists():
                    results["profile"] = json.loads(profile_out.read_text())
                    main = "python main thread"
                    results["profile"]["main_thread_cpu_ms_per_turn_profiled"] = round(
                        (cpu_after[main] - cpu_before[main]) * 1000 / sent, 2
                    )
                    results["profile"]["turns"] = sent
            results["load_average_at_end"] = os.getloadavg()
    finally:
        stop_all(processes)
        server.stop()
    save_results("scale", results, work)
    report(results)


def ratio(a: dict[str, Any], b: dict[str, Any], key: str = "p50") -> str:
    if not a.get("n") or not b.get("n"):
        return ""
    return f"{a[key] / b[key]:.2f}×"


def report(results: dict[str, Any]) -> None:
    base = results["baseline_turn"]
    rows: list[tuple[str, dict[str, Any]]] = [("baseline: spaced turn, few conversations", base)]
    for key, name in (
        ("cached_turn", f"{results['open']['conversations']} open: turn, cached"),
        ("evicted_turn", f"{results['open']['conversations']} open: turn, evicted"),
        ("steady", "steady load: turn"),
    ):
        if key in results:
            rows.append((name, results[key]["turn"] if key == "steady" else results[key]))
    long = results["long"]
    rows += [
        ("long: turns 10–59", long["early_turns_10_to_59"]),
        (f"long: turns {long['turns'] - 49}–{long['turns']}", long["late_last_50"]),
    ]
    if (step := long.get("reference_turns_10_to_19_in_step")) and step.get("n"):
        rows.append(("fresh: turns 10–19, in step with the last 50", step))
    print(f"\n{'turn: signal-with-start → reply at Twilio':46} {'n':>5} {'p50':>7} {'p95':>7} "
          f"{'p99':>7} {'max':>8}  p50 ratio")  # fmt: skip
    for name, s in rows:
        print(f"{name:46} {s['n']:>5} {s['p50']:>7} {s['p95']:>7} {s['p99']:>7} {s['max']:>8}  "
              f"{ratio(s, base)}")  # fmt: skip
    early, late = long["early_turns_10_to_59"], long["late_last_50"]
    print(f"late ÷ early (long conversation): p50 {ratio(late, early)}, "
          f"p95 {ratio(late, early, 'p95')}")  # fmt: skip
    if (step := long.get("reference_turns_10_to_19_in_step")) and step.get("n"):
        print(f"late ÷ turns 10-19 of fresh conversations taken in step: p50 "
              f"{ratio(late, step)}, p95 {ratio(late, step, 'p95')}")  # fmt: skip
    o = results["open"]
    print(f"\nopened {o['conversations']} conversations in {o['seconds']} s "
          f"({o['started_and_answered_per_s']}/s, each answered; "
          f"{o['unanswered']} unanswered)")  # fmt: skip
    print(f"worker RSS: {results['rss_mb_baseline']} MB with {results['cached_baseline']} cached → "
          f"{results['rss_mb_open']} MB with {results['cached_open']} cached (cache "
          f"{results['cache']}): {results['rss_kb_per_cached_conversation']} KB per cached "
          f"conversation; {results['rss_mb_end']} MB at the end")  # fmt: skip
    s = results["steady"]
    print(f"steady {s['texts']} texts: worker CPU {s['worker_cpu_ms_per_turn']} ms per turn "
          f"({s['by_thread_ms_per_turn']}) → {s['turns_per_s_per_worker_core']:.0f} turns/s "
          f"per worker core; {s['unanswered']} unanswered; other processes "
          f"{s['other_cpu_ms_per_turn']}")  # fmt: skip
    floor = results.get("floor")
    if floor:
        print(f"SDK floor (signal + two no-op local activities), {floor['turns']} turns: "
              f"{floor['worker_cpu_ms_per_turn']} ms per turn ({floor['by_thread_ms_per_turn']}); "
              f"product ÷ floor {floor['product_over_floor']}×, product − floor "
              f"{floor['product_minus_floor_ms']} ms")  # fmt: skip
        one = floor["one_activity"]
        print(f"SDK floor of a turn folded into one no-op local activity, {one['turns']} "
              f"turns: {one['worker_cpu_ms_per_turn']} ms per turn "
              f"({one['by_thread_ms_per_turn']})")  # fmt: skip
    print(f"load average: {results['load_average_at_start']} at the start, "
          f"{results['load_average_at_end']} at the end")  # fmt: skip
    print(f"long: {long['runs']} runs, at most {long['max_events_per_run']} events per run: "
          f"{[run['events'] for run in long['history']]}")  # fmt: skip
    latency = long["latency_s"]
    windows = [
        f"{i + 1}–{i + 200}: {summary(latency[i : i + 200]).get('p50')}"
        for i in range(0, len(latency), 200)
    ]
    print(f"long: p50 by 200 turns (ms): {', '.join(windows)}")
    profile = results.get("profile")
    if profile and "busy_samples" in profile:
        busy = max(1, profile["busy_samples"])
        print(f"\nprofile of a worker's main thread, {profile['turns']} turns "
              f"({profile['main_thread_cpu_ms_per_turn_profiled']} ms of its CPU per turn "
              f"while sampled; {busy} busy samples, {profile['idle_samples']} idle):")  # fmt: skip
        print("  innermost function (self):")
        for name, count in profile["self"][:20]:
            print(f"    {count / busy:6.1%}  {name}")
        print("  on the stack (total):")
        for name, count in profile["total"][:45]:
            print(f"    {count / busy:6.1%}  {name}")


if __name__ == "__main__":
    if "--as-worker" in sys.argv:
        run_worker()
    elif "--as-floor-worker" in sys.argv:
        run_floor_worker()
    elif len(sys.argv) == 3 and sys.argv[1] == "--report":  # print a saved run again
        report(json.loads(Path(sys.argv[2]).read_text()))
    else:
        asyncio.run(main(parse_args()))
