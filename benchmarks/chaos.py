"""Chaos benchmark: sustained texts and live calls while workers and gateways are SIGKILLed.

``make bench-chaos`` (or ``.venv/bin/python benchmarks/chaos.py --help``). It starts a
throwaway PostgreSQL cluster (the memory store and the send outbox every host shares), its
own Temporal dev server, three workers and two gateways as separate processes — as a user
would — with an instant fake OpenAI-compatible model and a fake Twilio REST API served from
this process. Then, for ``--seconds``:

- an open-loop rate of signed inbound-message webhooks across ``--customers`` customers, each
  to either gateway at random. A webhook that got no answer (a dead gateway: connection
  refused or dropped) or an error is posted again with the same ``MessageSid`` to the other
  gateway, as Twilio retries; only acknowledged webhooks count as sent;
- ``--calls`` ConversationRelay calls that say something every ``--say-every`` seconds and
  check the spoken reply. When a call's gateway dies, its socket breaks; Twilio then posts
  the ``<Connect action>`` callback with a failed session, here to the other gateway, and the
  call goes on over the socket that callback's TwiML names;
- every ``--kill-every`` seconds a random worker or gateway is SIGKILLed and started again
  (a gateway only while the other one is up).

Then it waits for every acknowledged text to be answered and reports: lost (acknowledged,
never answered), duplicated (answered twice), webhook → reply latency per 30 s window, the
kills, the calls that came back, and the CPU each kind of process spent. Raw results are saved
as JSON under ``benchmarks/results/``.

Defaults are sized for a 2-core machine (about 25 ms of CPU per text across the processes):
10 texts/s for 3 minutes across 200 customers and 3 calls. ``--rate 50 --seconds 300
--customers 1000 --calls 10`` is the full-size run for a bigger machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
from twilio.request_validator import RequestValidator
from websockets.exceptions import ConnectionClosed

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness import (
    BENCH_ACCOUNT_SID,
    BENCH_AUTH_TOKEN,
    BENCH_LLM_KEY,
    cpu_seconds,
    postgres_database,
    product_env,
    save_results,
    spawn,
    summary,
    wait_healthy,
)
from benchmarks.messaging import Tracker
from switchboard.devtools.devserver import DevServer
from switchboard.devtools.twilio_sim import (
    RelayCall,
    TwilioWebhookClient,
    inbound_message_form,
    new_sid,
)
from tests.support.fake_llm import FakeLLM
from tests.support.fake_twilio import FakeTwilio
from tests.support.server import free_port, serve

BUSINESS = "+15005550001"
WINDOW = 30.0
"""Seconds per latency window."""
SLOW = 2.0
"""A reply later than this (seconds after its webhook) counts as slowed by a kill."""


# --- the processes ------------------------------------------------------------------------


@dataclass
class Node:
    """A worker or gateway process that may be killed and started again."""

    name: str
    args: list[str]
    env: dict[str, str]
    log: Path
    url: str | None = None
    process: subprocess.Popen[bytes] | None = None
    up: bool = False
    cpu_of_dead: float = 0.0
    """CPU seconds of the incarnations already killed (read just before each kill)."""

    @property
    def gateway(self) -> bool:
        return self.url is not None

    def start(self) -> None:
        self.process = spawn(self.args, self.env, self.log)

    async def ready(self) -> None:
        """A gateway is up once its /healthz answers; a worker once it is running."""
        if self.url is not None:
            await wait_healthy(self.url)
        self.up = True

    def cpu(self) -> float:
        """CPU seconds of every incarnation so far."""
        assert self.process is not None
        with contextlib.suppress(OSError):
            return self.cpu_of_dead + cpu_seconds(self.process.pid)
        return self.cpu_of_dead

    def kill(self) -> None:
        """SIGKILL: no shutdown, no close frames, nothing flushed."""
        assert self.process is not None
        self.up = False
        self.cpu_of_dead = self.cpu()
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()


def postgres_cpu(port: int) -> float:
    """CPU seconds of the PostgreSQL server on ``port``: postmaster, live and exited backends."""
    ticks = os.sysconf("SC_CLK_TCK")
    stats: dict[int, list[str]] = {}
    postmaster = None
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(entry.name)] = fields
        if argv[0].endswith(b"postgres") and f"{port}".encode() in argv:
            postmaster = int(entry.name)
    if postmaster is None:
        return float("nan")
    own = stats[postmaster]
    total = sum(int(own[i]) for i in (11, 12, 13, 14))  # its own and its reaped children's
    total += sum(int(f[11]) + int(f[12]) for f in stats.values() if int(f[1]) == postmaster)
    return total / ticks


# --- texts --------------------------------------------------------------------------------


class Pool:
    """Keep-alive HTTP/1.1 connections to one gateway; a broken one is replaced on next use."""

    def __init__(self, base_url: str, size: int) -> None:
        parts = urlsplit(base_url)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self._slots: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter] | None]
        self._slots = asyncio.Queue()
        for _ in range(size):
            self._slots.put_nowait(None)

    async def post(self, path: str, form: dict[str, str], signature: str, timeout: float) -> int:
        """POST a signed form; the status code, or an exception if no answer came."""
        body = urlencode(form).encode()
        head = (f"POST {path} HTTP/1.1\r\nHost: {self._host}:{self._port}\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\n"
                f"Content-Length: {len(body)}\r\n"
                f"X-Twilio-Signature: {signature}\r\n\r\n")  # fmt: skip
        request = head.encode() + body
        slot = await self._slots.get()
        try:
            async with asyncio.timeout(timeout):
                if slot is not None:
                    try:
                        return await self._exchange(slot, request)
                    except (asyncio.IncompleteReadError, ConnectionError) as exc:
                        # Closed while idle (keep-alive timeout) or the gateway died: one
                        # more try on a fresh connection, which fails if it is down.
                        slot[1].close()
                        slot = None
                        if isinstance(exc, asyncio.IncompleteReadError) and exc.partial:
                            raise
                slot = await asyncio.open_connection(self._host, self._port)
                return await self._exchange(slot, request)
        except BaseException:
            if slot is not None:
                slot[1].close()
            slot = None
            raise
        finally:
            self._slots.put_nowait(slot)

    @staticmethod
    async def _exchange(
        slot: tuple[asyncio.StreamReader, asyncio.StreamWriter], request: bytes
    ) -> int:
        reader, writer = slot
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        if length:
            await reader.readexactly(length)
        return int(lines[0].split(" ", 2)[1])


@dataclass
class Texts:
    """Inbound-message webhooks to whichever gateway is up, retried as Twilio retries."""

    gateways: list[Node]
    tracker: Tracker
    give_up: float
    pools: dict[str, Pool] = field(default_factory=dict)
    validator: RequestValidator = field(default_factory=lambda: RequestValidator(BENCH_AUTH_TOKEN))
    attempts: Counter[int] = field(default_factory=Counter)
    """Acknowledged webhooks by the number of posts it took."""
    errors: Counter[str] = field(default_factory=Counter)
    """Posts that got no 200, by what happened."""
    unacknowledged: int = 0

    def __post_init__(self) -> None:
        for node in self.gateways:
            assert node.url is not None
            self.pools[node.name] = Pool(node.url, 24)

    def pick(self, avoid: Node | None) -> Node:
        """Either gateway, as Twilio does not know which is up; after a failure, the other."""
        others = [node for node in self.gateways if node is not avoid]
        return random.choice(others or self.gateways)

    async def send(self, customer: str, text: str, due: float) -> None:
        """One inbound SMS; latency counts from ``due``, its scheduled time."""
        form = inbound_message_form(customer, BUSINESS, text, account_sid=BENCH_ACCOUNT_SID)
        self.tracker.record_send(customer, text, due)
        last: Node | None = None
        posts = 0
        while time.perf_counter() - due < self.give_up:
            node = self.pick(last)
            assert node.url is not None
            posts += 1
            signature = self.validator.compute_signature(f"{node.url}/twilio/messaging", form)
            try:
                status = await self.pools[node.name].post(
                    "/twilio/messaging", form, signature, timeout=15
                )
            except TimeoutError:
                status, what = 0, "no answer in 15 s"
            except (OSError, asyncio.IncompleteReadError) as exc:
                status, what = 0, type(exc).__name__
            else:
                what = str(status)
            if status == 200:
                self.tracker.acks.append(time.perf_counter() - due)
                self.tracker.accepted.add(text)
                self.attempts[posts] += 1
                return
            self.errors[what] += 1
            last = node
            await asyncio.sleep(min(2.0, 0.25 * posts))
        self.unacknowledged += 1

    async def load(self, rate: float, seconds: float, customers: int) -> None:
        """An open-loop rate across ``customers``."""
        numbers = [f"+1628{n:07d}" for n in random.sample(range(2000000, 9999999), customers)]
        start = time.perf_counter()
        tasks = []
        for i in range(int(rate * seconds)):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            send = self.send(numbers[i % customers], f"load-{i}", due)
            tasks.append(asyncio.create_task(send))
        await asyncio.gather(*tasks)


# --- calls --------------------------------------------------------------------------------


@dataclass
class CallStats:
    """What the simulated callers saw."""

    turns: int = 0
    answered: list[tuple[float, float]] = field(default_factory=list)
    """(time said, seconds to the whole reply), per answered turn."""
    other_replies: int = 0
    """Replies to an earlier prompt, arriving after its caller stopped waiting."""
    dial_failures: int = 0
    unanswered: int = 0
    """Turns with no reply within the wait, on a socket that stayed open."""
    cut_off: int = 0
    """Turns whose socket broke before the reply (the gateway died)."""
    broken: int = 0
    recovered: int = 0
    not_recovered: list[str] = field(default_factory=list)
    recovery: list[float] = field(default_factory=list)
    """Socket broken → the first reply on the new socket, in seconds."""
    texted: list[str] = field(default_factory=list)
    """Texts the conversation sent a caller (the 'cut off' follow-up of a call it lost)."""


@dataclass
class Caller:
    """One simulated caller on a ConversationRelay call, kept on the line through failures."""

    index: int
    gateways: list[Node]
    http: httpx.AsyncClient
    stats: CallStats
    say_every: float
    wait: float
    customer: str = ""
    call_sid: str = ""
    node: Node | None = None

    def __post_init__(self) -> None:
        self.customer = f"+1415555{self.index:04d}"

    def webhooks(self, node: Node) -> TwilioWebhookClient:
        assert node.url is not None
        return TwilioWebhookClient(self.http, node.url, BENCH_AUTH_TOKEN)

    async def an_up_gateway(self, avoid: Node | None) -> Node:
        while True:
            up = [node for node in self.gateways if node.up and node is not avoid]
            if up:
                return random.choice(up)
            await asyncio.sleep(0.1)

    async def dial(self) -> RelayCall:
        """Place the call through a live gateway (again, if that one dies on the way)."""
        while True:
            self.node = await self.an_up_gateway(None)
            self.call_sid = new_sid("CA")
            try:
                return await RelayCall.dial(self.webhooks(self.node), self.customer, BUSINESS,
                                            account_sid=BENCH_ACCOUNT_SID,
                                            call_sid=self.call_sid)  # fmt: skip
            except (OSError, httpx.HTTPError, ConnectionClosed):
                self.stats.dial_failures += 1
                await asyncio.sleep(0.5)

    async def reconnect(self) -> RelayCall | None:
        """Twilio's ``<Connect action>`` callback for the broken session, to a live gateway."""
        self.node = await self.an_up_gateway(self.node)
        action = {
            "AccountSid": BENCH_ACCOUNT_SID, "CallSid": self.call_sid,
            "CallStatus": "in-progress", "Direction": "inbound", "From": self.customer,
            "To": BUSINESS, "SessionId": new_sid("VX"), "SessionStatus": "failed",
            "ErrorCode": "64105",
        }  # fmt: skip
        webhooks = self.webhooks(self.node)
        answer = await webhooks.post("/twilio/voice/action", action)
        if answer.status_code != 200 or "<ConversationRelay" not in answer.text:
            self.stats.not_recovered.append(f"{answer.status_code}: {answer.text[:120]}")
            return None
        return await RelayCall.connect(webhooks, answer.text, self.customer, BUSINESS,
                                       self.call_sid, BENCH_ACCOUNT_SID)  # fmt: skip

    async def answer(self, call: RelayCall, words: str, said: float) -> float | None:
        """Seconds until the reply to ``words`` was spoken, or None if none came in the wait.

        A reply to an earlier prompt that came too late is skipped (and counted).
        """
        while (left := said + self.wait - time.perf_counter()) > 0:
            try:
                reply = await call.reply(within=left)
            except TimeoutError:
                return None
            if reply == f"echo: {words}":
                return time.perf_counter() - said
            self.stats.other_replies += 1
        return None

    async def run(self, until: float) -> None:
        call = await self.dial()
        broke_at: float | None = None
        turn = 0
        while time.perf_counter() < until:
            await asyncio.sleep(self.say_every * random.uniform(0.7, 1.3))
            turn += 1
            words = f"call {self.index} turn {turn}"
            said = time.perf_counter()
            self.stats.turns += 1
            try:
                await call.say(words)
                took = await self.answer(call, words, said)
            except (ConnectionClosed, OSError):
                self.stats.cut_off += 1
                self.stats.broken += 1
                broke_at = time.perf_counter()
                again = None
                with contextlib.suppress(OSError, httpx.HTTPError, ConnectionClosed):
                    again = await self.reconnect()
                if again is None:
                    call = await self.dial()  # the caller calls back
                    broke_at = None
                else:
                    call = again
                continue
            if took is None:
                self.stats.unanswered += 1
                continue
            self.stats.answered.append((said, took))
            if broke_at is not None:
                self.stats.recovered += 1
                self.stats.recovery.append(time.perf_counter() - broke_at)
                broke_at = None
        if broke_at is not None:
            self.stats.not_recovered.append("no answered turn after the reconnect")
        with contextlib.suppress(ConnectionClosed, OSError):
            await call.hang_up()


