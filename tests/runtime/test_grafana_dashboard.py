"""The Grafana dashboard is valid JSON and queries only metrics that exist."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from gateway.metrics import GatewayMetrics
from tests.support.sdk_metric_names import sample_names

DASHBOARD = Path(__file__).parents[2] / "deploy" / "grafana" / "switchboard.json"
METRIC = re.compile(r"\b(?:switchboard|temporal)_[a-z0-9_]+\b")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}


def _gateway_names() -> set[str]:
    names = set()
    for family in GatewayMetrics().registry.collect():
        names |= {family.name + suffix for suffix in SUFFIXES.get(family.type, ("",))}
    return names


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [panel for panel in dashboard["panels"] if panel["type"] != "row"]


def test_dashboard_is_valid_json_with_panels() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "switchboard"
    panels = _panels(dashboard)
    assert len(panels) >= 8
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])
    for panel in panels:
        assert panel["title"] and panel["targets"], panel
        assert all(target["expr"].strip() for target in panel["targets"])


def test_every_query_names_only_known_metrics() -> None:
    known = _gateway_names() | sample_names()
    for panel in _panels(json.loads(DASHBOARD.read_text())):
        for target in panel["targets"]:
            used = set(METRIC.findall(target["expr"]))
            assert used, target["expr"]
            assert used <= known, (panel["title"], sorted(used - known))


def test_the_key_series_are_on_the_dashboard() -> None:
    text = DASHBOARD.read_text()
    for series in (
        "switchboard_webhooks_total",
        "switchboard_voice_first_token_seconds_bucket",
        "temporal_workflow_task_schedule_to_start_latency_bucket",
        "temporal_activity_execution_failed",
        "prepare_handoff",
    ):
        assert series in text, series
