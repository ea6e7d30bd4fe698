"""The replay gate: the working tree's workflow code against the histories it would resume.

``python -m switchboard.devtools.replay_gate`` (or ``make replay-gate``) connects the way the
worker does (``TEMPORAL_ADDRESS``, namespace, TLS or API key, the payload codec), lists this
project's workflows that are open, plus those closed within ``--closed-within`` (24h by
default), fetches their histories a few at a time and replays each one against the
workflow classes of this checkout, under the worker's sandbox. A change that would break a
running conversation on deploy (non-determinism) fails here first: each failure is printed
(workflow id with the number masked, run id, the error) and the command exits 1.

``--history-dir DIR`` replays JSON histories from files instead (``temporal workflow show
-o json``, or ``WorkflowHistory.to_json()``), so CI runs the same gate on the recorded
fixtures (``tests/workflows/histories``) without a server.

Exit codes: 0 every history replayed, 1 at least one did not, 2 the gate could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import deque
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from temporalio.client import Client, WorkflowExecution, WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Replayer, WorkflowRunner
from temporalio.workflow import _Definition

from switchboard.devtools.run import use_local_payload_keys
from switchboard.runtime.config import Settings, get_settings
from switchboard.runtime.durations import parse_duration
from switchboard.runtime.log_privacy import mask_numbers_in
from switchboard.runtime.temporal import connect, data_converter
from worker import workflow_runner
from workflows.callback import CallbackWorkflow
from workflows.conversation import ConversationWorkflow
from workflows.reanalysis import ReanalysisWorkflow

DEFAULT_CLOSED_WITHIN = timedelta(hours=24)
DEFAULT_LIMIT = 1000
DEFAULT_CONCURRENCY = 8
_ERROR_CHARS = 600
"""An error is cut to this: enough for the mismatched command, never a whole payload."""


@dataclass(frozen=True)
class ReplayFailure:
    """One history the working tree's code could not replay."""

    workflow_id: str
    """Masked: a conversation's id keeps only the last four digits of the number."""
    run_id: str
    error: str


@dataclass
class GateReport:
    """What one run of the gate found."""

    replayed: int = 0
    failures: list[ReplayFailure] = field(default_factory=list)
    skipped: int = 0
    """Listed, then gone before its history could be fetched (deleted by retention)."""
    limited: bool = False
    """The listing reached ``--limit``: more runs may be open than were replayed."""

    @property
    def ok(self) -> bool:
        """True when every history replayed."""
        return not self.failures

    def write(self, out: TextIO) -> None:
        """A line per failure, then the totals."""
        for failure in self.failures:
            out.write(f"FAIL {failure.workflow_id} run {failure.run_id}: {failure.error}\n")
        summary = f"replay gate: {self.replayed} replayed, {len(self.failures)} failed"
        if self.skipped:
            summary += f", {self.skipped} gone before fetching"
        if self.limited:
            summary += " (stopped at --limit: more runs may be open)"
        out.write(summary + "\n")


def project_workflows() -> list[type]:
    """The workflow classes the worker runs (``worker.py``), as this checkout defines them."""
    return [ConversationWorkflow, CallbackWorkflow, ReanalysisWorkflow]


def project_task_queues(settings: Settings) -> list[str]:
    """The task queues the worker's workflows run on; another deployment's are not ours."""
    return [settings.temporal_task_queue, settings.analysis_task_queue]


def gate_runner(settings: Settings) -> WorkflowRunner:
    """The worker's sandbox, always on here, whatever ``WORKFLOW_SANDBOX`` says.

    Production may run without the sandbox for CPU; the gate keeps it so a change that
    is deterministic only by luck (a restricted call) fails before it ships.
    """
    return workflow_runner(settings.model_copy(update={"workflow_sandbox": True}))


def visibility_query(
    types: Iterable[str], task_queues: Iterable[str], closed_since: datetime
) -> str:
    """Open runs of ``types`` on ``task_queues``, and those closed since ``closed_since``."""
    since = closed_since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        f"WorkflowType IN ({_quoted(types)}) AND TaskQueue IN ({_quoted(task_queues)})"
        f" AND (ExecutionStatus = 'Running' OR CloseTime >= '{since}')"
    )


def _quoted(values: Iterable[str]) -> str:
    return ", ".join("'" + value.replace("'", "\\'") + "'" for value in dict.fromkeys(values))


def workflow_type_names(workflows: Sequence[type]) -> list[str]:
    """The registered names of the workflow classes (``@workflow.defn(name=...)`` or class)."""
    names = [_Definition.must_from_class(cls).name for cls in workflows]
    # A dynamic workflow (no name) would stand for every type: the gate lists by name.
    return [name for name in names if name is not None]


async def live_histories(
    client: Client, query: str, *, limit: int, concurrency: int, report: GateReport
) -> AsyncIterator[WorkflowHistory]:
    """The histories of the first ``limit`` runs the query lists, ``concurrency`` in flight.

    Kept in listing order, and at most ``concurrency`` histories are held at once: a long
    conversation's history is hundreds of kilobytes, and a namespace holds thousands.
    """
    pending: deque[asyncio.Task[WorkflowHistory | None]] = deque()
    try:
        async for execution in client.list_workflows(query, limit=limit):
            pending.append(asyncio.create_task(_fetch(client, execution)))
            if len(pending) >= concurrency:
                history = await pending.popleft()
                if history is None:
                    report.skipped += 1
                else:
                    yield history
        while pending:
            history = await pending.popleft()
            if history is None:
                report.skipped += 1
            else:
                yield history
    finally:
        for task in pending:
            task.cancel()


