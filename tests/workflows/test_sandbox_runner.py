"""The worker's sandbox (``runtime.sandbox``): the SDK's, without an ``exec`` per payload.

Its instances must answer the SDK's two per-payload questions exactly as the SDK's own
sandboxed instance does, and every recorded history must replay through it as through the
SDK's runner (``test_replay.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import temporalio.converter
import temporalio.workflow
from temporalio.api.common.v1 import Payloads
from temporalio.api.enums.v1 import CommandType
from temporalio.api.failure.v1 import Failure
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer
from temporalio.worker._command_aware_visitor import CommandInfo
from temporalio.worker._workflow_instance import WorkflowInstance, WorkflowInstanceDetails
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox._runner import _fake_info

from switchboard.runtime.config import Settings
from switchboard.runtime.sandbox import LeanSandboxedInstance, LeanSandboxedWorkflowRunner
from worker import workflow_runner
from workflows.conversation import ConversationWorkflow

HISTORIES = Path(__file__).parent / "histories"


def _runner() -> LeanSandboxedWorkflowRunner:
    runner = workflow_runner(Settings(_env_file=None, workflow_sandbox=True))
    assert isinstance(runner, LeanSandboxedWorkflowRunner)
    return runner


def _instance(runner: SandboxedWorkflowRunner) -> WorkflowInstance:
    default = temporalio.converter.DataConverter.default
    return runner.create_instance(
        WorkflowInstanceDetails(
            payload_converter_factory=default._new_payload_converter,
            failure_converter_class=default.failure_converter_class,
            interceptor_classes=[],
            defn=temporalio.workflow._Definition.must_from_class(ConversationWorkflow),
            info=_fake_info,
            randomness_seed=-1,
            extern_functions={},
            disable_eager_activity_execution=False,
            worker_level_failure_exception_types=[],
            patch_activation_callback=None,
            last_completion_result=Payloads(),
            last_failure=Failure(),
        )
    )


async def test_contexts_are_the_sdk_sandbox_answers() -> None:
    lean_runner = _runner()
    lean = _instance(lean_runner)
    sdk = _instance(SandboxedWorkflowRunner(restrictions=lean_runner.restrictions))
    assert isinstance(lean, LeanSandboxedInstance)
    commands = [
        None,
        CommandInfo(command_type=CommandType.COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK, command_seq=1),
        CommandInfo(command_type=CommandType.COMMAND_TYPE_START_TIMER, command_seq=2),
        CommandInfo(
            command_type=CommandType.COMMAND_TYPE_START_CHILD_WORKFLOW_EXECUTION, command_seq=3
        ),
    ]
    for command in commands:
        assert lean.get_serialization_context(command) == sdk.get_serialization_context(command)
        assert lean.get_external_store_context(command) == sdk.get_external_store_context(command)
    workflow_context = temporalio.converter.WorkflowSerializationContext(
        namespace=_fake_info.namespace, workflow_id=_fake_info.workflow_id
    )
    assert lean.get_serialization_context(None) == workflow_context


@pytest.mark.parametrize("path", sorted(HISTORIES.glob("*.json")), ids=lambda p: p.stem)
async def test_recorded_history_replays_in_the_workers_sandbox(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(
        workflows=[ConversationWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=_runner(),
    )
    await replayer.replay_workflow(history)
