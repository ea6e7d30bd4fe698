"""A spoken turn's state as ``TurnPipeline`` (``gateway.voice.turns``) moves it along."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from enum import Enum

from gateway.voice.llm_stream import StreamedReply
from switchboard.contract.voice import VoicePrompt


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
