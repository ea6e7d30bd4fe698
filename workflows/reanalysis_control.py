"""Start, follow and cancel re-analyses from a Temporal client (the operator API and the CLI).

A re-analysis is a ``ReanalysisWorkflow`` on the intelligence task queue, with the workflow
id ``reanalysis-<id>``. Its progress is the workflow's ``progress`` query while it runs and
its result once it completed; a cancelled or failed one is queried too (Temporal replays a
closed workflow for a query) and, when no worker can answer, described by its status alone.
"""

from __future__ import annotations

import secrets

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from switchboard.contract.names import REANALYSIS_ID_PREFIX, REANALYSIS_WORKFLOW
from switchboard.contract.reanalysis import (
    ReanalysisInput,
    ReanalysisProgress,
    ReanalysisRequest,
    ReanalysisStatus,
)
from workflows.reanalysis import ReanalysisWorkflow

_CLOSED_STATUS = {
    WorkflowExecutionStatus.CANCELED: ReanalysisStatus.CANCELLED,
    WorkflowExecutionStatus.FAILED: ReanalysisStatus.FAILED,
    WorkflowExecutionStatus.TERMINATED: ReanalysisStatus.FAILED,
    WorkflowExecutionStatus.TIMED_OUT: ReanalysisStatus.FAILED,
}


def new_reanalysis_id() -> str:
    """A fresh re-analysis id (12 hex digits)."""
    return secrets.token_hex(6)


def valid_reanalysis_id(value: str) -> bool:
    """Whether ``value`` could be a re-analysis id (bounded, no separators)."""
    return 0 < len(value) <= 64 and all(c.isalnum() or c in "-_" for c in value)


class Reanalyses:
    """Re-analyses on one Temporal namespace.

    Args:
        client: The Temporal client (with the pydantic data converter).
        task_queue: The intelligence task queue (``INTELLIGENCE_TASK_QUEUE``).
    """

    def __init__(self, client: Client, task_queue: str) -> None:
        self._client = client
        self._task_queue = task_queue

    async def start(self, request: ReanalysisRequest, reanalysis_id: str) -> None:
        """Start a re-analysis.

        Raises:
            temporalio.exceptions.WorkflowAlreadyStartedError: that id was used before.
        """
        await self._client.start_workflow(
            ReanalysisWorkflow.run,
            ReanalysisInput(request=request),
            id=REANALYSIS_ID_PREFIX + reanalysis_id,
            task_queue=self._task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            static_summary=f"re-analysis: {', '.join(request.operators)}"[:200],
        )

    async def progress(self, reanalysis_id: str) -> ReanalysisProgress | None:
        """How far it is; None when there is no such re-analysis."""
        handle = self._client.get_workflow_handle_for(
            ReanalysisWorkflow.run, REANALYSIS_ID_PREFIX + reanalysis_id
        )
        try:
            described = await handle.describe()
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:
                return None
            raise
        if described.workflow_type != REANALYSIS_WORKFLOW:
            return None
        if described.status is WorkflowExecutionStatus.COMPLETED:
            return await handle.result()
        try:
            found = await handle.query(ReanalysisWorkflow.progress)
        except RPCError:
            found = None  # closed, and no worker to replay it: the status is all there is
        if found is None:
            found = ReanalysisProgress(
                id=reanalysis_id,
                operators=[],
                started_at=described.start_time,
                updated_at=described.close_time or described.start_time,
            )
        if described.status in _CLOSED_STATUS:
            found.status = _CLOSED_STATUS[described.status]
        return found

    async def cancel(self, reanalysis_id: str) -> bool:
        """Ask a running re-analysis to stop; False when none runs under that id."""
        handle = self._client.get_workflow_handle(REANALYSIS_ID_PREFIX + reanalysis_id)
        try:
            described = await handle.describe()
            if (
                described.workflow_type != REANALYSIS_WORKFLOW
                or described.status is not WorkflowExecutionStatus.RUNNING
            ):
                return False
            await handle.cancel()
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:
                return False
            raise
        return True
