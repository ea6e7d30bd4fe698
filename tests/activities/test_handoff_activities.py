"""Handoff activities against fake Twilio (TaskRouter), webhook and LLM servers.

Every request crosses a real socket; each test runs activity attempts the way Temporal
would retry them (``ActivityEnvironment``), sharing one outbox between attempts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError

from activities.handoff import HANDOFF_KEY_ATTRIBUTE, HANDOFF_SUMMARY_INSTRUCTIONS
from switchboard.contract import errors
from switchboard.contract.addresses import Channel
from switchboard.contract.handoff import (
    CancelTaskRequest,
    DeliverHandoffRequest,
    HumanSideEvent,
    PackageLine,
    PrepareHandoffRequest,
)
from switchboard.memory.models import NewObservation, TranscriptLine
from switchboard.memory.summary import fallback_summary
from switchboard.runtime.webhooks import verify_signature
from tests.support.fake_llm import FakeReply, last_user_text
from tests.support.handoff_harness import (
    API_KEY,
    AT,
    CUSTOMER,
    WEBHOOK_SECRET,
    WORKFLOW,
    Fakes,
    Harness,
    harness,
    package,
    served_fakes,
    transcript,
)
from tests.support.server import free_port


@pytest.fixture(scope="module")
async def fakes() -> AsyncIterator[Fakes]:
    async with served_fakes() as served:
        yield served


@pytest.fixture
async def h(fakes: Fakes, tmp_path: Path) -> AsyncIterator[Harness]:
    async with harness(fakes, tmp_path) as running:
        yield running


def signed_with(delivery: dict[str, Any], secret: str) -> bool:
    """Whether a recorded webhook delivery carries a valid signature under ``secret``."""
    headers = delivery["headers"]
    return verify_signature(
        delivery["raw"], headers["x-switchboard-signature"], secret,
        event=headers["x-switchboard-event"],
        idempotency_key=headers["x-switchboard-idempotency-key"],
    )  # fmt: skip


def deliver(
    key: str = "conv-+14155550123/run-1/handoff-1", **overrides: Any
) -> DeliverHandoffRequest:
    return DeliverHandoffRequest(idempotency_key=key, package=package(**overrides))


async def failure(coro: Awaitable[object]) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        await coro
    return caught.value


# --- prepare_handoff --------------------------------------------------------------------


def prepare(lines: list[PackageLine] | None = None) -> PrepareHandoffRequest:
    return PrepareHandoffRequest(
        conversation_id=f"conv-{CUSTOMER}",
        customer=CUSTOMER,
        channel=Channel.SMS,
        reason="customer asked for a person",
        transcript=transcript() if lines is None else lines,
    )


def plain_summary() -> str:
    return fallback_summary([TranscriptLine(**line.model_dump()) for line in transcript()])


async def test_prepare_without_a_model_writes_the_plain_summary(h: Harness) -> None:
    result = await h.run(h.activities().prepare_handoff, prepare())
    assert result.summary == plain_summary()
    assert "My order A-17 never arrived" in result.summary
    assert result.profile == {}  # an unknown customer
    assert result.transcript == transcript()
    assert (result.conversation_id, result.customer, result.channel) == (
        f"conv-{CUSTOMER}", CUSTOMER, Channel.SMS,
    )  # fmt: skip
    assert result.reason == "customer asked for a person"
    assert result.tokens == 0  # no model, nothing spent


async def test_prepare_carries_the_profile_as_the_api_renders_it(h: Harness) -> None:
    await h.store.set_trait(CUSTOMER, "name", "Ada", source="remember", at=AT)
    await h.store.add_observation(
        CUSTOMER,
        NewObservation(key="o1", text="prefers SMS", source="remember", at=AT,
                       conversation_ids=[f"conv-{CUSTOMER}"]),
    )  # fmt: skip
    result = await h.run(h.activities().prepare_handoff, prepare())
    profile = await h.store.get_profile(CUSTOMER)
    assert profile is not None
    assert result.profile == profile.model_dump(mode="json")  # GET /api/profiles/{customer}
    assert result.profile["traits"] == {"name": "Ada"}
    assert [o["text"] for o in result.profile["observations"]] == ["prefers SMS"]
    assert result.task_attributes()["name"] == "Ada"  # what Flex shows as the task's title


async def test_prepare_with_a_model_asks_it_once(h: Harness) -> None:
    h.llm.responder = lambda messages: FakeReply(text="  Order A-17 is missing; wants a person. ")
    result = await h.run(h.activities(model=True).prepare_handoff, prepare())
    assert result.summary == "Order A-17 is missing; wants a person."
    assert result.tokens > 0  # the model's usage, for the conversation's facts
    (request,) = h.llm.requests
    assert request["model"] == "summary-model"
    assert request["messages"][0] == {"role": "system", "content": HANDOFF_SUMMARY_INSTRUCTIONS}
    asked = last_user_text(request["messages"])
    assert "customer asked for a person" in asked
    assert "customer (sms): My order A-17 never arrived" in asked


@pytest.mark.parametrize("reply", [FakeReply(status=500), FakeReply(text="")])
async def test_prepare_falls_back_when_the_model_fails(h: Harness, reply: FakeReply) -> None:
    h.llm.responder = lambda messages: reply
    result = await h.run(h.activities(model=True).prepare_handoff, prepare())
    assert result.summary == plain_summary()
    assert len(h.llm.requests) == 1  # one try, no retries of its own


async def test_prepare_with_no_transcript_does_not_ask_the_model(h: Harness) -> None:
    result = await h.run(h.activities(model=True).prepare_handoff, prepare(lines=[]))
    assert result.summary and h.llm.requests == []


# --- deliver_handoff --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("channel", "task_channel"),
    [(Channel.SMS, "sms"), (Channel.WHATSAPP, "chat"), (Channel.VOICE, "voice")],
)
async def test_deliver_creates_the_task_and_posts_the_signed_package(
    h: Harness, channel: Channel, task_channel: str
) -> None:
    request = deliver(channel=channel, tokens=123)
    receipt = await h.run(h.activities().deliver_handoff, request)

    (task,) = h.twilio.tasks
    assert receipt.task_sid == task["sid"] and task["sid"].startswith("WT")
    assert receipt.targets == ["taskrouter", "webhook"] and receipt.webhook_status == 200
    form = task["form"]
    assert form["WorkflowSid"] == WORKFLOW
    assert form["TaskChannel"] == task_channel
    assert form["Timeout"] == str(5 * 60 + 60)  # HANDOFF_TIMEOUT, plus a margin
    expected = {**request.package.task_attributes(), HANDOFF_KEY_ATTRIBUTE: request.idempotency_key}
    assert task["parsed_attributes"] == expected
    assert task["parsed_attributes"]["transcript"][0]["text"] == "My order A-17 never arrived"

    (delivery,) = h.webhook.deliveries
    assert delivery["event"] == "handoff"
    assert delivery["idempotency_key"] == request.idempotency_key
    assert delivery["body"] == request.package.delivered()
    assert "tokens" not in delivery["body"] and "tokens" not in task["parsed_attributes"]
    assert signed_with(delivery, WEBHOOK_SECRET)
    assert not signed_with(delivery, API_KEY)  # never the operator key
    assert not signed_with(delivery, "another-key")


async def test_deliver_twice_creates_one_task_and_one_delivery(h: Harness) -> None:
    activities = h.activities()
    first = await h.run(activities.deliver_handoff, deliver())
    second = await h.run(activities.deliver_handoff, deliver())
    assert second == first
    assert len(h.twilio.tasks) == 1 and len(h.twilio.task_requests) == 1
    assert len(h.webhook.deliveries) == 1
    other = await h.run(activities.deliver_handoff, deliver(key="conv-x/run-1/handoff-2"))
    assert other.task_sid != first.task_sid and len(h.twilio.tasks) == 2


async def test_a_retry_after_a_lost_answer_finds_the_task(h: Harness) -> None:
    activities = h.activities(webhook=False)
    h.twilio.fail_next(1, status=503, accept=True, api="tasks")  # created, answer lost
    error = await failure(h.run(activities.deliver_handoff, deliver()))
    assert error.type == errors.TASKROUTER_UNAVAILABLE and not error.non_retryable
    receipt = await h.run(activities.deliver_handoff, deliver())
    (task,) = h.twilio.tasks
    assert receipt.task_sid == task["sid"] and receipt.targets == ["taskrouter"]
    (lookup,) = [x for x in h.twilio.lookups if x["path"].endswith("/Tasks")]
    assert lookup["query"]["EvaluateTaskAttributes"] == (
        f'{HANDOFF_KEY_ATTRIBUTE} == "conv-+14155550123/run-1/handoff-1"'
    )


@pytest.mark.parametrize("status", [500, 502, 429])
async def test_transient_taskrouter_errors_are_retryable(h: Harness, status: int) -> None:
    activities = h.activities(webhook=False)
    h.twilio.fail_next(1, status=status, api="tasks")
    error = await failure(h.run(activities.deliver_handoff, deliver()))
    assert error.type == errors.TASKROUTER_UNAVAILABLE and not error.non_retryable
    receipt = await h.run(activities.deliver_handoff, deliver())
    assert len(h.twilio.tasks) == 1 and receipt.task_sid == h.twilio.tasks[0]["sid"]


async def test_taskrouter_unreachable_is_retryable(h: Harness) -> None:
    activities = h.activities(
        webhook=False, twilio_taskrouter_base_url=f"http://127.0.0.1:{free_port()}"
    )
    error = await failure(h.run(activities.deliver_handoff, deliver()))
    assert error.type == errors.TASKROUTER_UNAVAILABLE and not error.non_retryable


async def test_a_taskrouter_4xx_is_not_retried(h: Harness) -> None:
    h.twilio.fail_next(1, status=400, code=20001, api="tasks")
    error = await failure(h.run(h.activities(webhook=False).deliver_handoff, deliver()))
    assert error.type == errors.TASKROUTER_REJECTED and error.non_retryable
    assert error.details == (20001,)


async def test_a_refusing_target_does_not_stop_the_other(h: Harness) -> None:
    h.twilio.fail_next(1, status=403, code=20003, api="tasks")
    receipt = await h.run(h.activities().deliver_handoff, deliver())
    assert receipt.targets == ["webhook"] and receipt.task_sid is None
    assert len(h.webhook.deliveries) == 1

    h.webhook.fail_next(1, status=410)
    receipt = await h.run(h.activities().deliver_handoff, deliver(key="k-2"))
    assert receipt.targets == ["taskrouter"] and receipt.webhook_status is None


async def test_webhook_errors(h: Harness) -> None:
    activities = h.activities()
    h.webhook.fail_next(1, status=503)
    error = await failure(h.run(activities.deliver_handoff, deliver()))
    assert error.type == errors.HANDOFF_WEBHOOK_UNAVAILABLE and not error.non_retryable
    receipt = await h.run(activities.deliver_handoff, deliver())  # the retry
    assert receipt.targets == ["taskrouter", "webhook"]
    assert len(h.twilio.tasks) == 1 and len(h.webhook.deliveries) == 1

    only_webhook = h.activities(taskrouter=False)
    h.webhook.fail_next(1, status=404)
    error = await failure(h.run(only_webhook.deliver_handoff, deliver(key="k-404")))
    assert error.type == errors.HANDOFF_WEBHOOK_REJECTED and error.non_retryable

    gone = h.activities(taskrouter=False, handoff_webhook_url=f"http://127.0.0.1:{free_port()}/x")
    error = await failure(h.run(gone.deliver_handoff, deliver(key="k-gone")))
    assert error.type == errors.HANDOFF_WEBHOOK_UNAVAILABLE and not error.non_retryable


async def test_no_target_gives_an_empty_receipt(h: Harness) -> None:
    receipt = await h.run(h.activities(taskrouter=False, webhook=False).deliver_handoff, deliver())
    assert receipt.task_sid is None and receipt.webhook_status is None and receipt.targets == []
    assert h.twilio.task_requests == [] and h.webhook.requests == []


async def test_a_handoff_on_a_call_creates_no_task(h: Harness) -> None:
    request = deliver(channel=Channel.VOICE).model_copy(update={"create_task": False})
    receipt = await h.run(h.activities().deliver_handoff, request)
    assert receipt.targets == ["webhook"] and receipt.task_sid is None
    assert h.twilio.task_requests == []
    no_webhook = h.activities(webhook=False)
    assert (await h.run(no_webhook.deliver_handoff, request)).targets == []


# --- notify_human_side and cancel_handoff_task --------------------------------------------


def event(key: str = "conv-+14155550123/run-1/msg-7") -> HumanSideEvent:
    return HumanSideEvent(
        idempotency_key=key, event="customer_message", conversation_id=f"conv-{CUSTOMER}",
        customer=CUSTOMER, channel=Channel.WHATSAPP, text="are you there?", at=AT,
        task_sid="WT" + "9" * 32,
    )  # fmt: skip


async def test_notify_human_side_posts_the_signed_event_once(h: Harness) -> None:
    activities = h.activities()
    await h.run(activities.notify_human_side, event())
    await h.run(activities.notify_human_side, event())  # a retry
    (delivery,) = h.webhook.deliveries
    assert delivery["event"] == "customer_message"
    assert delivery["body"] == event().model_dump(mode="json")
    assert signed_with(delivery, WEBHOOK_SECRET)
    await h.run(activities.notify_human_side, event("another"))
    assert len(h.webhook.deliveries) == 2


async def test_notify_human_side_without_a_webhook_does_nothing(h: Harness) -> None:
    await h.run(h.activities(webhook=False).notify_human_side, event())
    assert h.webhook.requests == []


async def test_notify_human_side_5xx_is_retryable(h: Harness) -> None:
    h.webhook.fail_next(1, status=500)
    error = await failure(h.run(h.activities().notify_human_side, event()))
    assert error.type == errors.HANDOFF_WEBHOOK_UNAVAILABLE and not error.non_retryable


async def created_task(h: Harness) -> str:
    receipt = await h.run(h.activities(webhook=False).deliver_handoff, deliver())
    assert receipt.task_sid is not None
    return receipt.task_sid


async def test_cancel_handoff_task(h: Harness) -> None:
    sid = await created_task(h)
    await h.run(h.activities().cancel_handoff_task, CancelTaskRequest(task_sid=sid, reason="t/o"))
    task = h.twilio.task(sid)
    assert (task["assignment_status"], task["reason"]) == ("canceled", "t/o")
    # Again (a retry): TaskRouter refuses, the task has ended, nothing to do.
    await h.run(h.activities().cancel_handoff_task, CancelTaskRequest(task_sid=sid, reason="x"))


@pytest.mark.parametrize("status", ["assigned", "wrapping", "completed"])
async def test_cancel_leaves_a_taken_task_alone(h: Harness, status: str) -> None:
    sid = await created_task(h)
    h.twilio.set_task_status(sid, status)
    await h.run(h.activities().cancel_handoff_task, CancelTaskRequest(task_sid=sid, reason="x"))
    assert h.twilio.task(sid)["assignment_status"] == status


async def test_cancel_ignores_a_task_that_is_gone(h: Harness) -> None:
    sid = await created_task(h)
    h.twilio.forget_task(sid)
    await h.run(h.activities().cancel_handoff_task, CancelTaskRequest(task_sid=sid, reason="x"))


async def test_cancel_errors(h: Harness) -> None:
    sid = await created_task(h)
    h.twilio.fail_next(1, status=503, api="tasks")
    request = CancelTaskRequest(task_sid=sid, reason="x")
    error = await failure(h.run(h.activities().cancel_handoff_task, request))
    assert error.type == errors.TASKROUTER_UNAVAILABLE and not error.non_retryable
    wrong = h.activities(twilio_auth_token="wrong-token")
    error = await failure(h.run(wrong.cancel_handoff_task, request))
    assert error.type == errors.TASKROUTER_REJECTED and error.non_retryable
    assert h.twilio.task(sid)["assignment_status"] == "pending"
    await h.run(h.activities(taskrouter=False).cancel_handoff_task, request)  # nothing to call
