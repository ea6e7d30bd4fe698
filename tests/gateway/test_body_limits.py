"""Bodies are capped and typed before anything reads them; relay sockets are counted.

In this process: the middleware alone on a small app that parses forms (how much of a body
it was given), then the real gateway on a Temporal client that records every attempt
(``tests.support.inprocess_gateway``): a refused body never reaches a route, its auth or
Temporal. The same attacks over real sockets are in ``tests/security/test_body_limits.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import Message

from gateway.limits import (
    FORM,
    KNOWLEDGE_DOCUMENTS,
    MIB,
    OPERATOR_JSON,
    OTHER_BODIES,
    TASKROUTER_EVENTS,
    TWILIO_FORMS,
    BodyLimits,
    media_type,
    rule_for,
)
from gateway.voice.calls import RelaySlots
from tests.support.inprocess_gateway import AUTH, InProcessGateway, in_process_gateway


@pytest.fixture(scope="module")
async def gateway(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[InProcessGateway]:
    async with in_process_gateway(tmp_path_factory.mktemp("limits")) as running:
        yield running


@pytest.fixture
def gw(gateway: InProcessGateway) -> InProcessGateway:
    """The module's gateway, with nothing recorded yet."""
    gateway.recorder.clear()
    return gateway


@pytest.mark.parametrize(
    ("path", "rule"),
    [
        ("/twilio/messaging", TWILIO_FORMS),
        ("/twilio/voice/action", TWILIO_FORMS),
        ("/twilio/taskrouter", TASKROUTER_EVENTS),
        ("/twilio/taskrouter/", TASKROUTER_EVENTS),
        ("/api/knowledge", KNOWLEDGE_DOCUMENTS),
        ("/api/knowledge/search", OPERATOR_JSON),
        ("/api/conversations/conv-+14155550100/messages", OPERATOR_JSON),
        ("/sandbox/twilio/2010-04-01/Accounts/AC1/Messages.json", OTHER_BODIES),
        ("/healthz", OTHER_BODIES),
    ],
)
def test_each_path_has_its_rule(path: str, rule: object) -> None:
    assert rule_for(path) is rule


def test_media_type_ignores_parameters_and_case() -> None:
    assert media_type("Application/JSON; charset=UTF-8") == "application/json"
    assert media_type(None) == media_type("") == ""


# --- the middleware alone ------------------------------------------------------------------


class Spy:
    """A small app behind ``BodyLimits`` that parses a form, and what it was given."""

    def __init__(self) -> None:
        self.bytes_read = 0
        self.called = False

        async def form(request: Request) -> PlainTextResponse:
            self.called = True
            async for chunk in request.stream():
                self.bytes_read += len(chunk)
            return PlainTextResponse("ok")

        self.app = BodyLimits(
            Starlette(routes=[Route("/twilio/messaging", form, methods=["POST"])])
        )


async def call(
    app: BodyLimits, headers: dict[str, str], chunks: Iterator[bytes]
) -> tuple[int, int, list[Message]]:
    """POST ``chunks`` as one streamed body; returns the status, chunks pulled, messages sent."""
    pulled = 0

    async def receive() -> Message:
        nonlocal pulled
        chunk = next(chunks, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        pulled += 1
        return {"type": "http.request", "body": chunk, "more_body": True}

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/twilio/messaging",
        "raw_path": b"/twilio/messaging",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "http_version": "1.1",
        "scheme": "http",
        "server": ("gateway", 80),
        "client": ("127.0.0.1", 5000),
        "root_path": "",
    }
    await app(scope, receive, send)
    return sent[0]["status"], pulled, sent


def endless(size: int = 16 * 1024) -> Iterator[bytes]:
    while True:
        yield b"a" * size


async def test_a_declared_length_over_the_cap_is_refused_unread() -> None:
    spy = Spy()
    headers = {"content-type": FORM, "content-length": str(180 * MIB)}
    status, pulled, sent = await call(spy.app, headers, endless())
    assert (status, pulled, spy.called) == (413, 0, False)
    assert (b"connection", b"close") in sent[0]["headers"]


async def test_a_chunked_body_is_cut_off_as_soon_as_it_goes_over() -> None:
    spy = Spy()
    headers = {"content-type": FORM, "transfer-encoding": "chunked"}
    status, pulled, sent = await call(spy.app, headers, endless(16 * 1024))
    assert status == 413
    assert pulled == TWILIO_FORMS.max_bytes // (16 * 1024) + 1  # not one chunk more
    assert spy.bytes_read <= TWILIO_FORMS.max_bytes
    assert len([m for m in sent if m["type"] == "http.response.start"]) == 1


async def test_a_chunked_body_within_the_cap_reaches_the_app_whole() -> None:
    spy = Spy()
    chunks = iter([b"a" * 1000] * 10)
    status, _, _ = await call(
        spy.app, {"content-type": FORM, "transfer-encoding": "chunked"}, chunks
    )
    assert (status, spy.bytes_read) == (200, 10_000)


@pytest.mark.parametrize("content_type", ["application/json", "multipart/form-data", "", "text/x"])
async def test_a_twilio_body_of_another_type_is_refused_unparsed(content_type: str) -> None:
    spy = Spy()
    headers = {"content-type": content_type, "content-length": "10"}
    status, pulled, _ = await call(spy.app, headers, iter([b"Body=hello"]))
    assert (status, pulled, spy.called) == (415, 0, False)


