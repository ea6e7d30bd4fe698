"""Every Twilio webhook, fuzzed: no 500, and a refused request asks Temporal for nothing.

Forms are mostly signed correctly (so parsing and validation run), with realistic field
names and hostile values; some are unsigned, of another media type, or raw bytes.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from gateway.limits import FORM
from switchboard.contract.addresses import Channel
from switchboard.contract.conversation import ConversationStatus, ConversationView
from switchboard.contract.handoff import HandoffState
from tests.fuzz.strategies import (
    any_text,
    instant_text,
    json_text,
    json_value,
    nested,
    number_text,
    phone,
    short_text,
    sid,
    text,
)
from tests.support.inprocess_gateway import InProcessGateway

Fields = dict[str, st.SearchStrategy[str]]

MESSAGING: Fields = {
    "MessageSid": sid,
    "SmsMessageSid": sid,
    "AccountSid": sid,
    "MessagingServiceSid": sid,
    "From": phone,
    "To": phone,
    "Body": any_text,
    "NumMedia": number_text,
    "MediaUrl0": any_text,
    "MediaContentType0": any_text,
    "ProfileName": any_text,
    "WaId": number_text,
    "OptOutType": st.sampled_from(["STOP", "START", "HELP", "stop", ""]) | any_text,
    "ButtonPayload": any_text,
    "NumSegments": number_text,
}
STATUS: Fields = {
    "MessageSid": sid,
    "MessageStatus": st.sampled_from(
        ["queued", "sent", "delivered", "undelivered", "failed", "read"]
    )
    | any_text,
    "ErrorCode": number_text,
    "ErrorMessage": any_text,
    "To": phone,
    "From": phone,
    "ChannelPrefix": any_text,
}
VOICE: Fields = {
    "CallSid": sid,
    "AccountSid": sid,
    "From": phone,
    "To": phone,
    "Direction": st.sampled_from(["inbound", "outbound-api", "outbound-dial"]) | any_text,
    "CallStatus": st.sampled_from(["ringing", "in-progress", "completed"]) | any_text,
    "CallerName": any_text,
}
VOICE_ACTION: Fields = {
    **VOICE,
    "SessionId": sid,
    "SessionStatus": st.sampled_from(["ended", "failed", "completed"]) | any_text,
    "SessionDuration": number_text,
    "ErrorCode": number_text,
    "HandoffData": json_text,
}
TASKROUTER: Fields = {
    "EventType": st.sampled_from(
        ["reservation.accepted", "task.completed", "task.canceled", "task.deleted", "task.created"]
    )
    | any_text,
    "TaskSid": sid,
    "TaskAttributes": st.one_of(
        st.builds(
            lambda customer, extra: json.dumps({"conversation_id": f"conv-{customer}", **extra}),
            phone,
            st.dictionaries(short_text, json_value, max_size=3),
        ),
        json_text,
    ),
    "WorkerName": any_text,
    "TaskDateCreated": instant_text,
    "Timestamp": instant_text,
    "TaskAge": number_text,
}
ROUTES: dict[str, Fields] = {
    "/twilio/messaging": MESSAGING,
    "/twilio/messaging/status": STATUS,
    "/twilio/voice": VOICE,
    "/twilio/voice/action": VOICE_ACTION,
    "/twilio/taskrouter": TASKROUTER,
}
ANSWERS = {200, 204, 400, 403, 413, 415, 503}
"""Every status a Twilio webhook may get: 503 only when Temporal is needed (down here)."""


def form_for(path: str) -> st.SearchStrategy[list[tuple[str, str]]]:
    """A form for ``path``: some of its fields, the odd stranger, a repeated field at times."""
    fields = ROUTES[path]
    known = st.lists(
        st.sampled_from(sorted(fields)).flatmap(
            lambda name: st.tuples(st.just(name), fields[name])
        ),
        max_size=len(fields) + 2,
    )
    strangers = st.lists(st.tuples(short_text, text), max_size=2)
    return st.builds(lambda a, b: a + b, known, strangers)


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    """A request to one of the Twilio routes: its path, body, headers and how it was made."""
    path = draw(st.sampled_from(sorted(ROUTES)))
    kind = draw(st.sampled_from(["form", "form", "form", "raw", "wrong_type"]))
    if kind == "raw":
        body = draw(st.binary(max_size=300))
        pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    else:
        pairs = draw(form_for(path))
        body = urlencode(pairs).encode()
    content_type = FORM
    if kind == "wrong_type":
        content_type = draw(
            st.sampled_from(["application/json", "text/plain", "multipart/form-data", "x/y"])
        )
    elif draw(st.booleans()):
        content_type = f"{FORM}; charset=UTF-8"
    signed = draw(st.sampled_from([True, True, True, False]))
    headers = {"content-type": content_type}
    return {"path": path, "body": body, "pairs": pairs, "headers": headers, "signed": signed,
            "kind": kind}  # fmt: skip


def open_handoff(workflow_id: str) -> ConversationView:
    """A conversation whose handoff awaits its task (so TaskRouter's times are read)."""
    return ConversationView(
        id=workflow_id,
        customer=workflow_id.removeprefix("conv-"),
        status=ConversationStatus.HANDOFF_PENDING,
        channels=[Channel.SMS],
        active_channel=Channel.SMS,
        turn=1,
        opted_out=False,
        last_activity=None,
        transcript=[],
        delivery_failures=[],
        handoff=HandoffState(
            seq=1, reason="asked", source="agent", requested_at=datetime(2026, 1, 1, tzinfo=UTC)
        ),
    )


def test_every_twilio_webhook_is_fuzzed(gw: InProcessGateway) -> None:
    paths = gw.app.openapi()["paths"]
    posted = {path for path, ops in paths.items() if path.startswith("/twilio/") and "post" in ops}
    assert posted == set(ROUTES), "a new Twilio webhook: give it its fields here"


@pytest.mark.parametrize("handoff_open", [False, True])
@given(request=requests())
async def test_twilio_webhooks_never_fail_and_refusals_change_nothing(
    gw: InProcessGateway, handoff_open: bool, request: dict[str, Any]
) -> None:
    gw.recorder.clear()
    gw.recorder.queries = {"describe": open_handoff} if handoff_open else {}
    headers = dict(request["headers"])
    if request["signed"]:
        headers["x-twilio-signature"] = gw.sign(request["path"], request["pairs"])
    answer = await gw.http.post(request["path"], content=request["body"], headers=headers)
    status = answer.status_code
    event(f"{request['path']} answered {status}")
    assert status in ANSWERS, (status, answer.text[:300])
    if request["kind"] == "wrong_type":
        assert status == 415
    if not request["signed"]:
        assert status in (403, 413, 415)
    if 400 <= status < 500:  # refused: nothing was even asked of Temporal
        assert gw.recorder.writes() == [], gw.recorder.writes()


@pytest.mark.parametrize(
    ("path", "form", "status"),
    [
        ("/twilio/voice/action", {"CallSid": "CA1", "From": "+14155550100"}, 200),
        ("/twilio/taskrouter", {"EventType": "task.completed", "TaskSid": "WT1"}, 204),
    ],
)
async def test_json_nested_past_the_parser_is_no_crash(
    gw: InProcessGateway, path: str, form: dict[str, str], status: int
) -> None:
    # Found by fuzzing: json.loads raises RecursionError (not ValueError) past ~1,000 levels.
    field = "HandoffData" if path.endswith("action") else "TaskAttributes"
    form = {**form, field: nested(5000)}
    answer = await gw.http.post(
        path, data=form, headers={"x-twilio-signature": gw.sign(path, form)}
    )
    assert answer.status_code == status
