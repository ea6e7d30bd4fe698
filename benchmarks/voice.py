"""Voice benchmark: caller's prompt frame → first ``text`` token on the socket.

``make bench-voice`` (or ``.venv/bin/python benchmarks/voice.py --help``). It starts its own
Temporal dev server, one worker and one gateway as separate processes, with an instant
streaming fake OpenAI-compatible LLM and a fake Twilio REST API served from this process,
then measures in one run:

1. the Temporal hops a voice turn could take, with a worker in this process: signal → activity
   on the same task queue (the floor), signal → activity on another worker's queue (the
   gateway's, as in a design that streams from an activity), and a no-op update;
2. spaced turns through the product over real ConversationRelay sockets: the time from
   sending a ``prompt`` (``last: true``) to receiving the first ``text`` token, with the
   gateway's own breakdown of each turn (queued, the ``voice_prompt`` update, the model's
   first token) read from its log — once with the plain design (the model starts when the
   workflow's plan arrives), once with the speculative start (the model starts at once on
   the gateway's guess of the plan; tokens are released only if the plan confirms it), and
   once with ``VOICE_RELEASE=optimistic`` (the guess is spoken at once, cut if the plan
   differs);
3. the model alone: the same streaming request straight to the fake model from this
   process, spaced like turns (what an in-process relay with no durability would wait).

Results are printed as percentiles and ratios to the floor, and saved under
``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.worker import Worker

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.floor import FloorClock, FloorWorkflow, HopWorkflow
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
from benchmarks.messaging import measure_floor
from switchboard.devtools.devserver import DevServer
from switchboard.devtools.twilio_sim import RelayCall, TwilioWebhookClient
from tests.support.fake_llm import FakeLLM, FakeReply
from tests.support.fake_twilio import FakeTwilio
from tests.support.server import free_port, serve

BUSINESS = "+15005550001"
DESIGNS = ("plain", "speculative", "optimistic")
REPLY = "Sure. Our store opens at nine and closes at six, Monday to Saturday."


async def measure_hops(client: Client, n: int, gap: float) -> dict[str, Any]:
    """Signal → activity on another worker's queue, and a no-op update, spaced like turns."""
    clock = FloorClock()
    queue, other = f"hop-{uuid.uuid4().hex[:6]}", f"hop-gw-{uuid.uuid4().hex[:6]}"
    async with (
        Worker(client, task_queue=queue, workflows=[HopWorkflow, FloorWorkflow]),
        Worker(client, task_queue=other, activities=[clock.floor_first]),
    ):
        handle = await client.start_workflow(HopWorkflow.run, other, id=queue, task_queue=queue)
        sends: list[float] = []
        updates: list[float] = []
        for _ in range(n + 5):
            sent_at = time.perf_counter()
            await handle.signal(HopWorkflow.ping, sent_at)
            sends.append(sent_at)
            await asyncio.sleep(gap * random.uniform(0.8, 1.2))
            started = time.perf_counter()
            await handle.execute_update(HopWorkflow.noop, started)
            updates.append(time.perf_counter() - started)
            await asyncio.sleep(gap * random.uniform(0.8, 1.2))
        await handle.signal(HopWorkflow.stop)
        await handle.result()
    return {
        "signal_to_other_queue_activity": summary([clock.first[s] - s for s in sends[5:]]),
        "noop_update": summary(updates[5:]),
    }


async def measure_model_alone(llm_url: str, n: int, gap: float) -> dict[str, Any]:
    """Request → first streamed chunk, straight to the fake model (no gateway, no Temporal)."""
    firsts: list[float] = []
    body = {"model": "bench", "stream": True,
            "messages": [{"role": "user", "content": "When do you open?"}]}  # fmt: skip
    headers = {"Authorization": f"Bearer {BENCH_LLM_KEY}"}
    async with httpx.AsyncClient(base_url=llm_url, headers=headers, timeout=10) as http:
        for index in range(n + 5):
            started = time.perf_counter()
            async with http.stream("POST", "/v1/chat/completions", json=body) as response:
                async for line in response.aiter_lines():
                    if line.startswith("data:") and '"content"' in line:
                        if index >= 5:
                            firsts.append(time.perf_counter() - started)
                        break
            await asyncio.sleep(gap * random.uniform(0.8, 1.2))
    return summary(firsts)