# --- the gateway: refused before auth, parsing and Temporal ---------------------------------


async def test_an_unsigned_oversized_form_is_413_not_403(gw: InProcessGateway) -> None:
    body = b"Body=" + b"a" * (TWILIO_FORMS.max_bytes + 1)
    answer = await gw.http.post("/twilio/messaging", content=body, headers={"content-type": FORM})
    assert answer.status_code == 413
    assert gw.recorder.attempts == []


async def test_an_unauthenticated_oversized_json_body_is_413_not_401(gw: InProcessGateway) -> None:
    body = b'{"text": "' + b"a" * OPERATOR_JSON.max_bytes + b'"}'
    answer = await gw.http.post(
        "/api/conversations/conv-+14155550100/messages",
        content=body,
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == 413
    assert gw.recorder.attempts == []


async def test_knowledge_takes_documents_up_to_its_own_cap(gw: InProcessGateway) -> None:
    document = {"name": "big.md", "content": "# Big\n\n" + "word " * (MIB // 5)}
    taken = await gw.http.post("/api/knowledge", json=document, headers=AUTH)
    assert taken.status_code == 200, taken.text
    document["content"] = "x" * (KNOWLEDGE_DOCUMENTS.max_bytes + 1)
    refused = await gw.http.post("/api/knowledge", json=document, headers=AUTH)
    assert refused.status_code == 413


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/twilio/messaging", "application/json"),
        ("/twilio/voice", "text/plain"),
        ("/twilio/taskrouter", "multipart/form-data; boundary=x"),
        ("/api/conversations", "application/x-www-form-urlencoded"),
        ("/api/knowledge", "text/plain"),
    ],
)
async def test_the_wrong_media_type_is_415_before_auth(
    gw: InProcessGateway, path: str, content_type: str
) -> None:
    answer = await gw.http.post(path, content=b'{"a": 1}', headers={"content-type": content_type})
    assert answer.status_code == 415
    assert gw.recorder.attempts == []


async def test_a_post_without_a_body_needs_no_content_type(gw: InProcessGateway) -> None:
    answer = await gw.http.post("/api/conversations/conv-+14155550100/resume", headers=AUTH)
    assert answer.status_code == 503  # it reached Temporal (down here): not refused as a body
    assert [a.name for a in gw.recorder.writes()] == ["resume"]


async def test_json_with_a_charset_and_forms_with_one_are_taken(gw: InProcessGateway) -> None:
    json_answer = await gw.http.post(
        "/api/conversations/conv-+14155550100/handoff",
        content=b'{"reason": "x"}',
        headers={**AUTH, "content-type": "application/json; charset=utf-8"},
    )
    assert json_answer.status_code == 503
    form = {"CallSid": "CA1", "From": "+14155550100", "To": "+15005550001"}
    form_answer = await gw.http.post(
        "/twilio/voice",
        data=form,
        headers={
            "x-twilio-signature": gw.sign("/twilio/voice", form),
            "content-type": f"{FORM}; charset=UTF-8",
        },
    )
    assert form_answer.status_code == 200
    assert "<Connect" in form_answer.text


# --- relay sockets ---------------------------------------------------------------------------


def test_slots_count_sockets() -> None:
    slots = RelaySlots(2)
    assert slots.take() and slots.take() and not slots.take()
    assert slots.full and slots.in_use == 2
    slots.give_back()
    assert not slots.full and slots.take()
    with pytest.raises(ValueError):
        RelaySlots(0)


@pytest.fixture
def full(gw: InProcessGateway) -> Iterator[RelaySlots]:
    slots: RelaySlots = gw.app.state.relay_slots
    taken = slots.limit - slots.in_use
    slots.in_use = slots.limit
    yield slots
    slots.in_use -= taken


async def test_a_socket_over_the_limit_is_refused_with_503(
    gw: InProcessGateway, full: RelaySlots
) -> None:
    sent = await gw.relay(['{"type": "setup", "sessionId": "VX1", "callSid": "CA1"}'])
    assert sent[0]["type"] == "websocket.http.response.start"
    assert sent[0]["status"] == 503
    assert not any(m["type"] == "websocket.accept" for m in sent)
    assert full.in_use == full.limit  # a refused socket holds no slot
    assert gw.recorder.attempts == []


async def test_a_socket_within_the_limit_gives_its_slot_back(gw: InProcessGateway) -> None:
    slots: RelaySlots = gw.app.state.relay_slots
    before = slots.in_use
    sent = await gw.relay(["not json"])
    assert sent[0]["type"] == "websocket.accept"
    assert slots.in_use == before


async def test_with_every_line_busy_the_voice_webhook_says_so(
    gw: InProcessGateway, full: RelaySlots
) -> None:
    call = {"CallSid": "CA2", "From": "+14155550100", "To": "+15005550001"}
    answer = await gw.http.post(
        "/twilio/voice", data=call, headers={"x-twilio-signature": gw.sign("/twilio/voice", call)}
    )
    assert answer.status_code == 200
    assert "<Hangup" in answer.text and "busy" in answer.text and "<Connect" not in answer.text
    broken = {**call, "CallStatus": "in-progress", "SessionStatus": "failed", "ErrorCode": "64105"}
    action = await gw.http.post(
        "/twilio/voice/action",
        data=broken,
        headers={"x-twilio-signature": gw.sign("/twilio/voice/action", broken)},
    )
    assert "<Hangup" in action.text and "<Connect" not in action.text
