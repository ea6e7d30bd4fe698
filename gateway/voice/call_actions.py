"""Call actions on one call: hang up, send digits, switch language — after the words.

The workflow approves call actions with a turn's follow-up, but the reply they come with
is still being spoken when they arrive: ``end`` sent at once would cut the caller off
mid-sentence, and digits would sound over the voice. So they wait here until the caller has
heard the reply, judged from Twilio's ``agentSpeaking`` events when the session reports them
and from an estimate of the speaking time otherwise. Actions the workflow decides on its own
(hanging up when the conversation closes) are sent at once, through ``perform``.

Kept apart from the turn pipeline because this waits on playback, not on the model or on
Temporal, and may still be waiting when the next turn begins (an interrupt cancels it).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Protocol

import structlog

from gateway.voice.frames import (
    EndFrame,
    FrameWriter,
    InfoFrame,
    LanguageFrame,
    SendDigitsFrame,
    text_json,
)
from switchboard.contract.voice import VoiceAction

log = structlog.get_logger(__name__)

SPEECH_CHARS_PER_SECOND = 15.0
"""Estimated speaking rate, to hold ``end`` or digits until the caller has heard the reply."""
MAX_SPEECH_WAIT_SECONDS = 15.0


class SpokenReply(Protocol):
    """The reply the caller is hearing, as far as waiting for its end goes."""

    text: str
    """Everything sent to be spoken so far."""
    last_token_at: float
    """When the last of it was sent (``time.monotonic``)."""


class CallActions:
    """Sends a call's actions, holding those that follow a reply until it has been heard."""

    def __init__(self, writer: FrameWriter) -> None:
        """Nothing pending, no playback events seen yet.

        Args:
            writer: The call's socket.
        """
        self._writer = writer
        self._pending: asyncio.Task[None] | None = None
        self._agent_quiet = asyncio.Event()
        self._speaking_events = False

    def on_info(self, frame: InfoFrame) -> None:
        """Follow Twilio's playback events (sent when the session asks for them)."""
        if frame.name == "agentSpeaking":
            self._speaking_events = True
            if frame.value == "on":
                self._agent_quiet.clear()
            else:
                self._agent_quiet.set()

    def after_speech(self, reply: SpokenReply, actions: list[VoiceAction]) -> None:
        """Send ``actions`` once the caller has heard ``reply`` (in the background).

        Words the workflow says itself (``say``, e.g. "connecting you" when the model handed
        off without a word) are spoken first, as part of the reply, and added to it.
        """
        self._pending = asyncio.create_task(self._perform_after_speech(reply, actions))

    def cancel_pending(self) -> None:
        """Drop actions still waiting (their reply was talked over, or the call ended)."""
        if self._pending is not None:
            self._pending.cancel()

    async def perform(self, actions: list[VoiceAction]) -> None:
        """Send call actions now (the workflow's decision)."""
        for action in actions:
            if action.kind == "language" and action.language:
                language = action.language
                await self._writer.send(
                    LanguageFrame(tts_language=language, transcription_language=language)
                )
            elif action.kind == "send_digits" and action.digits:
                await self._writer.send(SendDigitsFrame(digits=action.digits))
            elif action.kind == "end":
                await self._writer.send(EndFrame(handoff_data=action.handoff_data))
            log.info("call_action", kind=action.kind)

    async def _perform_after_speech(self, reply: SpokenReply, actions: list[VoiceAction]) -> None:
        for action in [a for a in actions if a.kind == "say" and a.text]:
            assert action.text is not None
            await self._writer.send(text_json(action.text, last=True))
            reply.text += action.text
            reply.last_token_at = time.monotonic()
        actions = [a for a in actions if a.kind != "say"]
        estimate = min(MAX_SPEECH_WAIT_SECONDS, len(reply.text) / SPEECH_CHARS_PER_SECOND)
        await asyncio.sleep(max(0.0, reply.last_token_at + estimate - time.monotonic()))
        if self._speaking_events:  # Twilio reports playback: wait for the real end of it
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(MAX_SPEECH_WAIT_SECONDS):
                    await self._agent_quiet.wait()
        await self.perform(actions)
