"""TwiML that connects a call to our ConversationRelay endpoint.

Pure builders, shared by the gateway (answering incoming calls and the ``<Connect action>``
callback) and the worker (placing outbound calls with the Calls API ``Twiml`` parameter).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from twilio.twiml.voice_response import VoiceResponse

from switchboard.agent import Agent, AgentVoice
from switchboard.runtime.config import Settings

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
    def from_settings(cls, settings: Settings, agent: Agent | None = None) -> VoiceOptions:
        """The ``VOICE_*`` settings, with what the agent sets itself taking precedence."""
        greeting, voice = settings.voice_welcome_greeting, AgentVoice()
        if agent is not None:
            greeting = agent.greeting if agent.greeting is not None else greeting
            voice = agent.voice
        return cls(
            welcome_greeting=greeting or None,
            language=voice.language or settings.voice_language,
            tts_provider=voice.tts_provider or settings.voice_tts_provider,
            voice=voice.voice or settings.voice_voice,
            transcription_provider=(
                voice.transcription_provider or settings.voice_transcription_provider
            ),
            interruptible=settings.voice_interruptible,
            dtmf_detection=settings.voice_dtmf_detection,
            speech_model=voice.speech_model or settings.voice_speech_model,
        )


def websocket_url(url: str) -> str:
    """The WebSocket form of an HTTP URL: ``https://`` → ``wss://``, ``http://`` → ``ws://``."""
    if url.startswith("https://"):
        return "wss://" + url.removeprefix("https://")
    return "ws://" + url.removeprefix("http://")


def relay_url(public_base_url: str) -> str:
    """``wss://host/twilio/relay`` for an ``https://`` base (``ws://`` for ``http://``)."""
    return websocket_url(public_base_url.rstrip("/") + RELAY_PATH)


def hangup_twiml() -> str:
    """``<Response><Hangup/></Response>``."""
    response = VoiceResponse()
    response.hangup()
    return str(response)


def connect_relay_twiml(
    public_base_url: str, options: VoiceOptions, parameters: Mapping[str, str] | None = None
) -> str:
    """``<Response><Connect action=…><ConversationRelay url=… …/></Connect></Response>``.

    The same document answers an incoming call and places an outbound one (Calls API
    ``Twiml`` parameter). ``parameters`` become ``<Parameter name value/>`` children of
    ``<ConversationRelay>``; Twilio hands them back in the socket's ``setup`` message as
    ``customParameters`` (an outbound call's ``purpose``, say).
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
    relay = connect.conversation_relay(
        url=relay_url(public_base_url), **{k: v for k, v in attributes.items() if v is not None}
    )
    for name, value in (parameters or {}).items():
        relay.parameter(name=name, value=value)
    return str(response)


def enqueue_twiml(workflow_sid: str, task_attributes: str) -> str:
    """``<Response><Enqueue workflowSid=…><Task>{attributes}</Task></Enqueue></Response>``.

    A handed-off call goes into the TaskRouter workflow (Flex) with the handoff package as
    the task's attributes (a JSON string).
    """
    response = VoiceResponse()
    enqueue = response.enqueue(workflow_sid=workflow_sid)
    enqueue.task(task_attributes)
    return str(response)


def say_and_hang_up_twiml(text: str) -> str:
    """``<Response><Say>text</Say><Hangup/></Response>``."""
    response = VoiceResponse()
    response.say(text)
    response.hangup()
    return str(response)
