"""Human handoff: the activities that hand a conversation to a person and keep them informed.

``prepare_handoff`` builds the package a human receives (the model's summary, else a
deterministic one, and the customer's profile); ``deliver_handoff`` creates the TaskRouter
task (Flex) and POSTs the signed webhook, each once per idempotency key;
``notify_human_side`` tells the webhook what happens while a human has the conversation;
``cancel_handoff_task`` withdraws a task nobody took.

Exactly once works like the message outbox: an attempt is claimed under its key before the
request leaves; a retry that finds it done returns what was recorded, and one that finds a
task begun without an answer asks TaskRouter (``find_task``) before creating it again.
TaskRouter's refusals are classed by ``switchboard.twilio.failures`` like every Twilio
error; the webhook's answers follow the same transient rule (408, 429, 5xx and no answer at
all are retryable; any other refusal, or an unusable URL, is not).
"""

from __future__ import annotations

import httpx
import openai
import structlog
from openai.types.chat import ChatCompletion
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.heartbeat import heartbeating
from switchboard.contract import errors
from switchboard.contract.handoff import (
    TASK_CHANNELS,
    CancelTaskRequest,
    DeliverHandoffRequest,
    HandoffPackage,
    HandoffReceipt,
    HumanSideEvent,
    PrepareHandoffRequest,
)
from switchboard.contract.names import (
    CANCEL_HANDOFF_TASK_ACTIVITY,
    DELIVER_HANDOFF_ACTIVITY,
    NOTIFY_HUMAN_SIDE_ACTIVITY,
    PREPARE_HANDOFF_ACTIVITY,
)
from switchboard.memory import MemoryStore
from switchboard.memory.models import TranscriptLine
from switchboard.memory.rendering import profile_json
from switchboard.memory.summary import MAX_SUMMARY_CHARS, fallback_summary, transcript_text
from switchboard.runtime.config import Settings
from switchboard.runtime.outbox import Outbox
from switchboard.runtime.webhooks import WebhookError, post_signed
from switchboard.twilio.failures import (
    classify_twilio_error,
    is_transient_status,
    outbox_note,
    taskrouter_unreachable,
)
from switchboard.twilio.taskrouter import CANCELABLE_STATUSES, TaskRouterClient, TaskRouterError

log = structlog.get_logger(__name__)

HANDOFF_KEY_ATTRIBUTE = "switchboard_handoff_key"
"""Task attribute holding the delivery's idempotency key, so a retry can find its task."""
HANDOFF_SUMMARY_INSTRUCTIONS = (
    "A customer-service conversation is being handed to a human colleague. In at most three "
    "short sentences, tell them what the customer wants, what has been tried or promised so "
    "far, and anything the customer told us about themselves. Plain text."
)
PROFILE_ITEMS = 10
"""Newest observations and summaries a package carries: enough context, small attributes."""
SUMMARY_TIMEOUT_S = 20.0
"""Cap on the summary's model call: a human waiting for the handoff matters more than prose."""
TASK_TIMEOUT_MARGIN_S = 60
"""A task outlives HANDOFF_TIMEOUT by this much: the workflow's own timer cancels it first."""

_TASK_PREFIX = "task:"
_WEBHOOK_PREFIX = "webhook:"