# --- the kills ----------------------------------------------------------------------------


async def chaos(nodes: list[Node], every: float, start: float, until: float, victims: str,
                kills: list[dict[str, Any]]) -> None:  # fmt: skip
    """Every ``every`` seconds SIGKILL a random worker or gateway and start it again."""
    restarts: set[asyncio.Task[None]] = set()
    k = 1
    while start + k * every < until:
        await asyncio.sleep(max(0.0, start + k * every - time.perf_counter()))
        k += 1
        gateways_up = sum(1 for node in nodes if node.gateway and node.up)
        candidates = [n for n in nodes if n.up and (not n.gateway or gateways_up == 2)
                      and victims in ("any", "gateways" if n.gateway else "workers")]  # fmt: skip
        if not candidates:
            continue
        victim = random.choice(candidates)
        killed_at = time.perf_counter()
        victim.kill()
        victim.start()
        record = {"at_s": round(killed_at - start, 2), "node": victim.name}
        kills.append(record)
        print(f"  {record['at_s']:7.1f} s  killed {victim.name}", flush=True)

        async def back(node: Node = victim, record: dict[str, Any] = record,
                       killed_at: float = killed_at) -> None:  # fmt: skip
            await node.ready()
            record["back_after_s"] = round(time.perf_counter() - killed_at, 2)

        task = asyncio.create_task(back())
        restarts.add(task)
        task.add_done_callback(restarts.discard)
    await asyncio.gather(*restarts)


