"""Temporal SDK metric names the dashboard may query, as the SDK's Prometheus exporter names them.

Counters carry no ``_total`` suffix and histograms are in seconds (``durations_as_seconds``).
"""

from __future__ import annotations

HISTOGRAMS_AFTER_A_TURN = frozenset(
    {
        "temporal_workflow_task_schedule_to_start_latency",
        "temporal_workflow_task_execution_latency",
        "temporal_activity_schedule_to_start_latency",
        "temporal_activity_execution_latency",
        "temporal_local_activity_execution_latency",
    }
)
"""Served once a worker has run one text turn (tests/e2e/test_sdk_metrics.py checks)."""

GAUGES = frozenset({"temporal_worker_task_slots_available", "temporal_num_pollers"})
"""Served as soon as a worker polls."""

FAILURE_COUNTERS = frozenset(
    {
        "temporal_activity_execution_failed",
        "temporal_local_activity_execution_failed",
        "temporal_workflow_task_execution_failed",
    }
)
"""Served only after a failure (names from Temporal's SDK metrics reference)."""


def sample_names() -> frozenset[str]:
    """Every series name these give in the Prometheus exposition."""
    histograms = {
        f"{name}{suffix}"
        for name in HISTOGRAMS_AFTER_A_TURN
        for suffix in ("_bucket", "_count", "_sum")
    }
    return frozenset(histograms | GAUGES | FAILURE_COUNTERS)
