"""Temporal's workflow sandbox without two per-payload costs it pays on the worker's event loop.

The SDK asks a workflow instance, for every payload sequence of every activation and
completion it decodes or encodes (three passes each way), which serialization context and
which external-store context apply. The sandboxed instance answers by ``exec`` of a code
string inside the sandbox: the string compiled anew on each call, then the sandbox's import
hooks swapped in around a call that imports nothing — it only reads the instance's pending
commands and builds a frozen ``temporalio.converter`` dataclass. Measured in
``benchmarks/scale.py`` that was about a quarter of the worker's main thread per text turn.

:class:`LeanSandboxedWorkflowRunner` is the SDK's :class:`SandboxedWorkflowRunner` with its
instance changed in two ways only:

- those two questions go straight to the in-sandbox instance (the same method the ``exec``
  would call, with the same argument), without the ``exec``; the workflow's own code still
  runs only inside the sandbox, under its restrictions;
- every other ``exec`` (creating the instance, each activation) runs a code object compiled
  once per distinct string instead of compiling the string on every call.

It relies on the SDK's private ``_Instance`` (its ``globals_and_locals`` holding the
in-sandbox object as ``__temporal_in_sandbox``); where that is missing, each call falls back
to the SDK's own path. ``tests/workflows/test_sandbox_runner.py`` checks both answers agree.
"""

from __future__ import annotations

from types import CodeType
from typing import Any

import temporalio.converter
from temporalio.converter._extstore import StorageDriverStoreContext
from temporalio.worker import _command_aware_visitor
from temporalio.worker._workflow_instance import WorkflowInstance, WorkflowInstanceDetails
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox._runner import _Instance

IN_SANDBOX = "__temporal_in_sandbox"
"""Where the SDK's sandboxed instance keeps its in-sandbox object (``InSandbox``)."""

_compiled: dict[str, CodeType] = {}
"""The code strings the sandbox runs, compiled once each (a handful per workflow class)."""


def _code(source: str) -> CodeType:
    code = _compiled.get(source)
    if code is None:
        code = _compiled[source] = compile(source, "<string>", "exec")
    return code


class LeanSandboxedInstance(_Instance):
    """The SDK's sandboxed workflow instance, without an ``exec`` per payload."""

    def _run_code(self, code: str, **extra_globals: Any) -> None:
        """The SDK's ``_run_code``, with ``code`` compiled once per distinct string."""
        super()._run_code(_code(code), **extra_globals)  # type: ignore[arg-type]

    def get_serialization_context(
        self, command_info: _command_aware_visitor.CommandInfo | None
    ) -> temporalio.converter.SerializationContext | None:
        """What ``InSandbox.get_serialization_context`` answers, called directly."""
        in_sandbox: Any = self.globals_and_locals.get(IN_SANDBOX)
        if in_sandbox is None:
            return super().get_serialization_context(command_info)
        context: temporalio.converter.SerializationContext | None
        context = in_sandbox.get_serialization_context(command_info)
        return context

    def get_external_store_context(
        self, command_info: _command_aware_visitor.CommandInfo | None
    ) -> StorageDriverStoreContext:
        """What ``InSandbox.get_external_store_context`` answers, called directly."""
        in_sandbox: Any = self.globals_and_locals.get(IN_SANDBOX)
        if in_sandbox is None:
            return super().get_external_store_context(command_info)
        context: StorageDriverStoreContext = in_sandbox.get_external_store_context(command_info)
        return context


class LeanSandboxedWorkflowRunner(SandboxedWorkflowRunner):
    """:class:`SandboxedWorkflowRunner` whose instances are :class:`LeanSandboxedInstance`."""

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        """Implements ``WorkflowRunner.create_instance``."""
        return LeanSandboxedInstance(det, self.runner_class, self.restrictions)


__all__ = ["LeanSandboxedInstance", "LeanSandboxedWorkflowRunner"]