async def _fetch(client: Client, execution: WorkflowExecution) -> WorkflowHistory | None:
    try:
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        return await handle.fetch_history()
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            return None
        raise


def file_histories(directory: Path) -> list[WorkflowHistory]:
    """Every ``*.json`` history under ``directory``, the file's name as the workflow id.

    Raises:
        FileNotFoundError: no history there (a gate that checks nothing must not pass).
    """
    paths = sorted(directory.rglob("*.json"))
    if not paths:
        raise FileNotFoundError(f"no *.json history under {directory}")
    return [WorkflowHistory.from_json(path.stem, path.read_text()) for path in paths]


async def replay_histories(
    histories: Iterable[WorkflowHistory] | AsyncIterator[WorkflowHistory],
    *,
    workflows: Sequence[type],
    runner: WorkflowRunner,
    converter: DataConverter,
    report: GateReport | None = None,
) -> GateReport:
    """Replay each history against ``workflows``; every failure is kept, none stops the rest."""
    report = report or GateReport()
    replayer = Replayer(workflows=workflows, workflow_runner=runner, data_converter=converter)
    stream = histories if isinstance(histories, AsyncIterator) else _stream(histories)
    async with replayer.workflow_replay_iterator(stream) as results:
        async for result in results:
            report.replayed += 1
            if result.replay_failure is not None:
                report.failures.append(_failure(result.history, result.replay_failure))
    return report


async def _stream(histories: Iterable[WorkflowHistory]) -> AsyncIterator[WorkflowHistory]:
    for history in histories:
        yield history


def _failure(history: WorkflowHistory, error: Exception) -> ReplayFailure:
    # Histories carry customers' words; the error names commands and ids, and is still
    # masked and cut, so a CI log never holds a number or a long payload.
    text = mask_numbers_in(f"{type(error).__name__}: {error}")
    if len(text) > _ERROR_CHARS:
        text = text[:_ERROR_CHARS] + "…"
    return ReplayFailure(mask_numbers_in(history.workflow_id), _run_id(history), text)


def _run_id(history: WorkflowHistory) -> str:
    try:
        return history.run_id
    except RuntimeError:  # a hand-made file that does not open with the start event
        return "?"


async def check_live(
    client: Client,
    *,
    workflows: Sequence[type],
    task_queues: Sequence[str],
    runner: WorkflowRunner,
    closed_within: timedelta = DEFAULT_CLOSED_WITHIN,
    limit: int = DEFAULT_LIMIT,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> GateReport:
    """Replay the open runs of ``workflows`` (and the recently closed) against this code."""
    report = GateReport()
    since = datetime.now(UTC) - closed_within
    query = visibility_query(workflow_type_names(workflows), task_queues, since)
    histories = live_histories(client, query, limit=limit, concurrency=concurrency, report=report)
    await replay_histories(
        histories,
        workflows=workflows,
        runner=runner,
        converter=client.data_converter,
        report=report,
    )
    report.limited = report.replayed + report.skipped >= limit
    return report


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m switchboard.devtools.replay_gate",
        description="Replay live (or recorded) workflow histories against this checkout's code.",
    )
    parser.add_argument(
        "--closed-within",
        type=parse_duration,
        default=DEFAULT_CLOSED_WITHIN,
        help="also replay runs closed this recently (e.g. 24h, 90m; 0 for open ones only)",
    )
    parser.add_argument(
        "--limit", type=int, default=DEFAULT_LIMIT, help="replay at most this many runs"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=DEFAULT_CONCURRENCY,
        help="histories fetched at once",
    )
    parser.add_argument(
        "--history-dir",
        type=Path,
        help="replay the JSON histories in this folder instead of the live namespace",
    )
    args = parser.parse_args(argv)
    if args.limit < 1 or args.concurrency < 1:
        parser.error("--limit and --concurrency must be at least 1")
    return args


async def main(
    argv: Sequence[str] | None = None,
    *,
    settings: Settings | None = None,
    out: TextIO = sys.stdout,
) -> int:
    """Run the gate; the exit code (0 pass, 1 a history did not replay, 2 could not run)."""
    args = _arguments(argv)
    if settings is None:
        use_local_payload_keys()
        settings = get_settings()
    try:
        if args.history_dir is not None:
            report = await replay_histories(
                file_histories(args.history_dir),
                workflows=project_workflows(),
                runner=gate_runner(settings),
                converter=await data_converter(settings),
            )
        else:
            report = await check_live(
                await connect(settings),
                workflows=project_workflows(),
                task_queues=project_task_queues(settings),
                runner=gate_runner(settings),
                closed_within=args.closed_within,
                limit=args.limit,
                concurrency=args.concurrency,
            )
    except (OSError, RuntimeError, RPCError) as exc:
        out.write(f"replay gate could not run: {mask_numbers_in(str(exc))}\n")
        return 2
    report.write(out)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
