"""Callbacks: "call me back at …" places the call at that time, and survives a worker restart.

The restart test runs on the time-skipping test server: the worker that scheduled the
callback is stopped, a new one started, hours are skipped, and the call still goes out.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from gateway.conversations import ConversationGateway
from switchboard.contract import search_attributes
from switchboard.contract.addresses import Channel, conversation_id
from switchboard.contract.conversation import ConversationView, InboundMessage
from switchboard.devtools.devserver import DevServer
from tests.conftest import BUSINESS_NUMBER, Stack, running_stack, stack_settings, unique_customer
from tests.support.fake_llm import FakeLLM, FakeReply, Messages, Responder
from tests.support.fake_twilio import FakeTwilio
from tests.support.server import serve
from worker import build_worker
from workflows.conversation import ConversationWorkflow

OUR_NUMBER = "+15005550009"


def calling_back_at(at: datetime) -> Responder:
    def responder(messages: Messages) -> FakeReply:
        last = messages[-1]
        if last["role"] == "user" and "call me back" in str(last["content"]):
            args = {"at": at.isoformat(), "channel": "voice", "note": "billing question"}
            return FakeReply(text="", tool_calls=[{"name": "schedule_callback", "arguments": args}])
        if last["role"] == "user" and "cancel" in str(last["content"]):
            return FakeReply(text="", tool_calls=[{"name": "cancel_callback", "arguments": {}}])
        if last["role"] == "tool":
            return FakeReply(text="OK: " + str(last["content"]))
        return FakeReply(text="hello")

    return responder


@pytest.fixture
async def s(tmp_path: Path, temporal_server: DevServer, client: Client) -> AsyncIterator[Stack]:
    async with running_stack(
        tmp_path, temporal_server, client, twilio_phone_number=OUR_NUMBER
    ) as stack:
        yield stack


async def test_a_callback_calls_the_customer_at_the_time(s: Stack) -> None:
    s.llm.responder = calling_back_at(datetime.now(UTC) + timedelta(seconds=3))
    customer = unique_customer()
    await s.text(customer, "Please call me back in a moment")
    [confirmed] = await s.twilio.wait_for_messages(1)
    assert confirmed["body"].startswith("OK: Callback cb-1 scheduled for")
    assert not s.twilio.calls
    [call] = await s.twilio.wait_for_calls(1, timeout=15)
    assert call["form"]["To"] == customer and call["form"]["From"] == OUR_NUMBER
    assert "billing question" in call["form"]["Twiml"]
    view = await s.describe(customer)
    assert [c.status for c in view.callbacks] == ["done"]


async def test_the_customer_can_cancel_a_callback(s: Stack) -> None:
    s.llm.responder = calling_back_at(datetime.now(UTC) + timedelta(seconds=4))
    customer = unique_customer()
    await s.text(customer, "call me back soon")
    await s.twilio.wait_for_messages(1)
    await s.text(customer, "actually, cancel that")
    [_, canceled] = await s.twilio.wait_for_messages(2)
    assert canceled["body"] == "OK: Canceled: cb-1"
    offered = [t["function"]["name"] for t in s.llm.requests[-2]["tools"]]
    assert "cancel_callback" in offered
    with pytest.raises(AssertionError):
        await s.twilio.wait_for_calls(1, timeout=6)


async def _register_search_attributes(env: WorkflowEnvironment) -> None:
    """Every attribute the worker registers (the time-skipping server starts with none).

    Added directly: the test server does not implement listing them, which the worker's
    ``ensure_search_attributes`` needs.
    """
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace="default",
            search_attributes={
                key.name: IndexedValueType.ValueType(int(key.indexed_value_type))
                for key in search_attributes.ALL
            },
        )
    )


async def test_a_callback_hours_away_survives_a_worker_restart(tmp_path: Path) -> None:
    server = shutil.which("temporal-test-server") or str(
        Path(__file__).parents[2] / ".venv" / "bin" / "temporal-test-server"
    )
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=server, data_converter=pydantic_data_converter
    )
    twilio, llm = FakeTwilio("AC" + "1" * 32, "test-auth-token"), FakeLLM("sk-test")
    try:
        await _register_search_attributes(env)
        async with serve(twilio.app) as twilio_url, serve(llm.app) as llm_url:
            settings = stack_settings(
                tmp_path, DevServer(port=0),
                twilio_api_base_url=twilio_url, llm_base_url=f"{llm_url}/v1",
                twilio_phone_number=OUR_NUMBER,
                conversation_idle_timeout="12h",  # only the callback's timer is due
                # The test server does not hand a stopped worker's sticky workflows back to
                # the task queue (a real server does): without a cache nothing is sticky.
                worker_max_cached_workflows=0,
            )  # fmt: skip
            customer = unique_customer()
            due = datetime.now(UTC) + timedelta(hours=3)
            llm.responder = calling_back_at(due)
            gateway = ConversationGateway(env.client, settings)
            handle: WorkflowHandle[ConversationWorkflow, ConversationView] = (
                env.client.get_workflow_handle_for(
                    ConversationWorkflow.run, conversation_id(customer)
                )
            )
            async with build_worker(env.client, settings) as worker, worker:
                await gateway.deliver_inbound(_text(customer, "call me back at 3pm"))
                await twilio.wait_for_messages(1, timeout=20)
                view: ConversationView = await handle.query(ConversationWorkflow.describe)
                [callback] = view.callbacks
                assert callback.status == "scheduled" and callback.at == due
            # No worker at all now.
            # A new worker starts; three hours pass.
            async with build_worker(env.client, settings) as worker, worker:
                assert not twilio.calls
                await env.sleep(timedelta(hours=3, minutes=5))
                [call] = await twilio.wait_for_calls(1, timeout=30)
                assert call["form"]["To"] == customer
                assert "billing question" in call["form"]["Twiml"]
                with contextlib.suppress(Exception):
                    await handle.cancel()
    finally:
        await env.shutdown()


def _text(customer: str, body: str) -> InboundMessage:
    return InboundMessage(
        message_sid="SM" + customer[-8:] + "0" * 24,
        customer=customer,
        channel=Channel.SMS,
        from_address=customer,
        to_address=BUSINESS_NUMBER,
        body=body,
        received_at=datetime.now(UTC),
    )


def flooding(at: datetime, count: int) -> Responder:
    """A model that asks for ``count`` callbacks in one reply, then for one a year away."""

    def responder(messages: Messages) -> FakeReply:
        last = messages[-1]
        if last["role"] == "user" and "flood" in str(last["content"]):
            calls = [
                {"name": "schedule_callback",
                 "arguments": {"at": (at + timedelta(hours=i)).isoformat(), "channel": "sms",
                               "note": f"number {i}"}}
                for i in range(count)
            ]  # fmt: skip
            return FakeReply(text="", tool_calls=calls)
        if last["role"] == "user" and "next year" in str(last["content"]):
            args = {"at": (at + timedelta(days=365)).isoformat(), "channel": "sms", "note": "x"}
            return FakeReply(text="", tool_calls=[{"name": "schedule_callback", "arguments": args}])
        if last["role"] == "tool":
            results = [m["content"] for m in messages if m["role"] == "tool"]
            return FakeReply(text=f"{sum(r.startswith('Error') for r in results)} refused")
        return FakeReply(text="hello")

    return responder


async def test_a_callback_flood_is_capped_and_every_callback_stays_cancellable(
    s: Stack, client: Client
) -> None:
    at = datetime.now(UTC) + timedelta(hours=2)
    s.llm.responder = flooding(at, 12)
    customer = unique_customer()
    await s.text(customer, "flood me with callbacks")
    await s.twilio.wait_for_messages(1, timeout=20)
    view = await s.describe(customer)
    # 12 asked in one reply: 8 run (5 scheduled, 3 over the per-customer cap), 4 unrun.
    assert [c.status for c in view.callbacks] == ["scheduled"] * 5
    assert s.twilio.messages[0]["body"] == "7 refused"
    children = [
        w async for w in client.list_workflows("WorkflowType = 'CallbackWorkflow' AND "
                                               "ExecutionStatus = 'Running'")
        if w.id.startswith(f"callback-{customer}-")
    ]  # fmt: skip
    assert len(children) == 5

    await s.text(customer, "call me next year")
    await s.twilio.wait_for_messages(2, timeout=20)
    assert s.twilio.messages[1]["body"] == "1 refused"

    # Cancelling reaches every one of them: none was dropped from the state while waiting.
    s.llm.responder = calling_back_at(at)
    await s.text(customer, "cancel them all")
    await s.twilio.wait_for_messages(3, timeout=20)
    view = await s.describe(customer)
    assert [c.status for c in view.callbacks] == ["canceled"] * 5


async def test_forgetting_the_customer_cancels_their_callbacks(s: Stack) -> None:
    s.llm.responder = calling_back_at(datetime.now(UTC) + timedelta(hours=1))
    customer = unique_customer()
    await s.text(customer, "call me back later")
    await s.twilio.wait_for_messages(1)
    assert [c.status for c in (await s.describe(customer)).callbacks] == ["scheduled"]
    gone = await s.http.delete(f"{s.gateway_url}/api/profiles/{customer}")
    assert gone.status_code == 200

    async def cancelled() -> bool:
        view = await s.describe(customer)
        return [c.status for c in view.callbacks] == ["canceled"]

    await s.eventually(cancelled)
    [callback] = (await s.describe(customer)).callbacks
    described = await s.client.get_workflow_handle(callback.workflow_id).describe()
    assert described.status is not None and described.status.name != "RUNNING"  # it stopped
    assert not s.twilio.calls


async def test_forgetting_a_customer_whose_conversation_closed_cancels_their_callbacks(
    s: Stack,
) -> None:
    s.llm.responder = calling_back_at(datetime.now(UTC) + timedelta(hours=1))
    customer = unique_customer()
    await s.text(customer, "call me back later")
    await s.twilio.wait_for_messages(1)
    [callback] = (await s.describe(customer)).callbacks
    handle = s.client.get_workflow_handle(conversation_id(customer))
    await handle.signal("close", {"reason": "done"})
    await handle.result()  # the conversation is over; its callback's timer still runs
    gone = await s.http.delete(f"{s.gateway_url}/api/profiles/{customer}")
    assert gone.status_code == 200

    async def stopped() -> bool:  # the cancellation was asked for; the timer stops
        described = await s.client.get_workflow_handle(callback.workflow_id).describe()
        return described.status is not None and described.status.name != "RUNNING"

    await s.eventually(stopped)
