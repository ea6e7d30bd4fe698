"""The replay gate: recorded fixtures pass; an unpatched change to a live workflow fails it.

The live tests record real histories of a tiny workflow (``tests.support.gate_workflows``)
on the session's dev server, then gate three versions of its code against them: the same
code passes, a reordering without a patch fails every run, the same reordering behind
``workflow.patched`` passes.
"""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from switchboard.devtools.devserver import DevServer
from switchboard.devtools.replay_gate import (
    GateReport,
    check_live,
    gate_runner,
    main,
    visibility_query,
)
from switchboard.runtime.config import Settings
from tests.conftest import unique_customer
from tests.support.gate_workflows import (
    ProbeTimerFirst,
    ProbeTimerFirstPatched,
    ProbeV1,
    probe_step,
)

_T = TypeVar("_T")
HISTORIES = Path(__file__).parents[1] / "workflows" / "histories"


async def _poll(check: Callable[[], Awaitable[_T | None]], timeout: float = 10.0) -> _T:
    deadline = asyncio.get_running_loop().time() + timeout
    while (value := await check()) is None:
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.1)
    return value


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


async def test_the_recorded_fixtures_pass_the_gate() -> None:
    out = io.StringIO()
    assert await main(["--history-dir", str(HISTORIES)], settings=_settings(), out=out) == 0
    count = len(list(HISTORIES.glob("*.json")))
    assert f"{count} replayed, 0 failed" in out.getvalue()


async def test_a_history_dir_without_histories_cannot_pass(tmp_path: Path) -> None:
    out = io.StringIO()
    assert await main(["--history-dir", str(tmp_path)], settings=_settings(), out=out) == 2
    assert "no *.json history" in out.getvalue()


def test_the_query_lists_open_runs_and_recent_closed_ones_of_our_queues() -> None:
    query = visibility_query(
        ["A", "B"], ["q", "q", "q-i"], datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    )
    assert query == (
        "WorkflowType IN ('A', 'B') AND TaskQueue IN ('q', 'q-i')"
        " AND (ExecutionStatus = 'Running' OR CloseTime >= '2026-01-02T03:04:05Z')"
    )


@pytest.fixture
async def probe_runs(
    client: Client,
) -> AsyncIterator[tuple[str, list[WorkflowHandle[ProbeV1, str]]]]:
    """Two runs of ``ProbeV1`` on a fresh task queue: one finished, one still open."""
    queue = f"gate-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[ProbeV1],
        activities=[probe_step],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        closed = await client.start_workflow(
            ProbeV1.run, id=f"gate-probe-{uuid.uuid4().hex[:8]}", task_queue=queue
        )
        # A number in the id, as a conversation's has: the report must mask it.
        still_open = await client.start_workflow(
            ProbeV1.run, id=f"gate-probe-{unique_customer()}", task_queue=queue
        )
        await closed.signal(ProbeV1.finish)
        assert await closed.result() == "one"
        await _poll(lambda: _activity_completed(still_open))
    try:
        yield queue, [closed, still_open]
    finally:
        await still_open.terminate("test over")


async def _activity_completed(handle: WorkflowHandle[ProbeV1, str]) -> bool | None:
    history = await handle.fetch_history()
    done = EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
    return True if any(e.event_type == done for e in history.events) else None


async def _gate(client: Client, queue: str, workflows: Sequence[type]) -> GateReport:
    return await check_live(
        client, workflows=workflows, task_queues=[queue], runner=gate_runner(_settings())
    )


async def _gate_seeing_both(client: Client, queue: str, workflows: Sequence[type]) -> GateReport:
    """The gate, once visibility lists both runs (it lags the runs by a moment)."""

    async def both() -> GateReport | None:
        report = await _gate(client, queue, workflows)
        return report if report.replayed == 2 else None

    return await _poll(both)


async def test_the_same_code_passes_the_gate(
    client: Client, probe_runs: tuple[str, list[WorkflowHandle[ProbeV1, str]]]
) -> None:
    queue, _ = probe_runs
    report = await _gate_seeing_both(client, queue, [ProbeV1])
    assert report.ok, report.failures


async def test_an_unpatched_reordering_fails_the_gate(
    client: Client, probe_runs: tuple[str, list[WorkflowHandle[ProbeV1, str]]]
) -> None:
    queue, (_, still_open) = probe_runs
    report = await _gate_seeing_both(client, queue, [ProbeTimerFirst])
    assert len(report.failures) == 2
    assert all("Nondeterminism" in failure.error for failure in report.failures)
    number = still_open.id.removeprefix("gate-probe-")
    masked = next(f for f in report.failures if f.workflow_id.endswith(number[-4:]))
    assert number not in masked.workflow_id
    assert masked.run_id == still_open.result_run_id
    out = io.StringIO()
    report.write(out)
    assert "2 replayed, 2 failed" in out.getvalue()
    assert number not in out.getvalue()


async def test_the_same_reordering_behind_a_patch_passes_the_gate(
    client: Client, probe_runs: tuple[str, list[WorkflowHandle[ProbeV1, str]]]
) -> None:
    queue, _ = probe_runs
    report = await _gate_seeing_both(client, queue, [ProbeTimerFirstPatched])
    assert report.ok, report.failures


async def test_the_command_runs_against_a_live_namespace(temporal_server: DevServer) -> None:
    """Connected as the worker is (``connect``); the server accepts the gate's query."""
    settings = _settings(
        temporal_address=temporal_server.address, temporal_task_queue=f"q-{uuid.uuid4().hex}"
    )
    out = io.StringIO()
    assert await main(["--closed-within", "1h", "--limit", "5"], settings=settings, out=out) == 0
    assert "0 replayed, 0 failed" in out.getvalue()


async def test_the_gate_says_when_it_stopped_at_the_limit(
    client: Client, probe_runs: tuple[str, list[WorkflowHandle[ProbeV1, str]]]
) -> None:
    queue, _ = probe_runs
    await _gate_seeing_both(client, queue, [ProbeV1])
    report = await check_live(
        client, workflows=[ProbeV1], task_queues=[queue], runner=gate_runner(_settings()), limit=1
    )
    assert (report.replayed, report.limited) == (1, True)
    out = io.StringIO()
    report.write(out)
    assert "stopped at --limit" in out.getvalue()


async def test_a_history_of_a_type_the_code_lacks_fails_the_gate(
    tmp_path: Path, probe_runs: tuple[str, list[WorkflowHandle[ProbeV1, str]]]
) -> None:
    _, (closed, _) = probe_runs
    (tmp_path / "probe.json").write_text((await closed.fetch_history()).to_json())
    out = io.StringIO()
    assert await main(["--history-dir", str(tmp_path)], settings=_settings(), out=out) == 1
    assert "1 replayed, 1 failed" in out.getvalue()
