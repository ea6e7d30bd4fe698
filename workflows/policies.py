"""Retry policies and timeouts for every activity, in one place.

Provider SDK retries are off everywhere; these presets are the only retry logic.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.common import RetryPolicy

from switchboard.contract import errors

LLM_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=20),
    maximum_attempts=6,
    non_retryable_error_types=[errors.LLM_AUTH_ERROR, errors.LLM_BAD_REQUEST],
)
"""Model calls: a handful of attempts, then the conversation apologises instead of hanging."""

DELIVERY_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=500),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=0,
    non_retryable_error_types=[errors.TWILIO_PERMANENT_ERROR, errors.TWILIO_AUTH_ERROR],
)
"""Twilio sends: retried until the schedule-to-close deadline; the outbox prevents doubles."""

LLM_ACTIVITY: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=90),
    "heartbeat_timeout": timedelta(seconds=8),
    "schedule_to_close_timeout": timedelta(minutes=5),
    "retry_policy": LLM_RETRY,
}
DELIVERY_ACTIVITY: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=20),
    "heartbeat_timeout": timedelta(seconds=4),
    "schedule_to_close_timeout": timedelta(hours=1),
    "retry_policy": DELIVERY_RETRY,
}

# Text turns run their activities locally by default: no task-queue round trip per step,
# which on a small server is most of a turn's latency (see benchmarks/README.md). A dead
# worker is noticed through the workflow task timeout instead of a heartbeat.
LLM_LOCAL_ACTIVITY: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=90),
    "schedule_to_close_timeout": timedelta(minutes=5),
    "retry_policy": LLM_RETRY,
}
DELIVERY_LOCAL_ACTIVITY: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=20),
    "schedule_to_close_timeout": timedelta(hours=1),
    "retry_policy": DELIVERY_RETRY,
}

MEMORY_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=2),
    maximum_attempts=3,
)
"""Memory reads and tool writes: a few quick tries, then the turn goes on without them."""

MEMORY_ACTIVITY: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=5),
    "schedule_to_close_timeout": timedelta(seconds=15),
    "retry_policy": MEMORY_RETRY,
}
MEMORY_LOCAL_ACTIVITY: dict[str, Any] = MEMORY_ACTIVITY

RECORD_ACTIVITY: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=120),
    "heartbeat_timeout": timedelta(seconds=10),
    "schedule_to_close_timeout": timedelta(minutes=30),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=60),
    ),
}
"""The record of a closing conversation: retried until stored (its writes are idempotent)."""

PREPARE_HANDOFF_POLICY: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=30),
    "schedule_to_close_timeout": timedelta(seconds=60),
    "retry_policy": RetryPolicy(maximum_attempts=2),
}
"""The handoff package (profile and summary): a human is waiting, so a short budget; on
failure the workflow builds the package itself with a plain summary."""

HANDOFF_TARGET_POLICY: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=20),
    "schedule_to_close_timeout": timedelta(minutes=10),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=30),
        non_retryable_error_types=[errors.TWILIO_PERMANENT_ERROR, errors.TWILIO_AUTH_ERROR],
    ),
}
"""TaskRouter tasks, webhook posts and outbound calls: retried (idempotently) for minutes."""

START_OUTBOUND_POLICY: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=10),
    "schedule_to_close_timeout": timedelta(hours=1),
    "retry_policy": RetryPolicy(maximum_interval=timedelta(seconds=30)),
}
"""A due callback starting its conversation: retried until Temporal takes the signal."""

HUMAN_SIDE_POLICY: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=10),
    "schedule_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(maximum_interval=timedelta(seconds=5)),
}
"""News for the human side's webhook: a short budget, so a webhook that is down never holds
up the conversation (the transcript in the API has everything)."""

RULE_WEBHOOK_POLICY: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=20),
    "schedule_to_close_timeout": timedelta(minutes=10),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=60),
        non_retryable_error_types=[errors.RULE_WEBHOOK_REJECTED],
    ),
}
"""A fired rule's webhook: retried for ten minutes through a receiver's restart (408, 429,
5xx, no answer); a refusal (other 4xx) is final. It runs beside the conversation, which
waits for it only when closing — no longer than for the close analysis itself."""