class HandoffActivities:
    """Activities of human handoff, over one worker's shared clients.

    ``http`` carries every TaskRouter and webhook request; ``outbox`` (the send outbox's
    SQLite) records tasks and webhook deliveries under their idempotency keys, each kind
    under its own key prefix so they never meet the keys of messages and calls.
    """

    def __init__(
        self,
        settings: Settings,
        http: httpx.AsyncClient,
        store: MemoryStore,
        llm: openai.AsyncOpenAI | None,
        outbox: Outbox,
    ) -> None:
        self._http = http
        self._store = store
        self._llm = llm
        self._outbox = outbox
        self._model = settings.chat_model
        self._summary_timeout = min(settings.llm_timeout.total_seconds(), SUMMARY_TIMEOUT_S)
        self._taskrouter = TaskRouterClient(
            http, settings.twilio_taskrouter_base_url, settings.account_sid, settings.auth_token
        )
        self._workspace_sid = settings.twilio_taskrouter_workspace_sid
        workflow_sid = settings.twilio_taskrouter_workflow_sid
        # Tasks are created only with both SIDs; cancelling needs the workspace alone.
        self._task_target = (
            (self._workspace_sid, workflow_sid) if self._workspace_sid and workflow_sid else None
        )
        self._task_timeout_s = int(settings.handoff_timeout.total_seconds()) + TASK_TIMEOUT_MARGIN_S
        self._webhook_url = settings.handoff_webhook_url
        # Settings refuse a webhook URL without HANDOFF_WEBHOOK_SECRET (never the operator
        # key: every receiver holds it), so a configured webhook always has a secret.
        secret = settings.handoff_webhook_secret
        self._webhook_secret = secret.get_secret_value() if secret is not None else ""

    async def close(self) -> None:
        """Release the model client's connections."""
        if self._llm is not None:
            await self._llm.close()

    # ---------------------------------------------------------------- prepare
    @activity.defn(name=PREPARE_HANDOFF_ACTIVITY)
    async def prepare_handoff(self, request: PrepareHandoffRequest) -> HandoffPackage:
        """The package for a human: the conversation, a short summary and the profile."""
        profile = await self._store.get_profile(request.customer, limit=PROFILE_ITEMS)
        summary, tokens = await self._summarise(request)
        return HandoffPackage(
            conversation_id=request.conversation_id,
            customer=request.customer,
            channel=request.channel,
            reason=request.reason,
            summary=summary,
            profile=profile_json(profile) if profile is not None else {},
            transcript=request.transcript,
            tokens=tokens,
        )

    async def _summarise(self, request: PrepareHandoffRequest) -> tuple[str, int]:
        """The summary, and the tokens its model call used (0 without one)."""
        lines = [TranscriptLine.model_validate(line.model_dump()) for line in request.transcript]
        if self._llm is None or not lines:
            return fallback_summary(lines), 0
        body = {
            "model": self._model,
            "messages": [
                {"role": "system", "content": HANDOFF_SUMMARY_INSTRUCTIONS},
                {
                    "role": "user",
                    "content": f"Why it is handed over: {request.reason}\n\n"
                    + transcript_text(lines),
                },
            ],
        }
        tokens = 0
        try:
            async with heartbeating():
                completion = await self._llm.post(
                    "/chat/completions",
                    body=body,
                    cast_to=ChatCompletion,
                    options={"timeout": self._summary_timeout},
                )
            tokens = completion.usage.total_tokens if completion.usage is not None else 0
            text = (completion.choices[0].message.content or "").strip()
        except (openai.APIError, IndexError) as exc:
            # One try: the human should get the conversation now; the transcript is in the
            # package either way.
            log.warning(
                "handoff_summary_failed", conversation_id=request.conversation_id, error=str(exc)
            )
            text = ""
        return (text[:MAX_SUMMARY_CHARS] if text else fallback_summary(lines)), tokens

    # ---------------------------------------------------------------- deliver
    @activity.defn(name=DELIVER_HANDOFF_ACTIVITY)
    async def deliver_handoff(self, request: DeliverHandoffRequest) -> HandoffReceipt:
        """Create the TaskRouter task and POST the signed webhook, whichever are configured.

        A retry never creates a second task. A target that refuses for good (4xx) does not
        keep the other from receiving the handoff; only when every configured target
        refused is the error raised.
        """
        package = request.package
        bound = log.bind(conversation_id=package.conversation_id, key=request.idempotency_key)
        task_target = self._task_target if request.create_task else None
        webhook_url = self._webhook_url
        if task_target is None and webhook_url is None:
            if request.create_task:
                bound.warning(
                    "handoff_no_target",
                    hint="set TWILIO_TASKROUTER_WORKSPACE_SID and TWILIO_TASKROUTER_WORKFLOW_SID"
                    " or HANDOFF_WEBHOOK_URL; operators see the handoff in /api/conversations",
                )
            else:
                bound.info("handoff_by_call_only")  # the call itself is enqueued by TwiML
            return HandoffReceipt()
        task_sid: str | None = None
        webhook_status: int | None = None
        refused: list[ApplicationError] = []
        if task_target is not None:
            try:
                task_sid = await self._create_task_once(request, *task_target)
            except ApplicationError as exc:
                if not exc.non_retryable:
                    raise
                refused.append(exc)
        if webhook_url is not None:
            try:
                webhook_status = await self._post_webhook_once(
                    webhook_url,
                    request.idempotency_key,
                    package.conversation_id,
                    "handoff",
                    package.delivered_json(),
                )
            except ApplicationError as exc:
                if not exc.non_retryable:
                    raise
                refused.append(exc)
        targets = [
            name
            for name, done in (("taskrouter", task_sid), ("webhook", webhook_status))
            if done is not None
        ]
        if refused and not targets:
            raise refused[0]
        for failure in refused:
            bound.error("handoff_target_refused", error=str(failure), type=failure.type)
        bound.info("handoff_delivered", targets=targets, task_sid=task_sid)
        return HandoffReceipt(task_sid=task_sid, webhook_status=webhook_status, targets=targets)

    async def _create_task_once(
        self, request: DeliverHandoffRequest, workspace: str, workflow: str
    ) -> str:
        package = request.package
        key = _TASK_PREFIX + request.idempotency_key
        record = await self._outbox.claim(
            key, package.conversation_id, package.customer, workspace, package.reason
        )
        if record.state == "sent" and record.sid:
            log.info("handoff_task_deduplicated", key=request.idempotency_key, sid=record.sid)
            return record.sid
        try:
            if record.state == "sending":
                # An earlier attempt left without an answer: did TaskRouter create the task?
                found = await self._taskrouter.find_task(
                    workspace, HANDOFF_KEY_ATTRIBUTE, request.idempotency_key
                )
                if found is not None:
                    await self._outbox.mark_sent(key, found, "pending")
                    log.info("handoff_task_recovered", key=request.idempotency_key, sid=found)
                    return found
            attributes = package.task_attributes()
            attributes[HANDOFF_KEY_ATTRIBUTE] = request.idempotency_key
            async with heartbeating(1.0):
                sid = await self._taskrouter.create_task(
                    workspace,
                    workflow,
                    attributes,
                    TASK_CHANNELS[package.channel],
                    self._task_timeout_s,
                )
        except TaskRouterError as exc:
            error = classify_twilio_error(exc)
            if error.non_retryable:
                await self._outbox.mark_failed(key, outbox_note(exc))
            raise error from exc
        except httpx.TransportError as exc:
            raise taskrouter_unreachable(exc) from exc
        await self._outbox.mark_sent(key, sid, "pending")
        log.info("handoff_task_created", key=request.idempotency_key, sid=sid)
        return sid

    async def _post_webhook_once(
        self, url: str, idempotency_key: str, conversation_id: str, event: str, body: bytes
    ) -> int:
        key = f"{_WEBHOOK_PREFIX}{event}:{idempotency_key}"
        record = await self._outbox.claim(key, conversation_id, url, "", event)
        if record.state == "sent":
            return int(record.twilio_status or 200)
        try:
            async with heartbeating(1.0):
                status = await post_signed(
                    self._http, url, body, self._webhook_secret,
                    event=event, idempotency_key=_delivery_key(idempotency_key),
                )  # fmt: skip
        except WebhookError as exc:
            if is_transient_status(exc.http_status):
                raise ApplicationError(
                    str(exc), exc.http_status, type=errors.HANDOFF_WEBHOOK_UNAVAILABLE
                ) from exc
            await self._outbox.mark_failed(key, str(exc.http_status))
            raise ApplicationError(
                str(exc), exc.http_status, type=errors.HANDOFF_WEBHOOK_REJECTED, non_retryable=True
            ) from exc
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            # A misconfigured URL does not fix itself: retrying would only delay the error.
            raise ApplicationError(
                f"HANDOFF_WEBHOOK_URL unusable: {exc}",
                type=errors.HANDOFF_WEBHOOK_REJECTED,
                non_retryable=True,
            ) from exc
        except httpx.TransportError as exc:
            raise ApplicationError(
                f"handoff webhook unreachable: {type(exc).__name__}",
                type=errors.HANDOFF_WEBHOOK_UNAVAILABLE,
            ) from exc
        await self._outbox.mark_sent(key, event, str(status))
        log.info("handoff_webhook_delivered", conversation_id=conversation_id, handoff_event=event)
        return status

    # ------------------------------------------------------------- human side
    @activity.defn(name=NOTIFY_HUMAN_SIDE_ACTIVITY)
    async def notify_human_side(self, event: HumanSideEvent) -> None:
        """POST the event to the handoff webhook (a no-op when none is configured)."""
        if self._webhook_url is None:
            return
        await self._post_webhook_once(
            self._webhook_url,
            event.idempotency_key,
            event.conversation_id,
            event.event,
            event.model_dump_json().encode(),
        )

    @activity.defn(name=CANCEL_HANDOFF_TASK_ACTIVITY)
    async def cancel_handoff_task(self, request: CancelTaskRequest) -> None:
        """Cancel the task; one that is gone, taken or already ended is left as it is."""
        bound = log.bind(task_sid=request.task_sid)
        if not self._workspace_sid:
            bound.warning("handoff_task_not_canceled", hint="TWILIO_TASKROUTER_WORKSPACE_SID unset")
            return
        try:
            outcome = await self._cancel(self._workspace_sid, request)
        except TaskRouterError as exc:
            raise classify_twilio_error(exc) from exc
        except httpx.TransportError as exc:
            raise taskrouter_unreachable(exc) from exc
        bound.info("handoff_task_cancel", outcome=outcome)

    async def _cancel(self, workspace: str, request: CancelTaskRequest) -> str:
        try:
            task = await self._taskrouter.cancel_task(workspace, request.task_sid, request.reason)
        except TaskRouterError as exc:
            if exc.http_status == 404:
                return "gone"
            if is_transient_status(exc.http_status) or exc.http_status in (401, 403):
                raise
            # TaskRouter refuses to cancel a task that was accepted or has ended (400): that
            # is fine, unless the task is still waiting and the refusal was about us.
            current = await self._taskrouter.fetch_task(workspace, request.task_sid)
            if current is None:
                return "gone"
            if current.assignment_status in CANCELABLE_STATUSES:
                raise
            return current.assignment_status
        return task.assignment_status


def _delivery_key(idempotency_key: str) -> str:
    """The key as the webhook sees it: the signature scheme keeps dots out of it."""
    return idempotency_key.replace(".", "_")