# --- the run ------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rate", type=float, default=10, help="texts per second (default 10)")
    parser.add_argument("--seconds", type=float, default=180, help="load duration (default 180)")
    parser.add_argument("--customers", type=int, default=200, help="texting customers")
    parser.add_argument("--calls", type=int, default=3, help="concurrent calls (default 3)")
    parser.add_argument("--say-every", type=float, default=4, help="seconds between prompts")
    parser.add_argument("--reply-wait", type=float, default=30, help="seconds a caller waits")
    parser.add_argument("--kill-every", type=float, default=10, help="seconds between kills")
    parser.add_argument(
        "--victims",
        choices=("any", "workers", "gateways"),
        default="any",
        help="what the kills pick from (default: any worker or gateway)",
    )
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--drain", type=float, default=300, help="max seconds to await replies")
    parser.add_argument("--give-up", type=float, default=120,
                        help="seconds after which a webhook is no longer retried")  # fmt: skip
    parser.add_argument("--batch-window", default="0s", help="MESSAGE_BATCH_WINDOW of the run")
    parser.add_argument("--seed", type=int, default=None, help="random seed (kills, customers)")
    return parser.parse_args()


async def drain(tracker: Tracker, timeout: float) -> None:
    """Wait for every acknowledged text to be answered (or ``timeout``), then for stragglers."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline and tracker.lost():  # noqa: ASYNC110
        await asyncio.sleep(0.5)
    await asyncio.sleep(5)  # let any duplicate show itself


def windows(tracker: Tracker, calls: CallStats, kills: list[dict[str, Any]], start: float,
            seconds: float) -> list[dict[str, Any]]:  # fmt: skip
    """Webhook → reply and spoken-turn latency by the window the text or prompt was sent in."""
    count = max(1, int(-(-seconds // WINDOW)))
    texts: list[list[float]] = [[] for _ in range(count)]
    for text, at in tracker.answered_at.items():
        sent = tracker.sent[text]
        texts[min(count - 1, int((sent - start) // WINDOW))].append(at - sent)
    spoken: list[list[float]] = [[] for _ in range(count)]
    for said, took in calls.answered:
        spoken[min(count - 1, max(0, int((said - start) // WINDOW)))].append(took)
    rows = []
    for i in range(count):
        names = [k["node"] for k in kills if i * WINDOW <= k["at_s"] < (i + 1) * WINDOW]
        slow = sum(1 for took in texts[i] if took > SLOW)
        rows.append({"from_s": i * WINDOW, "texts": summary(texts[i]), "slow_texts": slow,
                     "voice_turns": summary(spoken[i]), "kills": names})  # fmt: skip
    return rows


async def main() -> None:
    args = parse_args()
    if args.seed is not None:
        random.seed(args.seed)
    work = Path(tempfile.mkdtemp(prefix="switchboard-bench-chaos-"))
    results: dict[str, Any] = {"config": vars(args), "cpus": os.cpu_count()}
    nodes: list[Node] = []
    with postgres_database(work) as database_url:
        server = DevServer(port=free_port(), ui_port=None, db_file=work / "temporal.db",
                           log_file=work / "temporal.log")  # fmt: skip
        await server.start()
        assert server.process is not None
        twilio, llm = FakeTwilio(BENCH_ACCOUNT_SID, BENCH_AUTH_TOKEN), FakeLLM(BENCH_LLM_KEY)
        try:
            async with serve(twilio.app) as twilio_url, serve(llm.app) as llm_url:
                env = product_env(server.address, twilio_url, llm_url, work,
                                  MEMORY_DATABASE_URL=database_url,
                                  MESSAGE_BATCH_WINDOW=args.batch_window,
                                  GATEWAY_DRAIN_SECONDS="2")  # fmt: skip
                for i in range(args.workers):
                    nodes.append(Node(f"worker-{i + 1}", ["worker.py"], env,
                                      work / f"worker-{i + 1}.log"))  # fmt: skip
                for i in range(2):
                    port = free_port()
                    url = f"http://127.0.0.1:{port}"
                    gateway_env = {**env, "GATEWAY_PORT": str(port), "PUBLIC_BASE_URL": url}
                    nodes.append(Node(f"gateway-{i + 1}", ["-m", "gateway"], gateway_env,
                                      work / f"gateway-{i + 1}.log", url))  # fmt: skip
                for node in nodes:
                    node.start()
                await asyncio.gather(*(node.ready() for node in nodes))
                results.update(await run(args, nodes, twilio, server.process.pid,
                                         int(urlsplit(database_url).port or 0)))  # fmt: skip
        finally:
            for node in nodes:
                if node.process is not None:
                    node.process.terminate()
            for node in nodes:
                if node.process is not None:
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        node.process.wait(timeout=30)
            server.stop()
    report(results)
    save_results("chaos", results, work)


async def run(args: argparse.Namespace, nodes: list[Node], twilio: FakeTwilio,
              temporal_pid: int, postgres_port: int) -> dict[str, Any]:  # fmt: skip
    tracker = Tracker()
    calls = CallStats()
    callers_numbers: set[str] = set()

    def on_accept(message: dict[str, Any]) -> None:
        if str(message["to"]) in callers_numbers:
            calls.texted.append(str(message["body"]))
        else:
            tracker.on_accept(message)

    gateways = [node for node in nodes if node.gateway]
    texts = Texts(gateways, tracker, args.give_up)
    print("warm-up: one text per gateway …", flush=True)
    for i, node in enumerate(gateways):
        warm = Tracker()
        twilio.on_accept = warm.on_accept
        await Texts([node], warm, 30).send(f"+1999555{i:04d}", f"warm-{i}", time.perf_counter())
        await drain(warm, 30)
    twilio.on_accept = on_accept

    def cpu_now() -> dict[str, float]:
        return {
            "temporal": cpu_seconds(temporal_pid),
            "workers": sum(node.cpu() for node in nodes if not node.gateway),
            "gateways": sum(node.cpu() for node in gateways),
            "postgresql": postgres_cpu(postgres_port),
            "harness": cpu_seconds(os.getpid()),
        }

    print(f"chaos: {args.rate:g} texts/s for {args.seconds:g} s across {args.customers} "
          f"customers, {args.calls} calls, a kill every {args.kill_every:g} s …",
          flush=True)  # fmt: skip
    kills: list[dict[str, Any]] = []
    cpu_before = cpu_now()
    start = time.perf_counter()
    until = start + args.seconds
    async with httpx.AsyncClient(timeout=30) as http:
        callers = [Caller(i, gateways, http, calls, args.say_every, args.reply_wait)
                   for i in range(args.calls)]  # fmt: skip
        callers_numbers.update(caller.customer for caller in callers)
        await asyncio.gather(
            texts.load(args.rate, args.seconds, args.customers),
            chaos(nodes, args.kill_every, start, until, args.victims, kills),
            *(caller.run(until) for caller in callers),
        )
    load_done = time.perf_counter()
    print(f"load over after {load_done - start:.1f} s; waiting for the replies …", flush=True)
    await drain(tracker, args.drain)
    elapsed = time.perf_counter() - start
    cpu_after = cpu_now()
    cpu = {name: round(cpu_after[name] - cpu_before[name], 2) for name in cpu_before}
    acked = len(tracker.accepted)
    lost = sorted(text for text in tracker.accepted if text not in tracker.answered_at)
    duplicated = sorted(text for text, n in tracker.replies.items() if n > 1)
    return {
        "sent_webhooks": len(tracker.sent),
        "acknowledged": acked,
        "unacknowledged": texts.unacknowledged,
        "posts_per_acknowledged_webhook": dict(sorted(texts.attempts.items())),
        "failed_posts": dict(texts.errors),
        "answered": tracker.answered(),
        "lost": len(lost),
        "lost_texts": lost[:50],
        "duplicated": tracker.duplicates(),
        "duplicated_texts": duplicated[:50],
        "ack": summary(tracker.acks),
        "webhook_to_reply": summary(tracker.e2e()),
        "windows": windows(tracker, calls, kills, start, args.seconds),
        "kills": kills,
        "kills_by_kind": dict(Counter(k["node"].split("-")[0] for k in kills)),
        "calls": {
            "turns": calls.turns,
            "answered": len(calls.answered),
            "late_replies_skipped": calls.other_replies,
            "dial_failures": calls.dial_failures,
            "no_reply_in_wait": calls.unanswered,
            "cut_off_by_a_dead_gateway": calls.cut_off,
            "sockets_broken": calls.broken,
            "recovered": calls.recovered,
            "not_recovered": calls.not_recovered,
            "recovery": summary(calls.recovery),
            "turn_latency": summary([took for _, took in calls.answered]),
            "texted_callers": calls.texted,
        },
        "load_seconds": round(load_done - start, 1),
        "elapsed_seconds": round(elapsed, 1),
        "cpu_seconds": cpu,
        "cpu_ms_per_text": {k: round(v * 1000 / max(1, acked), 2) for k, v in cpu.items()},
        "cpu_cores_busy": round(sum(cpu.values()) / elapsed, 2),
    }


def report(results: dict[str, Any]) -> None:
    r = results
    print(f"\ntexts: {r['sent_webhooks']} webhooks, {r['acknowledged']} acknowledged "
          f"({r['unacknowledged']} never), {r['answered']} answered: {r['lost']} lost, "
          f"{r['duplicated']} duplicated")  # fmt: skip
    print(f"posts per acknowledged webhook: {r['posts_per_acknowledged_webhook']}; "
          f"failed posts: {r['failed_posts'] or 'none'}")  # fmt: skip
    if r["lost_texts"] or r["duplicated_texts"]:
        print(f"lost: {r['lost_texts']}\nduplicated: {r['duplicated_texts']}")
    back = [k["back_after_s"] for k in r["kills"] if "gateway" in k["node"]]
    back_text = f"; a gateway was back after {min(back)}–{max(back)} s" if back else ""
    print(f"kills: {len(r['kills'])} {r['kills_by_kind']}{back_text}")
    header = f"{'window':>12} {'n':>6} {'p50':>8} {'p95':>8} {'p99':>8} {'max':>9} {'>2 s':>5}"
    print(f"\nwebhook → reply at Twilio (ms), by the window the text was sent in\n{header}"
          f"   voice p50/p95   kills")  # fmt: skip
    for row in r["windows"]:
        s, v = row["texts"], row["voice_turns"]
        span = f"{row['from_s']:.0f}–{row['from_s'] + WINDOW:.0f} s"
        voice = f"{v['p50']:.0f}/{v['p95']:.0f}" if v.get("n") else "-"
        if s.get("n"):
            print(f"{span:>12} {s['n']:>6} {s['p50']:>8.0f} {s['p95']:>8.0f} {s['p99']:>8.0f} "
                  f"{s['max']:>9.0f} {row['slow_texts']:>5}   {voice:>13}   "
                  f"{', '.join(row['kills'])}")  # fmt: skip
        else:
            print(f"{span:>12} {0:>6}")
    s = r["webhook_to_reply"]
    if s.get("n"):
        slow = sum(row["slow_texts"] for row in r["windows"])
        print(f"{'all':>12} {s['n']:>6} {s['p50']:>8.0f} {s['p95']:>8.0f} {s['p99']:>8.0f} "
              f"{s['max']:>9.0f} {slow:>5}")  # fmt: skip
    a = r["ack"]
    if a.get("n"):
        print(f"webhook acknowledged (ms, retries included): p50 {a['p50']:.0f}, "
              f"p95 {a['p95']:.0f}, p99 {a['p99']:.0f}, max {a['max']:.0f}")  # fmt: skip
    c = r["calls"]
    print(f"\ncalls: {c['turns']} prompts, {c['answered']} answered right "
          f"({c['late_replies_skipped']} late replies to earlier prompts skipped), "
          f"{c['no_reply_in_wait']} unanswered on an open socket, "
          f"{c['cut_off_by_a_dead_gateway']} cut off by a dead gateway; sockets broken "
          f"{c['sockets_broken']}, recovered {c['recovered']}, not recovered "
          f"{len(c['not_recovered'])}; callers texted {len(c['texted_callers'])}×")  # fmt: skip
    if c["recovery"].get("n"):
        print(f"socket broken → first reply on the new socket (ms): p50 "
              f"{c['recovery']['p50']:.0f}, max {c['recovery']['max']:.0f}")  # fmt: skip
    print(f"\nCPU seconds over {r['elapsed_seconds']} s: {r['cpu_seconds']} "
          f"({r['cpu_cores_busy']} cores busy); per acknowledged text (ms): "
          f"{r['cpu_ms_per_text']}")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
