"""Temporal's own SDK metrics, served for Prometheus when ``TEMPORAL_METRICS_BIND`` is set.

The SDK's core keeps the metrics (workflow task schedule-to-start, activity failures,
pollers, sticky cache...) and serves them itself on ``host:port``; the gateway's
``/metrics`` is separate. A ``Runtime`` binds its port once, so there is one per address
per process, shared by every client ``connect`` makes.
"""

from __future__ import annotations

from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from switchboard.runtime.config import Settings

_runtimes: dict[str, Runtime] = {}


def temporal_runtime(settings: Settings) -> Runtime | None:
    """The runtime serving SDK metrics on ``TEMPORAL_METRICS_BIND``; None (the default) if unset.

    Durations are in seconds (``*_latency_seconds`` histograms), as Prometheus expects.
    """
    bind = settings.temporal_metrics_bind
    if not bind:
        return None
    if bind not in _runtimes:
        _runtimes[bind] = Runtime(
            telemetry=TelemetryConfig(
                metrics=PrometheusConfig(bind_address=bind, durations_as_seconds=True)
            )
        )
    return _runtimes[bind]


__all__ = ["temporal_runtime"]
