"""Temporal's tracing interceptor, with a conversation's work traced to the turn that caused it.

``TracingInterceptor`` puts every span a workflow makes in the trace of the request that
started the run. A conversation runs for weeks: its later turns would all land in the trace
of its first message, and a slow reply could not be followed from its own webhook. Here the
activities (and child workflows) a conversation starts are traced under the latest turn
input it received (an inbound message, a call, a spoken prompt or reply, an outbound or
human message), read from that signal's or update's trace header. The workflow's own
``Handle…`` spans stay where the interceptor puts them, linked to the input's trace.

This reaches into the interceptor's outbound class, which is not public API; the tracing
end-to-end tests (``tests/e2e/test_tracing.py``) pin its behaviour for the installed SDK.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import opentelemetry.context
import temporalio.api.common.v1
import temporalio.worker
import temporalio.workflow
from temporalio.contrib.opentelemetry import TracingInterceptor, TracingWorkflowInboundInterceptor
from temporalio.contrib.opentelemetry._interceptor import _TracingWorkflowOutboundInterceptor

from switchboard.contract.names import (
    HUMAN_MESSAGE_SIGNAL,
    INBOUND_MESSAGE_SIGNAL,
    OUTBOUND_SIGNAL,
    VOICE_CALL_STARTED_SIGNAL,
    VOICE_PROMPT_UPDATE,
    VOICE_REPLY_UPDATE,
)

TURN_INPUTS = frozenset(
    {
        INBOUND_MESSAGE_SIGNAL,
        VOICE_CALL_STARTED_SIGNAL,
        OUTBOUND_SIGNAL,
        HUMAN_MESSAGE_SIGNAL,
        VOICE_PROMPT_UPDATE,
        VOICE_REPLY_UPDATE,
    }
)
"""Signals and updates whose trace the work after them joins."""


class TurnTracingInterceptor(TracingInterceptor):
    """``TracingInterceptor`` whose workflows trace their activities under the latest turn."""

    def workflow_interceptor_class(
        self, input: temporalio.worker.WorkflowInterceptorClassInput
    ) -> type[TracingWorkflowInboundInterceptor]:
        """The turn-following workflow interceptor (the parent registers the span extern)."""
        super().workflow_interceptor_class(input)
        return TurnTracingWorkflowInterceptor


class TurnTracingWorkflowInterceptor(TracingWorkflowInboundInterceptor):
    """Remembers the latest turn input's trace; outbound calls are made under it."""

    def __init__(self, next: temporalio.worker.WorkflowInboundInterceptor) -> None:
        super().__init__(next)
        self._turn: dict[str, str] | None = None

    def init(self, outbound: temporalio.worker.WorkflowOutboundInterceptor) -> None:
        """Put the turn's context in front of the tracing outbound interceptor."""
        tracing = _TracingWorkflowOutboundInterceptor(outbound, self)
        # Skip the parent's init, which would wire the tracing outbound in directly.
        temporalio.worker.WorkflowInboundInterceptor.init(self, _TurnOutbound(tracing, self))

    async def handle_signal(self, input: temporalio.worker.HandleSignalInput) -> None:
        """Remember a turn input's trace, then handle as the parent does."""
        if input.signal in TURN_INPUTS:
            self._remember(input.headers)
        await super().handle_signal(input)

    async def handle_update_handler(self, input: temporalio.worker.HandleUpdateInput) -> Any:
        """Remember a turn input's trace, then handle as the parent does."""
        if input.update in TURN_INPUTS:
            self._remember(input.headers)
        return await super().handle_update_handler(input)

    def _remember(self, headers: Mapping[str, temporalio.api.common.v1.Payload]) -> None:
        header = headers.get(self.header_key)
        if header is not None:
            carrier = self.payload_converter.from_payloads([header])[0]
            if isinstance(carrier, dict) and carrier:
                self._turn = carrier

    @contextlib.contextmanager
    def turn_context(self) -> Iterator[None]:
        """The latest turn input's trace as the current context, if there was one."""
        if self._turn is None:
            yield
            return
        context = self._set_on_context(self.text_map_propagator.extract(self._turn))
        token = opentelemetry.context.attach(context)
        try:
            yield
        finally:
            opentelemetry.context.detach(token)


class _TurnOutbound(temporalio.worker.WorkflowOutboundInterceptor):
    def __init__(
        self,
        next: temporalio.worker.WorkflowOutboundInterceptor,
        root: TurnTracingWorkflowInterceptor,
    ) -> None:
        super().__init__(next)
        self._root = root

    def start_activity(
        self, input: temporalio.worker.StartActivityInput
    ) -> temporalio.workflow.ActivityHandle[Any]:
        with self._root.turn_context():
            return super().start_activity(input)

    def start_local_activity(
        self, input: temporalio.worker.StartLocalActivityInput
    ) -> temporalio.workflow.ActivityHandle[Any]:
        with self._root.turn_context():
            return super().start_local_activity(input)

    async def start_child_workflow(
        self, input: temporalio.worker.StartChildWorkflowInput
    ) -> temporalio.workflow.ChildWorkflowHandle[Any, Any]:
        with self._root.turn_context():
            return await super().start_child_workflow(input)


__all__ = ["TURN_INPUTS", "TurnTracingInterceptor", "TurnTracingWorkflowInterceptor"]
