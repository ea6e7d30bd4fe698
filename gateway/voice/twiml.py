"""TwiML that connects a call to our ConversationRelay endpoint."""

from __future__ import annotations

from dataclasses import dataclass

from twilio.twiml.voice_response import VoiceResponse

from gateway.signature import websocket_url
from switchboard.config import Settings

RELAY_PATH = "/twilio/relay"
ACTION_PATH = "/twilio/voice/action"


@dataclass(frozen=True)
class VoiceOptions:
    """The agent's voice: what callers hear and how they may interrupt."""

    welcome_greeting: str | None = "Hello! How can I help you today?"
    language: str = "en-US"
    tts_provider: str | None = None
    voice: str | None = None
    transcription_provider: str | None = None
    interruptible: str = "any"
    dtmf_detection: bool = True
    speech_model: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> VoiceOptions:
        """The ``VOICE_*`` settings."""
        return cls(
            welcome_greeting=settings.voice_welcome_greeting or None,
            language=settings.voice_language,
            tts_provider=settings.voice_tts_provider,
            voice=settings.voice_voice,
            transcription_provider=settings.voice_transcription_provider,
            interruptible=settings.voice_interruptible,
            dtmf_detection=settings.voice_dtmf_detection,
            speech_model=settings.voice_speech_model,
        )


def relay_url(public_base_url: str) -> str:
    """``wss://host/twilio/relay`` for an ``https://`` base (``ws://`` for ``http://``)."""
    return websocket_url(public_base_url.rstrip("/") + RELAY_PATH)


def hangup_twiml() -> str:
    """``<Response><Hangup/></Response>``."""
    response = VoiceResponse()
    response.hangup()
    return str(response)


def connect_relay_twiml(public_base_url: str, options: VoiceOptions) -> str:
    """``<Response><Connect action=…><ConversationRelay url=… …/></Connect></Response>``.

    The same document answers an incoming call and places an outbound one (Calls API
    ``Twiml`` parameter).
    """
    response = VoiceResponse()
    connect = response.connect(action=public_base_url.rstrip("/") + ACTION_PATH)
    attributes = {
        "welcome_greeting": options.welcome_greeting,
        "language": options.language,
        "tts_provider": options.tts_provider,
        "voice": options.voice,
        "transcription_provider": options.transcription_provider,
        "interruptible": options.interruptible,
        "dtmf_detection": options.dtmf_detection,
        "speech_model": options.speech_model,
    }
    connect.conversation_relay(
        url=relay_url(public_base_url), **{k: v for k, v in attributes.items() if v is not None}
    )
    return str(response)
