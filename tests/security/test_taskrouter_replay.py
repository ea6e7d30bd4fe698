"""TaskRouter events count only for the conversation's current handoff task.

Twilio's signatures never expire, so a late or replayed ``task.canceled`` of an earlier
task is a valid request. It used to hand a newer handoff back to the AI; now it is answered
(2xx, so Twilio stops retrying), logged and ignored. Everything goes over real HTTP: signed
callbacks into the gateway, the workflow on the dev server, TaskRouter on the fake.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from switchboard.contract.addresses import conversation_id
from switchboard.devtools.devserver import DevServer
from switchboard.devtools.twilio_sim import incoming_call_form, new_sid
from tests.conftest import ACCOUNT_SID, BUSINESS_NUMBER, Stack, running_stack, unique_customer
from tests.support.fake_llm import FakeReply, Messages, last_user_text

WORKSPACE = "WS" + "c" * 32
WORKFLOW = "WW" + "d" * 32


def handing_off(messages: Messages) -> FakeReply:
    if "human" in last_user_text(messages).lower() and messages[-1]["role"] == "user":
        return FakeReply(
            text="Connecting you.",
            tool_calls=[{"name": "handoff_to_human", "arguments": {"reason": "asked"}}],
        )
    return FakeReply(text="AI: " + last_user_text(messages))


@pytest.fixture
async def s(tmp_path: Path, temporal_server: DevServer, client: Client) -> AsyncIterator[Stack]:
    async with running_stack(
        tmp_path, temporal_server, client,
        twilio_taskrouter_workspace_sid=WORKSPACE, twilio_taskrouter_workflow_sid=WORKFLOW,
    ) as stack:  # fmt: skip
        stack.llm.responder = handing_off
        yield stack


def event(
    kind: str, task_sid: str, attributes: str, *, sent: float | None = None, age: int = 0
) -> dict[str, str]:
    """A TaskRouter event callback's form (``Timestamp``: when it was sent)."""
    return {
        "EventType": kind, "AccountSid": ACCOUNT_SID, "WorkspaceSid": WORKSPACE,
        "ResourceType": "Task", "ResourceSid": task_sid, "TaskSid": task_sid,
        "TaskAttributes": attributes, "TaskAge": str(age), "WorkerName": "Sam",
        "Timestamp": str(int(time.time() if sent is None else sent)),
    }  # fmt: skip


async def status_of(stack: Stack, customer: str) -> str:
    return (await stack.describe(customer)).status.value


async def stays(stack: Stack, customer: str, status: str) -> None:
    """The status is ``status`` and still is a moment later (the signal had time to land)."""
    for _ in range(6):
        assert await status_of(stack, customer) == status
        await asyncio.sleep(0.1)


async def task_recorded(stack: Stack, customer: str, count: int) -> dict[str, Any]:
    """Wait for the ``count``-th task and for the workflow to record it as current."""
    tasks = await stack.twilio.wait_for_tasks(count)
    task = tasks[count - 1]

    async def recorded() -> bool:
        handoff = (await stack.describe(customer)).handoff
        return handoff is not None and handoff.task_sid == task["sid"]

    await stack.eventually(recorded)
    return task


async def post(stack: Stack, form: dict[str, str]) -> None:
    answer = await stack.webhooks.post("/twilio/taskrouter", form)
    assert answer.status_code == 204, answer.text


async def test_a_late_cancel_of_an_old_task_does_not_end_the_new_handoff(s: Stack) -> None:
    customer = unique_customer()
    await s.text(customer, "I need a human")
    first = await task_recorded(s, customer, 1)
    old = first["form"]["Attributes"]
    # Nobody took it; the operator hands it back to the AI (the task is withdrawn).
    conv = f"{s.gateway_url}/api/conversations/{conversation_id(customer)}"
    assert (await s.http.post(f"{conv}/resume")).status_code == 202
    await s.eventually(lambda: _is(s, customer, "ai"))
    canceled_at = time.time()

    await s.text(customer, "Actually, a human again please")
    second = await task_recorded(s, customer, 2)
    assert second["sid"] != first["sid"]
    assert await status_of(s, customer) == "handoff_pending"

    # The first task's events, arriving late (or replayed): acknowledged, ignored.
    await post(s, event("task.canceled", first["sid"], old, sent=canceled_at))
    await post(s, event("task.completed", first["sid"], old))
    await post(s, event("reservation.accepted", first["sid"], old))
    await stays(s, customer, "handoff_pending")

    # The current task's events still work.
    new = second["form"]["Attributes"]
    await post(s, event("reservation.accepted", second["sid"], new))
    await s.eventually(lambda: _is(s, customer, "human"))
    await post(s, event("task.canceled", first["sid"], old))
    await stays(s, customer, "human")
    await post(s, event("task.completed", second["sid"], new))
    await s.eventually(lambda: _is(s, customer, "ai"))


async def test_an_old_task_cannot_end_an_enqueued_call(s: Stack) -> None:
    # A call's task is created by <Enqueue>, so the workflow knows no task SID for it:
    # a task older than the handoff is not its task.
    customer = unique_customer()
    call = await s.call(customer)
    await call.say("Can I talk to a human?")
    await call.reply()
    end = await call.frame()
    assert end["type"] == "end"
    await call.hang_up()
    form = incoming_call_form(customer, BUSINESS_NUMBER, call_sid=call.call_sid)
    form.update(CallStatus="in-progress", SessionStatus="ended", HandoffData=end["handoffData"])
    answer = await s.webhooks.post("/twilio/voice/action", form)
    assert f'<Enqueue workflowSid="{WORKFLOW}">' in answer.text
    await s.eventually(lambda: _is(s, customer, "human"))
    handoff = (await s.describe(customer)).handoff
    assert handoff is not None and handoff.task_sid is None

    attributes = json.dumps({"conversation_id": conversation_id(customer), "type": "handoff"})
    yesterday = time.time() - 86_400
    await post(s, event("task.canceled", new_sid("WT"), attributes, sent=yesterday, age=30))
    # Minutes old at the time of the event: created before this handoff was asked for.
    await post(s, event("task.canceled", new_sid("WT"), attributes, age=600))
    no_time = event("task.completed", new_sid("WT"), attributes)
    del no_time["Timestamp"], no_time["TaskAge"]
    await post(s, no_time)
    await stays(s, customer, "human")

    # The enqueued call's own task (created just now) ends the handoff.
    await post(s, event("task.completed", new_sid("WT"), attributes))
    await s.eventually(lambda: _is(s, customer, "ai"))


async def _is(stack: Stack, customer: str, status: str) -> bool:
    return await status_of(stack, customer) == status
