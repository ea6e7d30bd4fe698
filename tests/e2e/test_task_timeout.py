"""The short workflow task timeout (``WORKFLOW_TASK_TIMEOUT``) and a model slower than it.

A conversation's model call runs as a local activity inside a workflow task. The task
timeout is short (2 s) so that a worker that dies holding the task is given up on quickly
(``test_crashes`` measures the recovery); a live worker whose model takes longer must not
lose its task to that timeout: the SDK heartbeats the task while the local activity runs.
This test makes the model take 5 s and checks that the run saw no task timeout, asked the
model once and replied once, and counts what the heartbeats cost in history events.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from switchboard.contract.addresses import conversation_id
from switchboard.devtools.devserver import DevServer
from tests.conftest import running_stack, unique_customer
from tests.support.fake_llm import FakeReply, last_user_text

MODEL_SECONDS = 5.0


@pytest.mark.parametrize("timeout", [2, 10])
async def test_a_model_slower_than_the_task_timeout_is_heartbeated_not_retried(
    tmp_path: Path, temporal_server: DevServer, client: Client, timeout: int
) -> None:
    async with running_stack(
        tmp_path, temporal_server, client, workflow_task_timeout=timedelta(seconds=timeout)
    ) as s:
        s.llm.responder = lambda messages: FakeReply(
            text=f"slow: {last_user_text(messages)}", delay=MODEL_SECONDS
        )
        customer = unique_customer()
        await s.text(customer, "take your time")
        [message] = await s.twilio.wait_for_messages(1, timeout=30)
        assert message["body"] == "slow: take your time"
        assert len(s.llm.requests) == 1

        async def recorded() -> bool:  # the send happens inside the task; wait for its end
            view = await s.describe(customer)
            return view.transcript[-1].role == "assistant"

        await s.eventually(recorded)
        handle = s.client.get_workflow_handle(conversation_id(customer))
        description = await handle.describe()
        config = description.raw_description.execution_config
        assert config.default_workflow_task_timeout.seconds == timeout
        history = await handle.fetch_history()
        kinds = [event.event_type for event in history.events]
        assert EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT not in kinds
        assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in kinds
        tasks = kinds.count(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
        print(
            f"\n{MODEL_SECONDS:.0f} s model under a {timeout} s task timeout: {len(kinds)} history "
            f"events, {tasks} workflow tasks completed"
        )
