"""Re-analysis benchmark: stored conversations analysed again per second, beside a baseline.

``make bench-reanalysis`` (or ``.venv/bin/python benchmarks/reanalysis.py --help``). It stores
N conversations in a scratch SQLite store, starts its own Temporal dev server and one worker
as separate processes — as a user would — with an instant fake OpenAI-compatible model served
from this process, and measures in one run:

1. the baseline: the same operators over the same stored transcripts, run directly in this
   process (read the batch, ``Analyzer.run`` per conversation with the same concurrency,
   store the results) — no Temporal, no worker;
2. the product: ``ReanalysisWorkflow`` over all N through the worker (count, pages, batch
   activities), from start to the last batch, with the CPU each process spent per
   conversation.

The target is at least 50 conversations per second on a 2-core machine. Raw results are
saved as JSON under ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import openai
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from activities.reanalysis import ReanalysisActivities
from benchmarks.harness import (
    BENCH_LLM_KEY,
    CpuMeter,
    product_env,
    save_results,
    spawn,
    stop_all,
)
from switchboard.contract.addresses import Channel
from switchboard.contract.reanalysis import (
    ReanalysisBatch,
    ReanalysisProgress,
    ReanalysisRequest,
    ReanalysisStatus,
    RunSelection,
)
from switchboard.devtools.devserver import DevServer
from switchboard.intelligence import Analyzer, load_operators
from switchboard.memory import MemoryStore, open_store
from switchboard.memory.models import ConversationRecord, TranscriptLine
from switchboard.runtime.config import Settings
from switchboard.runtime.logging import configure_logging
from tests.support.fake_llm import FakeLLM
from tests.support.fake_twilio import FakeTwilio
from tests.support.server import free_port, serve
from workflows.reanalysis_control import Reanalyses

T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
LINES = [
    ("customer", "Hi, my invoice charged me twice this month."),
    ("assistant", "I'm sorry about that. Let me look at your billing."),
    ("customer", "Please refund the second charge, it's the order from last week."),
    ("assistant", "Done: the refund is on its way, 3 to 5 days."),
    ("customer", "Great, thank you so much."),
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--conversations", type=int, default=2000)
    parser.add_argument("--operators", default="sentiment,topic,outcome,summary")
    parser.add_argument("--concurrency", type=int, default=4, help="batches in flight")
    parser.add_argument("--batch", type=int, default=25, help="conversations per batch")
    return parser.parse_args()


async def fill(store: MemoryStore, n: int) -> None:
    for i in range(n):
        closed = T0 + timedelta(seconds=i)
        customer = f"+1415{i:07d}"
        await store.save_conversation(
            ConversationRecord(
                customer=customer,
                conversation_id=f"conv-{customer}",
                run_id=f"run-{i:07d}",
                closed_at=closed,
                transcript=[
                    TranscriptLine(role=role, text=text, channel=Channel.SMS, at=closed)
                    for role, text in LINES[: 3 + i % 3]
                ],
            )
        )


async def baseline(
    store: MemoryStore, llm_url: str, operators: list[str], args: argparse.Namespace
) -> dict[str, Any]:
    """The operators over every stored run in this process: no Temporal, no worker."""
    settings = Settings(_env_file=None, llm_base_url=f"{llm_url}/v1", llm_api_key=BENCH_LLM_KEY)
    client = openai.AsyncOpenAI(base_url=f"{llm_url}/v1", api_key=BENCH_LLM_KEY)
    analyzer = Analyzer(load_operators(settings, None), client, "bench")
    activities = ReanalysisActivities(analyzer, store)
    gate = asyncio.Semaphore(args.concurrency)
    started = time.perf_counter()
    runs = await store.stored_runs(RunSelection(), None, args.conversations)
    batches = [runs[i : i + args.batch] for i in range(0, len(runs), args.batch)]

    async def one(index: int) -> None:
        async with gate:
            await activities.reanalyze_batch(
                ReanalysisBatch(
                    reanalysis_id="baseline", runs=batches[index], operators=operators, force=True
                ),
            )

    await asyncio.gather(*(one(i) for i in range(len(batches))))
    seconds = time.perf_counter() - started
    await client.close()
    return {"conversations": len(runs), "seconds": round(seconds, 3),
            "per_second": round(len(runs) / seconds, 1)}  # fmt: skip


async def product(
    client: Client, queue: str, operators: list[str], args: argparse.Namespace, meter: CpuMeter
) -> dict[str, Any]:
    """``ReanalysisWorkflow`` over every stored run, through the worker."""
    reanalyses = Reanalyses(client, queue)
    request = ReanalysisRequest(
        operators=operators, concurrency=args.concurrency, batch=args.batch, force=True
    )
    reanalysis_id = f"bench{int(time.time())}"
    meter.start()
    started = time.perf_counter()
    await reanalyses.start(request, reanalysis_id)
    progress: ReanalysisProgress | None = None
    deadline = started + 900
    while progress is None or progress.status is ReanalysisStatus.RUNNING:
        if time.perf_counter() > deadline:
            raise RuntimeError("the re-analysis did not finish in 15 minutes (see worker.log)")
        await asyncio.sleep(0.2)
        progress = await reanalyses.progress(reanalysis_id)
    seconds = time.perf_counter() - started
    assert progress.status is ReanalysisStatus.COMPLETED, progress
    return {
        "conversations": progress.done,
        "results": progress.results,
        "failed": progress.failed,
        "seconds": round(seconds, 3),
        "per_second": round(progress.done / seconds, 1),
        "workflow_rate": round(progress.rate, 1),
        "cpu_ms_per_conversation": meter.per_item_ms(progress.done),
    }


async def main() -> None:
    args = parse_args()
    configure_logging("WARNING", "console")
    operators = [name.strip() for name in args.operators.split(",") if name.strip()]
    work = Path(tempfile.mkdtemp(prefix="switchboard-bench-"))
    server = DevServer(port=free_port(), ui_port=None, db_file=work / "temporal.db",
                       log_file=work / "temporal.log")  # fmt: skip
    await server.start()
    assert server.process is not None
    llm, twilio = FakeLLM(BENCH_LLM_KEY), FakeTwilio("AC" + "b" * 32, "bench-token")
    results: dict[str, Any] = {"config": vars(args), "cpus": os.cpu_count()}
    processes = []
    try:
        async with serve(llm.app) as llm_url, serve(twilio.app) as twilio_url:
            env = product_env(server.address, twilio_url, llm_url, work)
            store = open_store(env["MEMORY_DATABASE_URL"])
            await store.migrate()
            print(f"storing {args.conversations} conversations …", flush=True)
            await fill(store, args.conversations)
            print("baseline: the operators in this process …", flush=True)
            results["baseline"] = await baseline(store, llm_url, operators, args)
            await store.close()
            processes.append(spawn(["worker.py"], env, work / "worker.log"))
            client = await Client.connect(server.address, data_converter=pydantic_data_converter)
            queue = "conversations-intelligence"
            warm = ReanalysisRequest(operators=operators, limit=50, force=True)
            await Reanalyses(client, queue).start(warm, f"warm{int(time.time())}")
            await asyncio.sleep(3)
            print(f"product: ReanalysisWorkflow over {args.conversations} …", flush=True)
            meter = CpuMeter({"temporal": server.process.pid, "worker": processes[0].pid,
                              "harness (model)": os.getpid()})  # fmt: skip
            results["product"] = await product(client, queue, operators, args, meter)
    finally:
        stop_all(processes)
        server.stop()
    report(results)
    save_results("reanalysis", results, work)


def report(results: dict[str, Any]) -> None:
    base, prod = results["baseline"], results["product"]
    print(
        f"\noperators: {results['config']['operators']}  "
        f"(concurrency {results['config']['concurrency']}, batch {results['config']['batch']})"
    )
    print(
        f"baseline (in process):      {base['per_second']:>7} conversations/s "
        f"({base['conversations']} in {base['seconds']} s)"
    )
    print(
        f"ReanalysisWorkflow (worker): {prod['per_second']:>7} conversations/s "
        f"({prod['conversations']} in {prod['seconds']} s; {prod['results']} results, "
        f"{prod['failed']} failed) = {prod['per_second'] / base['per_second']:.2f}× the baseline"
    )
    cpu = prod["cpu_ms_per_conversation"]
    print(f"CPU per conversation (ms): {cpu} = {sum(cpu.values()):.1f} ms")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
