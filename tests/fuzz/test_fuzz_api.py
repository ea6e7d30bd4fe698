"""Every operator API route that takes a body, fuzzed: no 500, and a refusal changes nothing.

The routes come from the app's own OpenAPI description, so a new one is fuzzed the day it
is added: with JSON of any shape, malformed JSON, another media type or no body, with the
key, a wrong one or none. The routes whose bodies are known get plausible bodies too.
"""

from __future__ import annotations

import json
import string
from typing import Any
from urllib.parse import quote

from hypothesis import event, given
from hypothesis import strategies as st

from tests.fuzz.strategies import any_text, json_value, malformed_json, phone, short_text, text
from tests.support.inprocess_gateway import AUTH, InProcessGateway

BODIES: dict[str, st.SearchStrategy[Any]] = {
    "/api/conversations": st.fixed_dictionaries(
        {"to": phone, "channel": st.sampled_from(["sms", "whatsapp", "voice"]) | any_text},
        optional={
            "text": any_text,
            "purpose": any_text,
            "template_sid": st.just("HX" + "a" * 32) | any_text,
            "template_variables": st.dictionaries(short_text, short_text, max_size=3) | json_value,
            "surprise": json_value,
        },
    ),
    "/api/conversations/{conversation}/messages": st.fixed_dictionaries(
        {"text": any_text}, optional={"author": any_text | json_value}
    ),
    "/api/conversations/{conversation}/handoff": st.fixed_dictionaries(
        {}, optional={"reason": any_text | json_value}
    ),
    "/api/conversations/{conversation}/close": st.fixed_dictionaries(
        {}, optional={"reason": any_text | json_value}
    ),
    "/api/knowledge": st.fixed_dictionaries(
        {"name": any_text, "content": any_text},
        optional={
            "content_type": st.sampled_from(["text/markdown", "text/plain", "text/html"]) | any_text
        },
    ),
}
PARAMETERS: dict[str, st.SearchStrategy[str]] = {
    "conversation": st.one_of(phone.map(lambda number: f"conv-{number}"), phone, text),
}
REFUSED = {400, 401, 403, 404, 405, 409, 413, 415, 422}
"""Answers that say the request was not acted on."""
ANSWERS = REFUSED | {200, 202, 503}
"""Every status an operator request may get: 503 only when Temporal is needed (down here)."""


def body_routes(gw: InProcessGateway) -> list[tuple[str, str]]:
    """Every ``/api`` operation that takes a body (method, path template), from OpenAPI."""
    paths = gw.app.openapi()["paths"]
    return sorted(
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith("/api/")
        for method, operation in operations.items()
        if "requestBody" in operation
    )


def test_the_known_bodies_are_routes_that_take_one(gw: InProcessGateway) -> None:
    assert set(BODIES) <= {path for _, path in body_routes(gw)}


@st.composite
def requests(draw: st.DrawFn, routes: list[tuple[str, str]]) -> dict[str, Any]:
    """A request to one of ``routes``: method, URL, body, headers, and how it was made."""
    method, template = draw(st.sampled_from(routes))
    url = template
    for name, values in PARAMETERS.items():
        if "{" + name + "}" in url:
            url = url.replace("{" + name + "}", quote(draw(values), safe=""))
    kinds = ["plausible", "any_json", "malformed", "wrong_type", "empty"]
    kind = draw(st.sampled_from(kinds if template in BODIES else kinds[1:]))
    content_type = "application/json"
    if kind == "plausible":
        body = json.dumps(draw(BODIES[template])).encode()
    elif kind == "any_json":
        body = json.dumps(draw(json_value)).encode()
    elif kind == "malformed":
        body = draw(malformed_json).encode()
    elif kind == "wrong_type":
        body = json.dumps(draw(json_value)).encode()
        content_type = draw(st.sampled_from(["text/plain", "application/x-www-form-urlencoded"]))
    else:
        body = b""
    auth = draw(st.sampled_from(["key", "key", "key", "none", "wrong"]))
    headers = {"content-type": content_type}
    if auth == "key":
        headers.update(AUTH)
    elif auth == "wrong":
        headers["authorization"] = draw(st.sampled_from(["Bearer ", "Basic ", "", "bearer  "]))
        headers["authorization"] += draw(st.text(string.ascii_letters + string.digits + "-_.=/+"))
    return {"method": method, "template": template, "url": url, "body": body,
            "headers": headers, "kind": kind, "auth": auth}  # fmt: skip


@given(data=st.data())
async def test_operator_bodies_never_fail_and_refusals_change_nothing(
    gw: InProcessGateway, data: st.DataObject
) -> None:
    request = data.draw(requests(body_routes(gw)))
    gw.recorder.clear()
    store = gw.app.state.store
    documents = list(await store.documents())
    answer = await gw.http.request(
        request["method"], request["url"], content=request["body"], headers=request["headers"]
    )
    status = answer.status_code
    event(f"{request['template']} {request['kind']}: {status}")
    assert status in ANSWERS, (status, answer.text[:300])
    if request["kind"] == "wrong_type" and request["body"]:
        assert status == 415
    elif request["auth"] != "key":  # FastAPI reads a body before the auth dependency: 422 too
        assert status in REFUSED, answer.text[:300]
    if status in REFUSED:
        assert gw.recorder.writes() == [], gw.recorder.writes()
    if status != 200:
        assert list(await store.documents()) == documents