async def spaced_calls(
    gateway: str, calls: int, prompts: int, gap: float
) -> tuple[list[float], list[float]]:
    """``calls`` calls of ``prompts`` turns each; prompt → first token and → last token."""
    first: list[float] = []
    whole: list[float] = []
    async with httpx.AsyncClient() as http:
        webhooks = TwilioWebhookClient(http, gateway, BENCH_AUTH_TOKEN)
        for index in range(calls):
            caller = f"+1415{random.randint(2000000, 9999999)}"
            call = await RelayCall.dial(webhooks, caller, BUSINESS, account_sid=BENCH_ACCOUNT_SID)
            await asyncio.sleep(0.3)
            for turn in range(prompts):
                sent = time.perf_counter()
                await call.say(f"Question {turn} of call {index}: when do you open?")
                frame = await call.frame()
                got_first = time.perf_counter()
                while not frame.get("last"):
                    frame = await call.frame()
                if turn > 0 or index > 0:  # the very first turn warms everything up
                    first.append(got_first - sent)
                    whole.append(time.perf_counter() - sent)
                await asyncio.sleep(gap * random.uniform(0.8, 1.2))
            await call.hang_up()
    return first, whole


def gateway_breakdown(log: Path) -> dict[str, Any]:
    """The gateway's per-turn timings (``voice_first_token`` log lines), as percentiles."""
    fields = ("total_ms", "queued_ms", "plan_update_ms", "workflow_task_at_ms",
              "model_first_token_ms")  # fmt: skip
    values: dict[str, list[float]] = {name: [] for name in fields}
    for line in log.read_text().splitlines():
        if '"voice_first_token"' not in line:
            continue
        event = json.loads(line)
        for name in fields:
            if event.get(name) is not None:
                values[name].append(event[name] / 1000)
    return {name: summary(v[1:]) for name, v in values.items()}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=10, help="calls (default 10)")
    parser.add_argument("--prompts", type=int, default=21, help="prompts per call (default 21)")
    parser.add_argument("--gap", type=float, default=0.25, help="seconds between turns")
    parser.add_argument("--floor", type=int, default=200, help="floor samples (default 200)")
    parser.add_argument(
        "--llm-delay", type=float, default=0.0, help="the fake model's time to first token (s)"
    )
    return parser.parse_args()


