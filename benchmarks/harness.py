"""Pieces shared by the benchmarks: percentiles, CPU accounting, child processes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from switchboard.devtools.devserver import detach_and_die_with_parent

ROOT = Path(__file__).resolve().parents[1]
BENCH_ACCOUNT_SID = "AC" + "b" * 32
BENCH_AUTH_TOKEN = "bench-token"
BENCH_LLM_KEY = "sk-bench"


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of seconds, in milliseconds."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index] * 1000


def summary(values: list[float]) -> dict[str, float]:
    """n, p50/p95/p99/max and mean in ms."""
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50": round(pct(values, 50), 2),
        "p95": round(pct(values, 95), 2),
        "p99": round(pct(values, 99), 2),
        "max": round(max(values) * 1000, 2),
        "mean": round(statistics.fmean(values) * 1000, 2),
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds used by named processes between ``start`` and ``stop``."""

    def __init__(self, pids: dict[str, int]) -> None:
        self._pids = pids
        self._before: dict[str, float] = {}

    def start(self) -> None:
        """Take the first reading."""
        self._before = {name: cpu_seconds(pid) for name, pid in self._pids.items()}

    def per_item_ms(self, items: int) -> dict[str, float]:
        """Milliseconds of CPU per item for each process since ``start``."""
        return {
            name: round((cpu_seconds(pid) - self._before[name]) * 1000 / max(1, items), 2)
            for name, pid in self._pids.items()
        }


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``python ARGS`` in the repository root, output to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT,
                                preexec_fn=detach_and_die_with_parent)  # fmt: skip


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds so far by kind of thread: the Python main thread, other Python threads
    (the workflow task executor), and the SDK core's threads (named by Rust)."""
    tick = os.sysconf("SC_CLK_TCK")
    out: defaultdict[str, float] = defaultdict(float)
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        seconds = (int(fields[11]) + int(fields[12])) / tick
        if int(task.name) == pid:
            out["python main thread"] += seconds
        elif name.startswith("python"):
            out["other Python threads"] += seconds
        else:
            out[f"core: {name}"] += seconds
    return dict(out)


def cpu_per_turn(before: dict[str, float], after: dict[str, float], turns: int) -> dict[str, Any]:
    """Worker CPU per turn between two ``thread_cpu`` readings, in all and by kind of thread."""
    cpu = {k: v - before.get(k, 0.0) for k, v in after.items()}
    turns = max(1, turns)
    return {
        "worker_cpu_ms_per_turn": round(sum(cpu.values()) * 1000 / turns, 2),
        "by_thread_ms_per_turn": {
            k: round(v * 1000 / turns, 2) for k, v in sorted(cpu.items()) if v > 0
        },
    }


async def wait_healthy(url: str) -> None:
    """Wait until a gateway's /healthz answers 200."""
    async with httpx.AsyncClient() as http:
        for _ in range(300):
            try:
                if (await http.get(f"{url}/healthz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"gateway at {url} not healthy")


async def open_loop(rate: float, seconds: float, send: Callable[[int], Awaitable[object]]) -> int:
    """``send(i)`` for i = 0, 1, … at ``rate`` per second for ``seconds``, each started on
    time whether or not earlier ones have finished (an open loop); how many were sent."""
    total = int(rate * seconds)
    start = time.perf_counter()
    tasks = []
    for i in range(total):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(send(i)))
    await asyncio.gather(*tasks)
    return total


def product_env(
    temporal_address: str, twilio_url: str, llm_url: str, work: Path, **extra: str
) -> dict[str, str]:
    """Environment of a benchmarked worker or gateway: the fakes, a scratch store, quiet logs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "LLM_"))}
    env.update(
        TEMPORAL_ADDRESS=temporal_address, TWILIO_ACCOUNT_SID=BENCH_ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=BENCH_AUTH_TOKEN, TWILIO_API_BASE_URL=twilio_url,
        LLM_BASE_URL=f"{llm_url}/v1", LLM_API_KEY=BENCH_LLM_KEY, LLM_MODEL="bench",
        MEMORY_DATABASE_URL=f"sqlite:///{work / 'memory.db'}", LOG_LEVEL="WARNING",
    )  # fmt: skip
    env.update(extra)
    return env


def save_results(name: str, results: dict[str, Any], logs: Path) -> None:
    """Write the raw results to ``benchmarks/results/<name>-<time>.json`` and say where."""
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    path = out / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"\nraw results: {path.relative_to(ROOT)}   logs: {logs}")


def stop_all(processes: list[subprocess.Popen[bytes]]) -> None:
    """Terminate child processes and wait for them."""
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(timeout=30)


# --- the store's databases, for the benchmarks that compare the two backends --------------


@contextlib.contextmanager
def sqlite_database(work: Path) -> Iterator[str]:
    """A SQLite file under ``work``, removed (with its WAL files) afterwards."""
    path = work / "bench.db"
    try:
        yield f"sqlite:///{path}"
    finally:
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                Path(f"{path}{suffix}").unlink()


@contextlib.contextmanager
def postgres_database(work: Path) -> Iterator[str]:
    """A throwaway PostgreSQL cluster with one database; its log is kept under ``work``."""
    import psycopg

    from tests.support.postgres import PostgresCluster, _postgres_bin

    bindir = _postgres_bin()
    if bindir is None:
        raise RuntimeError("no initdb/pg_ctl under /usr/lib/postgresql/*/bin or on PATH")
    cluster = PostgresCluster(bindir)
    try:
        cluster.start()
        with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
            conn.execute("CREATE DATABASE switchboard_bench")
        yield cluster.url("switchboard_bench")
    finally:
        with contextlib.suppress(OSError):
            shutil.copy(cluster.log, work / "postgres.log")
        cluster.stop()


DATABASES = {"sqlite": sqlite_database, "postgresql": postgres_database}
"""The backends by name, each a context manager giving a ``MEMORY_DATABASE_URL``."""
