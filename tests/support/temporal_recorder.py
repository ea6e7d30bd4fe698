"""A Temporal client that records every workflow operation asked of it and answers "down".

It is a client interceptor, so the gateway's own code runs unchanged down to the Temporal
client: every start, signal, update, query and listing is recorded here, then refused with
``UNAVAILABLE`` (the gateway answers 503), unless a test configured an answer. "Nothing
changed" is then checkable: no write was even attempted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from temporalio.client import (
    CancelWorkflowInput,
    Client,
    CountWorkflowsInput,
    DescribeWorkflowInput,
    Interceptor,
    ListWorkflowsInput,
    OutboundInterceptor,
    QueryWorkflowInput,
    SignalWorkflowInput,
    StartWorkflowInput,
    StartWorkflowUpdateInput,
    StartWorkflowUpdateWithStartInput,
    TerminateWorkflowInput,
    WorkflowExecutionAsyncIterator,
    WorkflowExecutionCount,
    WorkflowExecutionDescription,
    WorkflowHandle,
    WorkflowUpdateHandle,
)
from temporalio.service import RPCError, RPCStatusCode

WRITES = frozenset(
    {
        "start_workflow",
        "signal_workflow",
        "start_workflow_update",
        "start_update_with_start_workflow",
        "cancel_workflow",
        "terminate_workflow",
    }
)
"""Operations that change a workflow (queries, descriptions and listings do not)."""


@dataclass(frozen=True)
class Attempt:
    """One operation the client was asked for."""

    operation: str
    workflow_id: str
    name: str
    """The workflow type, signal, query or update name (the start signal for a start)."""

    @property
    def write(self) -> bool:
        """True for an operation that would change a workflow."""
        return self.operation in WRITES


class TemporalRecorder(Interceptor):
    """Records what the gateway asks of Temporal; see the module docstring.

    Attributes:
        attempts: Every operation, in order.
        accept_starts: Let workflow starts (signal-with-start) succeed, so a call can attach.
        queries: Answers to queries by name (a function of the workflow id); others refused.
        client: The client this interceptor is installed on (set by ``connect``).
    """

    def __init__(self) -> None:
        self.attempts: list[Attempt] = []
        self.accept_starts = False
        self.queries: dict[str, Callable[[str], object]] = {}
        self.client: Client | None = None

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        """Put the recorder in front of the real client's calls."""
        return _Recording(next, self)

    def writes(self) -> list[Attempt]:
        """The attempts that would have changed a workflow."""
        return [attempt for attempt in self.attempts if attempt.write]

    def clear(self) -> None:
        """Forget what was recorded (between examples)."""
        self.attempts.clear()

    def record(self, operation: str, workflow_id: str, name: str) -> None:
        """Note an operation."""
        self.attempts.append(Attempt(operation, workflow_id, name))


def down() -> RPCError:
    """What every refused operation raises: Temporal cannot be reached."""
    return RPCError("Temporal is down (test recorder)", RPCStatusCode.UNAVAILABLE, b"")


class _Recording(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, recorder: TemporalRecorder) -> None:
        super().__init__(next)
        self._recorder = recorder

    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
        self._recorder.record("start_workflow", input.id, input.start_signal or input.workflow)
        if not self._recorder.accept_starts or self._recorder.client is None:
            raise down()
        return WorkflowHandle(self._recorder.client, input.id, run_id="recorded-run")

    async def signal_workflow(self, input: SignalWorkflowInput) -> None:
        self._recorder.record("signal_workflow", input.id, input.signal)
        raise down()

    async def query_workflow(self, input: QueryWorkflowInput) -> Any:
        self._recorder.record("query_workflow", input.id, input.query)
        answer = self._recorder.queries.get(input.query)
        if answer is None:
            raise down()
        return answer(input.id)

    async def start_workflow_update(
        self, input: StartWorkflowUpdateInput
    ) -> WorkflowUpdateHandle[Any]:
        self._recorder.record("start_workflow_update", input.id, input.update)
        raise down()

    async def start_update_with_start_workflow(
        self, input: StartWorkflowUpdateWithStartInput
    ) -> WorkflowUpdateHandle[Any]:
        start = input.start_workflow_input
        self._recorder.record("start_update_with_start_workflow", start.id, start.workflow)
        raise down()

    async def describe_workflow(self, input: DescribeWorkflowInput) -> WorkflowExecutionDescription:
        self._recorder.record("describe_workflow", input.id, "")
        raise down()

    def list_workflows(self, input: ListWorkflowsInput) -> WorkflowExecutionAsyncIterator:
        self._recorder.record("list_workflows", "", input.query or "")
        raise down()

    async def count_workflows(self, input: CountWorkflowsInput) -> WorkflowExecutionCount:
        self._recorder.record("count_workflows", "", input.query or "")
        raise down()

    async def cancel_workflow(self, input: CancelWorkflowInput) -> None:
        self._recorder.record("cancel_workflow", input.id, "")
        raise down()

    async def terminate_workflow(self, input: TerminateWorkflowInput) -> None:
        self._recorder.record("terminate_workflow", input.id, "")
        raise down()
