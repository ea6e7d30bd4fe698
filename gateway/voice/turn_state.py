"""A spoken turn's state as ``TurnPipeline`` (``gateway.voice.turns``) moves it along."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

import structlog

from gateway.metrics import GatewayMetrics
from gateway.voice.llm_stream import StreamedReply
from switchboard.contract.voice import VoicePrompt, VoiceTurnPlan


class Stage(Enum):
    """Where a turn is in the pipeline."""

    PLANNING = "planning"
    STREAMING = "streaming"
    REPORTING = "reporting"
    DONE = "done"


@dataclass
class Turn:
    """One thing the caller said, on its way through the pipeline."""

    prompt: VoicePrompt
    prompt_id: str
    received: float
    stage: Stage = Stage.PLANNING
    number: int | None = None
    text: str = ""
    heard: str | None = None
    late_heard: str | None = None
    stream: asyncio.Task[StreamedReply] | None = None
    last_token_at: float = field(default_factory=time.monotonic)
    planning: float = 0.0
    planned: float = 0.0


log = structlog.get_logger("gateway.voice.turns")


def record_first_token(
    metrics: GatewayMetrics, turn: Turn, plan: VoiceTurnPlan | None, speculative: bool
) -> None:
    """Measure a turn at its first token: the caller waited from the prompt until now."""
    first = time.perf_counter()
    metrics.first_token_seconds.observe(first - turn.received)
    log.info("voice_first_token", **first_token_figures(turn, plan, first, speculative))


def first_token_figures(
    turn: Turn, plan: VoiceTurnPlan | None, first: float, speculative: bool
) -> dict[str, Any]:
    """The ``voice_first_token`` log line's figures (ms); ``first``: ``time.perf_counter()``.

    ``plan`` is None, and the update's figures unknown, when the token went out before the
    workflow's plan came back (``VOICE_RELEASE=optimistic``).
    """
    planned = plan is not None and turn.planned > 0

    def ms(seconds: float) -> float:
        return round(seconds * 1000, 2)

    decided = plan.decided_at if plan is not None else None
    return {
        "turn": plan.turn if plan is not None else None,
        "total_ms": ms(first - turn.received),
        "queued_ms": ms(turn.planning - turn.received),
        "plan_update_ms": ms(turn.planned - turn.planning) if planned else None,
        "workflow_task_at_ms": _ms_between(turn.prompt.received_at, decided),
        "model_first_token_ms": ms(first - turn.planned) if planned else None,
        "speculative": speculative,
        "before_plan": not planned,
    }


def _ms_between(start: datetime, end: datetime | None) -> float | None:
    return round((end - start).total_seconds() * 1000, 2) if end else None