async def main() -> None:
    args = parse_args()
    work = Path(tempfile.mkdtemp(prefix="switchboard-bench-voice-"))
    server = DevServer(port=free_port(), ui_port=None, db_file=work / "temporal.db",
                       log_file=work / "temporal.log")  # fmt: skip
    await server.start()
    assert server.process is not None
    twilio, llm = FakeTwilio(BENCH_ACCOUNT_SID, BENCH_AUTH_TOKEN), FakeLLM(BENCH_LLM_KEY)
    llm.responder = lambda messages: FakeReply(text=REPLY, delay=args.llm_delay)
    processes = []
    results: dict[str, Any] = {"config": vars(args), "cpus": os.cpu_count()}
    try:
        async with serve(twilio.app) as twilio_url, serve(llm.app) as llm_url:
            env = product_env(server.address, twilio_url, llm_url, work)
            processes.append(spawn(["worker.py"], env, work / "worker.log"))
            gateways: dict[str, tuple[str, Path, int]] = {}
            for design in DESIGNS:
                port = free_port()
                url = f"http://127.0.0.1:{port}"
                log = work / f"gateway-{design}.log"
                gateway_env = {**env, "GATEWAY_PORT": str(port), "PUBLIC_BASE_URL": url,
                               "VOICE_SPECULATIVE_START": str(design != "plain").lower(),
                               "VOICE_RELEASE": "optimistic" if design == "optimistic"
                               else "confirmed", "LOG_LEVEL": "INFO",
                               "LOG_FORMAT": "json"}  # fmt: skip
                processes.append(spawn(["-m", "gateway"], gateway_env, log))
                gateways[design] = (url, log, processes[-1].pid)
            for url, _, _ in gateways.values():
                await wait_healthy(url)
            client = await Client.connect(server.address)

            print(f"floor and hops: {args.floor} samples each …", flush=True)
            floor = await measure_floor(client, args.floor, args.gap, False)
            results["floor_same_queue"] = floor["signal_to_first_activity"]
            results.update(await measure_hops(client, args.floor, args.gap))
            results["model_alone"] = await measure_model_alone(llm_url, args.floor, args.gap)

            turns = args.calls * args.prompts - 1
            for design, (url, log, pid) in gateways.items():
                print(f"voice ({design}): {args.calls} calls × {args.prompts} prompts "
                      f"({turns} measured) …", flush=True)  # fmt: skip
                meter = CpuMeter({"temporal": server.process.pid, "worker": processes[0].pid,
                                  "gateway": pid})  # fmt: skip
                meter.start()
                first, whole = await spaced_calls(url, args.calls, args.prompts, args.gap)
                await asyncio.sleep(1)  # let the gateway flush its log
                results[design] = {
                    "cpu_ms_per_turn": meter.per_item_ms(len(first) + 1),
                    "prompt_to_first_token": summary(first),
                    "prompt_to_last_token": summary(whole),
                    "gateway_breakdown": gateway_breakdown(log),
                }
    finally:
        stop_all(processes)
        server.stop()
    report(results)
    save_results("voice", results, work)


def report(results: dict[str, Any]) -> None:
    floor = results["floor_same_queue"]
    rows = [
        ("floor: signal → activity, same queue", floor),
        ("hop: signal → activity, other queue", results["signal_to_other_queue_activity"]),
        ("hop: no-op update", results["noop_update"]),
        ("model alone: request → first chunk", results["model_alone"]),
    ]
    for design in DESIGNS:
        run, breakdown = results[design], results[design]["gateway_breakdown"]
        rows += [
            (f"{design}: prompt → first token (caller)", run["prompt_to_first_token"]),
            (f"{design}: prompt → last token (caller)", run["prompt_to_last_token"]),
            ("  gateway: frame → first token", breakdown["total_ms"]),
            ("  gateway: frame → update sent", breakdown["queued_ms"]),
            ("  gateway: voice_prompt update", breakdown["plan_update_ms"]),
            ("  frame → workflow task started", breakdown["workflow_task_at_ms"]),
            ("  gateway: plan → first token", breakdown["model_first_token_ms"]),
        ]
    print(f"\n{'':42} {'n':>5} {'p50':>8} {'p95':>8} {'p99':>8}   p50 / floor")
    for name, s in rows:
        if not s.get("n"):
            continue
        ratio = s["p50"] / floor["p50"] if floor.get("p50") else float("nan")
        print(f"{name:42} {s['n']:>5} {s['p50']:>8.2f} {s['p95']:>8.2f} {s['p99']:>8.2f}"
              f"   {ratio:5.2f}×")  # fmt: skip
    model = results["model_alone"]["p50"]
    for design in DESIGNS:
        over = results[design]["prompt_to_first_token"]["p50"] - model
        print(f"{design}: prompt → first token p50 over the model alone: {over:+.2f} ms")
    for design in DESIGNS:
        print(f"CPU per voice turn, {design} (ms): {results[design]['cpu_ms_per_turn']}")


if __name__ == "__main__":
    asyncio.run(main())
