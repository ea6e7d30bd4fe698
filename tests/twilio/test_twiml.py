"""TwiML that connects a call to the relay."""

from __future__ import annotations

from xml.etree import ElementTree

from switchboard.twilio.twiml import VoiceOptions, connect_relay_twiml, relay_url


def test_relay_url_follows_the_public_scheme() -> None:
    assert relay_url("https://abc.ngrok.app/") == "wss://abc.ngrok.app/twilio/relay"
    assert relay_url("http://localhost:8000") == "ws://localhost:8000/twilio/relay"


def test_connect_conversation_relay_document() -> None:
    options = VoiceOptions(welcome_greeting="Hi & welcome", tts_provider="ElevenLabs",
                           voice="UgBBYS2sOqTuMpoF3BR0")  # fmt: skip
    xml = connect_relay_twiml("https://abc.ngrok.app", options)
    root = ElementTree.fromstring(xml)
    connect = root.find("Connect")
    assert connect is not None
    assert connect.get("action") == "https://abc.ngrok.app/twilio/voice/action"
    relay = connect.find("ConversationRelay")
    assert relay is not None
    assert relay.attrib == {
        "url": "wss://abc.ngrok.app/twilio/relay",
        "welcomeGreeting": "Hi & welcome",
        "language": "en-US",
        "ttsProvider": "ElevenLabs",
        "voice": "UgBBYS2sOqTuMpoF3BR0",
        "interruptible": "any",
        "dtmfDetection": "true",
    }
    assert "&amp;" in xml  # escaped on the wire
