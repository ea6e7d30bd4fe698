"""ConversationRelay WebSocket frames, parsed once at the edge into a discriminated union.

Every message shape of the ConversationRelay protocol lives here, and nowhere else in the
gateway: one module per wire protocol, so the session and its parts deal in typed frames.

Twilio → us: ``setup``, ``prompt``, ``dtmf``, ``interrupt``, ``error``, ``info``. Unknown or
malformed frames are logged and skipped, never fatal, and never answered (an answer to a
frame Twilio cannot read would itself count as a malformed message, error 64107).
Us → Twilio: ``text``, ``play``, ``sendDigits``, ``language``, ``end``, written through a
``FrameWriter``.
"""

from __future__ import annotations

import contextlib
import json
from typing import Annotated, Any, Literal, Protocol

import structlog
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError

from switchboard.agent.call_control import DIGITS_PATTERN

log = structlog.get_logger(__name__)


def _int_or_none(value: object) -> object:
    # Twilio's docs have shown durationUntilInterruptMs both as 460 and as "460".
    if isinstance(value, str):
        return int(value) if value.strip().lstrip("-").isdigit() else None
    return value


class _Frame(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)


class SetupFrame(_Frame):
    """Sent once when the session connects."""

    type: Literal["setup"]
    session_id: str = Field(alias="sessionId")
    call_sid: str = Field(alias="callSid")
    account_sid: str = Field(default="", alias="accountSid")
    from_: str = Field(default="", alias="from")
    to: str = Field(default="")
    direction: str = Field(default="inbound")
    call_status: str = Field(default="", alias="callStatus")
    custom_parameters: dict[str, str] = Field(default_factory=dict, alias="customParameters")

    @property
    def caller(self) -> str:
        """The customer's number: ``from`` inbound, ``to`` outbound (``outbound-api`` too)."""
        return self.to if self.outbound else self.from_

    @property
    def business_number(self) -> str:
        """Our number on the call: ``to`` inbound, ``from`` outbound (as Twilio wrote it)."""
        return self.from_ if self.outbound else self.to

    @property
    def outbound(self) -> bool:
        """True for a call we placed (``outbound-api``, ``outbound-dial``)."""
        return self.direction.lower().startswith("outbound")


class PromptFrame(_Frame):
    """Caller speech; a turn starts only on ``last: true``."""

    type: Literal["prompt"]
    voice_prompt: str = Field(alias="voicePrompt")
    lang: str | None = None
    last: bool = True


class DtmfFrame(_Frame):
    """A key the caller pressed (with ``dtmfDetection``)."""

    type: Literal["dtmf"]
    digit: Annotated[str, Field(pattern=r"^[0-9A-Da-d*#]$")]


class InterruptFrame(_Frame):
    """The caller barged in; ``utterance_until_interrupt`` is what they actually heard."""

    type: Literal["interrupt"]
    utterance_until_interrupt: str = Field(default="", alias="utteranceUntilInterrupt")
    duration_until_interrupt_ms: Annotated[int | None, BeforeValidator(_int_or_none)] = Field(
        default=None, alias="durationUntilInterruptMs"
    )


class ErrorFrame(_Frame):
    """Twilio reports a problem with something we sent."""

    type: Literal["error"]
    description: str = ""


class InfoFrame(_Frame):
    """Speaker and playback events (``agentSpeaking``, ``clientSpeaking``, ``tokensPlayed``)."""

    type: Literal["info"]
    name: str = ""
    value: str | None = None
    ts: int | None = None


InboundFrame = Annotated[
    SetupFrame | PromptFrame | DtmfFrame | InterruptFrame | ErrorFrame | InfoFrame,
    Field(discriminator="type"),
]
_INBOUND: TypeAdapter[InboundFrame] = TypeAdapter(InboundFrame)


def parse_frame(raw: str | bytes) -> InboundFrame | None:
    """The typed frame, or None (logged) for anything malformed or unknown."""
    try:
        return _INBOUND.validate_json(raw)
    except ValidationError as exc:
        # The frame itself may be the caller's speech: its size and error only.
        log.warning("relay_frame_skipped", error=exc.errors()[0]["msg"], size=len(raw))
        return None


# --- us → Twilio ------------------------------------------------------------------------


class TextFrame(_Frame):
    """Text for TTS. Tokens are sent as they come (never trimmed); ``last`` ends the turn."""

    type: Literal["text"] = "text"
    token: str
    last: bool = False
    lang: str | None = None
    interruptible: bool | None = None
    preemptible: bool | None = None


class PlayFrame(_Frame):
    """Play an audio URL."""

    type: Literal["play"] = "play"
    source: str
    loop: int = 1
    interruptible: bool | None = None
    preemptible: bool | None = None


class SendDigitsFrame(_Frame):
    """Send DTMF tones (``0-9``, ``w`` for a half-second pause, ``#``, ``*``)."""

    type: Literal["sendDigits"] = "sendDigits"
    digits: Annotated[str, Field(pattern=DIGITS_PATTERN)]


class LanguageFrame(_Frame):
    """Switch the TTS and/or STT language."""

    type: Literal["language"] = "language"
    tts_language: str | None = Field(default=None, serialization_alias="ttsLanguage")
    transcription_language: str | None = Field(
        default=None, serialization_alias="transcriptionLanguage"
    )


class EndFrame(_Frame):
    """End the session; ``handoff_data`` (a JSON string) reaches the ``<Connect action>`` URL."""

    type: Literal["end"] = "end"
    handoff_data: str | None = Field(default=None, serialization_alias="handoffData")


OutboundFrame = TextFrame | PlayFrame | SendDigitsFrame | LanguageFrame | EndFrame


def dump_frame(frame: OutboundFrame) -> str:
    """The JSON text frame to write to the socket (unset optional fields left out)."""
    data: dict[str, Any] = frame.model_dump(by_alias=True, exclude_none=True)
    return TypeAdapter(dict[str, Any]).dump_json(data).decode()


def text_json(token: str, last: bool = False) -> str:
    """A ``text`` frame, serialized by hand: it is on every token's path and needs no checks.

    Args:
        token: The text to speak, untrimmed (the spaces between words live in the tokens).
        last: Whether this token ends the talk cycle.

    Returns:
        The same frame as ``dump_frame(TextFrame(token=token, last=last))``, as JSON.
    """
    return json.dumps({"type": "text", "token": token, "last": last})


class TextSocket(Protocol):
    """The one thing a ``FrameWriter`` needs of a WebSocket (Starlette's has it)."""

    async def send_text(self, data: str) -> None:
        """Send one text message."""
        ...


class FrameWriter:
    """Writes frames to one call's socket until the session winds down.

    Once ``close`` has been called nobody is listening any more: frames are dropped, and
    the parts of the session ask ``closed`` before starting anything the caller would hear.
    """

    def __init__(self, socket: TextSocket) -> None:
        self._socket = socket
        self.closed = False

    def close(self) -> None:
        """Stop writing: the socket is gone or going."""
        self.closed = True

    async def send(self, frame: OutboundFrame | str) -> None:
        """Write a frame (or JSON made by ``text_json``); nothing once closed.

        A socket that broke meanwhile raises its own error: the session's reader sees the
        disconnect and winds down.
        """
        if self.closed:
            return  # nobody is listening any more
        await self._socket.send_text(frame if isinstance(frame, str) else dump_frame(frame))

    async def say(self, text: str) -> None:
        """Speak ``text`` as a whole talk cycle, if the socket still takes it (best effort)."""
        with contextlib.suppress(Exception):  # the socket may already be gone
            await self.send(TextFrame(token=text, last=True))
