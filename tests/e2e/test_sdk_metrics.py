"""Temporal's SDK metrics, served for Prometheus on ``TEMPORAL_METRICS_BIND``."""

from __future__ import annotations

from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from switchboard.devtools.devserver import DevServer
from switchboard.runtime.temporal import connect
from tests.conftest import running_stack, stack_settings, unique_customer
from tests.support.sdk_metric_names import GAUGES, HISTOGRAMS_AFTER_A_TURN
from tests.support.server import free_port


async def _series(bind: str) -> dict[str, set[str]]:
    """Every sample name served on ``bind``, with the task queues it is reported for."""
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://{bind}/metrics")).text
    series: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            series.setdefault(sample.name, set()).add(sample.labels.get("task_queue", ""))
    return series


async def test_worker_and_gateway_serve_temporal_sdk_metrics(
    tmp_path: Path, temporal_server: DevServer
) -> None:
    bind = f"127.0.0.1:{free_port()}"
    client = await connect(stack_settings(tmp_path, temporal_server, temporal_metrics_bind=bind))
    async with running_stack(tmp_path, temporal_server, client) as stack:
        await stack.text(unique_customer(), "hello")
        await stack.twilio.wait_for_messages(1)

        queue = stack.settings.temporal_task_queue

        async def after_the_turn() -> dict[str, set[str]]:
            series = await _series(bind)
            scheduled = series.get("temporal_workflow_task_schedule_to_start_latency_count", ())
            analyzed = series.get("temporal_activity_execution_latency_count", ())
            return series if queue in scheduled and f"{queue}-intelligence" in analyzed else {}

        series = await stack.eventually(after_the_turn)
    # Durations in seconds, under the SDK's own names (the dashboard's queries use them).
    assert queue in series["temporal_workflow_task_schedule_to_start_latency_count"]
    # The turn's model call and send are local activities; operators are activities.
    assert queue in series["temporal_local_activity_execution_latency_count"]
    assert f"{queue}-intelligence" in series["temporal_activity_execution_latency_count"]
    # Every name the dashboard queries for a healthy worker is really served.
    assert {f"{name}_count" for name in HISTOGRAMS_AFTER_A_TURN} | GAUGES <= set(series)
    # The gateway's own leg worker reports through the same runtime.
    assert any(q.startswith("gateway-") for q in series["temporal_num_pollers"])
