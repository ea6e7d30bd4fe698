"""The parts of a relay session that need no Temporal: keypad, frame writer, call actions."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from gateway.voice import call_actions, keypad
from gateway.voice.call_actions import CallActions
from gateway.voice.frames import (
    FrameWriter,
    InfoFrame,
    SetupFrame,
    TextFrame,
    dump_frame,
    parse_frame,
    text_json,
)
from gateway.voice.keypad import KeypadBuffer
from switchboard.contract.voice import VoiceAction


class FakeSocket:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send_text(self, data: str) -> None:
        self.sent.append(data)

    def frames(self) -> list[dict[str, object]]:
        return [json.loads(s) for s in self.sent]


class Reply:
    def __init__(self, text: str) -> None:
        self.text = text
        self.last_token_at = time.monotonic()


def _setup(direction: str) -> SetupFrame:
    frame = parse_frame(
        json.dumps({"type": "setup", "sessionId": "VX1", "callSid": "CA1",
                    "from": "+18005550100", "to": "+18005550101", "direction": direction})
    )  # fmt: skip
    assert isinstance(frame, SetupFrame)
    return frame


def test_setup_knows_both_numbers_either_way() -> None:
    inbound, outbound = _setup("inbound"), _setup("outbound-api")
    assert (inbound.caller, inbound.business_number) == ("+18005550100", "+18005550101")
    assert (outbound.caller, outbound.business_number) == ("+18005550101", "+18005550100")
    assert outbound.outbound and not inbound.outbound


@pytest.mark.parametrize("token", ["Hello ", "", "naïve “quotes” \\ \n"])
@pytest.mark.parametrize("last", [True, False])
def test_text_json_is_the_text_frame(token: str, last: bool) -> None:
    made = json.loads(text_json(token, last=last))
    assert made == json.loads(dump_frame(TextFrame(token=token, last=last)))


async def test_writer_drops_frames_once_closed_and_say_never_raises() -> None:
    socket = FakeSocket()
    writer = FrameWriter(socket)
    await writer.say("hello")
    writer.close()
    await writer.send(text_json("late"))
    await writer.say("later")
    assert socket.frames() == [{"type": "text", "token": "hello", "last": True}]

    class BrokenSocket:
        async def send_text(self, data: str) -> None:
            raise RuntimeError("gone")

    await FrameWriter(BrokenSocket()).say("nobody hears this")


async def test_keypad_sends_on_hash_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keypad, "DTMF_QUIET_SECONDS", 60.0)
    inputs: list[str] = []
    buffer = KeypadBuffer(inputs.append)
    for digit in "12#":
        buffer.press(digit)
    assert inputs == ["12#"]
    buffer.flush()
    assert inputs == ["12#"]  # nothing left to send


async def test_keypad_sends_after_a_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keypad, "DTMF_QUIET_SECONDS", 0.05)
    inputs: list[str] = []
    buffer = KeypadBuffer(inputs.append)
    buffer.press("4")
    buffer.press("2")
    await asyncio.sleep(0.02)
    assert inputs == []
    await asyncio.sleep(0.1)
    assert inputs == ["42"]


async def test_keypad_cancel_keeps_the_keys_for_a_last_flush(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(keypad, "DTMF_QUIET_SECONDS", 0.02)
    inputs: list[str] = []
    buffer = KeypadBuffer(inputs.append)
    buffer.press("7")
    buffer.cancel()
    await asyncio.sleep(0.05)
    assert inputs == []
    buffer.flush()
    assert inputs == ["7"]


async def test_call_actions_now_in_their_frames() -> None:
    socket = FakeSocket()
    actions = CallActions(FrameWriter(socket))
    await actions.perform(
        [
            VoiceAction(kind="language", language="fr-FR"),
            VoiceAction(kind="send_digits", digits="1w2"),
            VoiceAction(kind="end", handoff_data='{"reason": "x"}'),
        ]
    )
    assert socket.frames() == [
        {"type": "language", "ttsLanguage": "fr-FR", "transcriptionLanguage": "fr-FR"},
        {"type": "sendDigits", "digits": "1w2"},
        {"type": "end", "handoffData": '{"reason": "x"}'},
    ]


async def test_call_actions_wait_for_the_reply_to_be_heard(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(call_actions, "SPEECH_CHARS_PER_SECOND", 1000.0)
    socket = FakeSocket()
    actions = CallActions(FrameWriter(socket))
    actions.on_info(InfoFrame(type="info", name="agentSpeaking", value="on"))
    reply = Reply("Goodbye!")
    actions.after_speech(reply, [VoiceAction(kind="say", text=" Bye."), VoiceAction(kind="end")])
    await asyncio.sleep(0.05)
    assert socket.frames() == [{"type": "text", "token": " Bye.", "last": True}]
    assert reply.text == "Goodbye! Bye."  # what the workflow said is part of the reply
    actions.on_info(InfoFrame(type="info", name="agentSpeaking", value="off"))
    await asyncio.sleep(0.05)
    assert socket.frames()[-1] == {"type": "end"}


async def test_interrupted_actions_are_dropped() -> None:
    socket = FakeSocket()
    actions = CallActions(FrameWriter(socket))
    actions.after_speech(Reply("A long answer " * 20), [VoiceAction(kind="end")])
    await asyncio.sleep(0.01)
    actions.cancel_pending()
    await asyncio.sleep(0.01)
    assert socket.sent == []
