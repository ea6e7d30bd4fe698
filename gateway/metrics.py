"""Prometheus metrics of one gateway process (``GET /metrics``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest


class GatewayMetrics:
    """Counters and latency histograms, in a registry of their own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.webhooks = Counter(
            "switchboard_webhooks_total",
            "Twilio webhooks by route and outcome",
            ["route", "outcome"],
            registry=self.registry,
        )
        self.webhook_seconds = Histogram(
            "switchboard_webhook_seconds",
            "Time to answer a Twilio webhook",
            ["route"],
            buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )

        self.relay_sessions = Counter(
            "switchboard_relay_sessions_total",
            "ConversationRelay sockets by outcome (accepted, refused, ended reason)",
            ["outcome"],
            registry=self.registry,
        )
        self.relay_frames = Counter(
            "switchboard_relay_frames_total",
            "ConversationRelay frames received, by type (``invalid`` for skipped ones)",
            ["type"],
            registry=self.registry,
        )
        self.voice_turns = Counter(
            "switchboard_voice_turns_total",
            "Voice turns by how the reply started: speculative (guess confirmed), plain, "
            "or abandoned (guess refused, restarted from the plan); dropped: a prompt pushed "
            "out of a full queue, never answered",
            ["start"],
            registry=self.registry,
        )
        self.first_token_seconds = Histogram(
            "switchboard_voice_first_token_seconds",
            "Caller's prompt received to first text token written",
            buckets=(0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
