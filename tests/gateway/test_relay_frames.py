"""ConversationRelay frames: the docs' samples parse, anything else is skipped."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from gateway.voice.frames import (
    DtmfFrame,
    EndFrame,
    InfoFrame,
    InterruptFrame,
    LanguageFrame,
    PromptFrame,
    SendDigitsFrame,
    SetupFrame,
    TextFrame,
    dump_frame,
    parse_frame,
)

SETUP = (
    '{"type":"setup","sessionId":"VX00000000000000000000000000000000",'
    '"accountSid":"ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX","parentCallSid":"",'
    '"callSid":"CA00000000000000000000000000000000","from":"+18005550100","to":"+18005550101",'
    '"forwardedFrom":"+18005550102","callType":"PSTN","callerName":"","direction":"inbound",'
    '"callStatus":"RINGING","customParameters":{"callReference":"bar"}}'
)


def test_setup() -> None:
    frame = parse_frame(SETUP)
    assert isinstance(frame, SetupFrame)
    assert frame.call_sid == "CA00000000000000000000000000000000"
    assert frame.caller == "+18005550100"
    assert frame.custom_parameters == {"callReference": "bar"}


def test_outbound_call_caller_is_the_callee() -> None:
    frame = parse_frame(SETUP.replace('"inbound"', '"OUTBOUND"'))
    assert isinstance(frame, SetupFrame) and frame.caller == "+18005550101"


def test_prompt_dtmf_info() -> None:
    prompt = parse_frame(
        '{"type":"prompt","voicePrompt":"Hi! Can you tell me about life?","lang":"en-US",'
        '"last":true}'
    )
    assert prompt == PromptFrame(type="prompt", voice_prompt="Hi! Can you tell me about life?",
                                 lang="en-US", last=True)  # fmt: skip
    partial = parse_frame('{"type":"prompt","voicePrompt":"Hi","last":false}')
    assert isinstance(partial, PromptFrame) and not partial.last
    assert parse_frame('{"type":"dtmf","digit":"1"}') == DtmfFrame(type="dtmf", digit="1")
    info = parse_frame('{"type":"info","name":"agentSpeaking","value":"on","ts":1752091234567}')
    assert isinstance(info, InfoFrame) and info.value == "on"


@pytest.mark.parametrize("duration", ["460", "460.0x", 460])
def test_interrupt_duration_as_number_or_string(duration: object) -> None:
    raw = json.dumps({"type": "interrupt", "utteranceUntilInterrupt": "Life is a complex set of",
                      "durationUntilInterruptMs": duration})  # fmt: skip
    frame = parse_frame(raw)
    assert isinstance(frame, InterruptFrame)
    assert frame.utterance_until_interrupt == "Life is a complex set of"
    assert frame.duration_until_interrupt_ms == (None if duration == "460.0x" else 460)


@pytest.mark.parametrize(
    "raw",
    ["not json", "{}", '{"type":"mystery"}', '{"voicePrompt":"no type"}', '{"type":"dtmf"}',
     '{"type":"prompt"}', "[]", ""],
)  # fmt: skip
def test_malformed_or_unknown_frames_are_skipped(raw: str) -> None:
    assert parse_frame(raw) is None


def test_outbound_frames_serialise_like_the_docs() -> None:
    assert json.loads(dump_frame(TextFrame(token="Hello ", last=False))) == {
        "type": "text", "token": "Hello ", "last": False,
    }  # fmt: skip
    assert json.loads(dump_frame(TextFrame(token="", last=True))) == {
        "type": "text", "token": "", "last": True,
    }  # fmt: skip
    assert json.loads(dump_frame(SendDigitsFrame(digits="9www4085551212"))) == {
        "type": "sendDigits", "digits": "9www4085551212",
    }  # fmt: skip
    assert json.loads(
        dump_frame(LanguageFrame(tts_language="sv-SE", transcription_language="en-US"))
    ) == {"type": "language", "ttsLanguage": "sv-SE", "transcriptionLanguage": "en-US"}
    handoff = json.dumps({"reason": "caller asked"})
    assert json.loads(dump_frame(EndFrame(handoff_data=handoff))) == {
        "type": "end", "handoffData": handoff,
    }  # fmt: skip


def test_send_digits_refuses_other_characters() -> None:
    with pytest.raises(ValidationError):
        SendDigitsFrame(digits="12x")


@pytest.mark.parametrize("digit", ["", "12", "x", "☎", None])
def test_dtmf_with_anything_but_one_key_is_skipped(digit: object) -> None:
    assert parse_frame(json.dumps({"type": "dtmf", "digit": digit})) is None
