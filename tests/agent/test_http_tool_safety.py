"""HTTP tools against a real loopback server: what the model can and cannot make them do.

Path placeholders stay one path segment, tool servers cannot carry cookies from one
customer's call to another's, a huge response is read only up to a byte cap, and the
runtime (never the model) says whose call it is.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import ValidationError
from temporalio.testing import ActivityEnvironment

from activities.tools import MAX_RESULT_CHARS, ToolActivities
from switchboard.agent import (
    Agent,
    HttpTool,
    ToolContext,
    ToolError,
    load_tools_file,
    tool_http_client,
)
from switchboard.agent.builtins import InvalidToolArguments
from switchboard.agent.http_body import MAX_RESPONSE_BYTES
from switchboard.contract.addresses import Channel
from switchboard.contract.tools import ToolInvocation
from tests.support.server import serve

ADA = "+14155550100"
BOB = "+14155550199"
CHUNK = b"x" * 65536


@dataclass
class Seen:
    """What the tool server received, and how much of its endless bodies it sent."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    sent: int = 0


def api(seen: Seen) -> FastAPI:
    app = FastAPI()

    async def endless(status: int = 200) -> AsyncIterator[bytes]:
        while True:
            seen.sent += len(CHUNK)
            yield CHUNK
            await asyncio.sleep(0)

    @app.get("/login")
    async def login() -> Response:
        response = JSONResponse({"hello": "you"})
        response.set_cookie("session", "set-during-the-first-call", path="/")
        return response

    @app.get("/huge")
    async def huge() -> Response:
        return StreamingResponse(endless(), media_type="text/plain")

    @app.get("/huge-error")
    async def huge_error() -> Response:
        return StreamingResponse(endless(), status_code=500, media_type="text/plain")

    @app.get("/big-json")
    async def big_json() -> Response:
        return JSONResponse({"rows": ["row"] * 200_000})

    @app.get("/bomb")
    async def bomb() -> Response:
        # Sent compressed whatever the request accepted: ~20 KB on the wire, 20 MB inflated.
        body = gzip.compress(b"0" * 20_000_000)
        return Response(body, media_type="text/plain", headers={"content-encoding": "gzip"})

    @app.api_route("/{rest:path}", methods=["GET", "POST"])
    async def anything(request: Request) -> Response:
        seen.requests.append(
            {
                "raw_path": request.scope["raw_path"].decode(),
                "path": request.scope["path"],
                "query": list(request.query_params.multi_items()),
                "cookie": request.headers.get("cookie"),
                "x-customer": request.headers.get("x-customer"),
                "accept-encoding": request.headers.get("accept-encoding"),
            }
        )
        return JSONResponse({"ok": True})

    return app


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, Seen]]:
    seen = Seen()
    async with serve(api(seen)) as url:
        yield url, seen


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with tool_http_client() as client:
        yield client


def context(http: httpx.AsyncClient, customer: str = ADA) -> ToolContext:
    return ToolContext(
        conversation_id=f"conv-{customer}",
        customer=customer,
        channel=Channel.SMS,
        call_id="call_1",
        http=http,
    )


def invocation(name: str, arguments: str, customer: str = ADA) -> ToolInvocation:
    return ToolInvocation(
        name=name,
        arguments=arguments,
        call_id="call_1",
        conversation_id=f"conv-{customer}",
        customer=customer,
        channel=Channel.SMS,
    )


def orders_tool(base: str) -> HttpTool:
    return HttpTool(
        name="customer_orders",
        description="A customer's orders.",
        url=f"{base}/customers/{{cid}}/orders?day={{day}}",
        parameters={
            "type": "object",
            "required": ["cid", "day"],
            "properties": {"cid": {"type": "string"}, "day": {"type": "string"}},
        },
    )


# --- path placeholders stay one segment ------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "..",
        ".",
        "%2e%2e",
        "%2E%2e",
        ".%2e",
        "%2e",
        "%252e%252e",  # encoded twice: a server that decodes twice would walk up
        "a/b",
        "../admin",
        "a\\b",
        "%2f",
        "%5C",
        "\uff0e\uff0e",  # fullwidth full stops: NFKC makes them ".."
        "a\uff0fb",  # a fullwidth solidus
        "",
    ],
)
async def test_dot_segments_and_separators_in_path_values_are_refused(
    server: tuple[str, Seen], http: httpx.AsyncClient, value: str
) -> None:
    base, seen = server
    activities = ToolActivities(Agent(name="t", instructions="x", tools=[orders_tool(base)]), http)
    arguments = json.dumps({"cid": value, "day": "2026-11-20"})
    result = await ActivityEnvironment().run(
        activities.run_tool, invocation("customer_orders", arguments)
    )
    assert result.ok is False
    assert result.content.startswith("Error: customer_orders: cid: ")
    assert "one path segment" in result.content
    assert seen.requests == []  # no request was made


async def test_path_values_are_sent_as_one_escaped_segment(
    server: tuple[str, Seen], http: httpx.AsyncClient
) -> None:
    base, seen = server
    call = orders_tool(base).bind('{"cid": "A 1+2?#...é", "day": "2026/11/20"}')
    assert await call(context(http)) == '{"ok":true}'
    (request,) = seen.requests
    assert request["raw_path"] == "/customers/A%201%2B2%3F%23...%C3%A9/orders"
    assert request["path"] == "/customers/A 1+2?#...é/orders"
    # Outside the path a separator is just a character.
    assert request["query"] == [("day", "2026/11/20")]


def test_the_check_is_made_before_anything_is_sent() -> None:
    tool = orders_tool("http://127.0.0.1:9")
    with pytest.raises(InvalidToolArguments, match="one path segment"):
        tool.bind('{"cid": "..", "day": "today"}')


# --- no cookie jar ---------------------------------------------------------------------


async def test_a_cookie_set_during_one_customers_call_never_reaches_anothers(
    server: tuple[str, Seen], http: httpx.AsyncClient
) -> None:
    base, seen = server
    login = HttpTool(name="login", description="Log in.", url=f"{base}/login")
    echo = HttpTool(name="echo", description="Echo.", url=f"{base}/echo")
    activities = ToolActivities(Agent(name="t", instructions="x", tools=[login, echo]), http)
    env = ActivityEnvironment()
    first = await env.run(activities.run_tool, invocation("login", "{}", customer=ADA))
    assert first.ok  # and the server answered with Set-Cookie
    await env.run(activities.run_tool, invocation("echo", "{}", customer=BOB))
    await env.run(activities.run_tool, invocation("echo", "{}", customer=ADA))
    assert [r["cookie"] for r in seen.requests] == [None, None]
    assert len(http.cookies.jar) == 0


async def test_the_jar_refuses_cookies_set_by_hand(http: httpx.AsyncClient) -> None:
    # A Python tool gets the same client in its context: it cannot store one either.
    http.cookies.set("session", "by-hand")
    http.cookies.update({"other": "1"})
    assert len(http.cookies.jar) == 0 and dict(http.cookies) == {}
    http.cookies = {"replaced": "the-jar"}  # would install an ordinary jar on a plain client
    http.cookies.set("session", "by-hand")
    assert len(http.cookies.jar) == 0 and dict(http.cookies) == {}


def test_tool_activities_refuse_a_client_that_keeps_cookies() -> None:
    agent = Agent(name="t", instructions="x")
    with pytest.raises(ValueError, match="cookie"):
        ToolActivities(agent, httpx.AsyncClient())


# --- a byte cap on the response --------------------------------------------------------


async def test_an_endless_response_is_cut_at_the_byte_cap(
    server: tuple[str, Seen], http: httpx.AsyncClient
) -> None:
    base, seen = server
    huge = HttpTool(name="huge", description="Huge.", url=f"{base}/huge", timeout=10)
    loop = asyncio.get_running_loop()
    started = loop.time()
    text = await huge.bind("{}")(context(http))
    assert loop.time() - started < 5  # not the tool's timeout: it stopped reading
    assert isinstance(text, str)
    assert len(text) <= MAX_RESULT_CHARS
    assert text.endswith(f"[cut: the response is longer than {MAX_RESPONSE_BYTES:,} bytes]")
    assert text.startswith("xxxx")
    # The connection was closed: the server stops sending soon after (far short of endless).
    stopped = -1
    for _ in range(50):
        if seen.sent == stopped:
            break
        stopped = seen.sent
        await asyncio.sleep(0.2)
    assert seen.sent == stopped
    assert stopped < 64 * 1024 * 1024


async def test_a_large_json_response_is_cut_without_reading_it_all(
    server: tuple[str, Seen], http: httpx.AsyncClient
) -> None:
    base, _ = server
    big = HttpTool(name="big", description="Big.", url=f"{base}/big-json")
    text = await big.bind("{}")(context(http))
    assert isinstance(text, str) and len(text) <= MAX_RESULT_CHARS
    assert text.startswith('{"rows":["row","row"')
    assert "[cut: the response is longer than" in text


async def test_an_endless_error_body_is_cut_too(
    server: tuple[str, Seen], http: httpx.AsyncClient
) -> None:
    base, _ = server
    broken = HttpTool(name="broken", description="Broken.", url=f"{base}/huge-error", timeout=10)
    with pytest.raises(ToolError) as info:
        await asyncio.wait_for(broken.bind("{}")(context(http)), timeout=5)
    assert str(info.value).startswith("HTTP 500: xxxx")
    assert len(str(info.value)) < 400


async def test_compressed_bodies_are_capped_after_inflating(
    server: tuple[str, Seen], http: httpx.AsyncClient
) -> None:
    base, seen = server
    bomb = HttpTool(name="bomb", description="Bomb.", url=f"{base}/bomb")
    text = await bomb.bind("{}")(context(http))
    assert isinstance(text, str) and text.startswith("0000") and len(text) <= MAX_RESULT_CHARS
    assert "[cut: the response is longer than" in text
    # And the tool asks for an uncompressed body in the first place.
    echo = HttpTool(name="echo", description="Echo.", url=f"{base}/echo")
    await echo.bind("{}")(context(http))
    assert seen.requests[-1]["accept-encoding"] == "identity"


# --- the runtime says whose call it is -------------------------------------------------


async def test_customer_placeholder_and_header_are_filled_by_the_runtime(
    server: tuple[str, Seen], http: httpx.AsyncClient
) -> None:
    base, seen = server
    scoped = HttpTool(
        name="my_orders",
        description="The caller's orders.",
        url=f"{base}/customers/{{customer}}/orders/{{order_id}}?by={{customer}}",
        customer_header="X-Customer",
        parameters={
            "type": "object",
            "required": ["order_id"],
            "properties": {"order_id": {"type": "string"}},
        },
    )
    properties = scoped.schema()["function"]["parameters"]["properties"]
    assert list(properties) == ["order_id"]  # the model is never offered it
    assert await scoped.bind('{"order_id": "A1"}')(context(http, BOB)) == '{"ok":true}'
    (request,) = seen.requests
    assert request["raw_path"] == "/customers/%2B14155550199/orders/A1"
    assert request["query"] == [("by", BOB)]
    assert request["x-customer"] == BOB


@pytest.mark.parametrize("additional", [False, True])
async def test_the_model_cannot_pass_a_customer(
    server: tuple[str, Seen], http: httpx.AsyncClient, additional: bool
) -> None:
    base, seen = server
    scoped = HttpTool(
        name="my_orders",
        description="The caller's orders.",
        url=f"{base}/customers/{{customer}}/orders",
        customer_header="X-Customer",
        parameters={"type": "object", "properties": {}, "additionalProperties": additional},
    )
    activities = ToolActivities(Agent(name="t", instructions="x", tools=[scoped]), http)
    result = await ActivityEnvironment().run(
        activities.run_tool, invocation("my_orders", f'{{"customer": "{ADA}"}}', customer=BOB)
    )
    assert result.ok is False and "customer" in result.content
    assert seen.requests == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {
                "url": "https://x.test/{customer}",
                "parameters": {
                    "type": "object",
                    "required": ["customer"],
                    "properties": {"customer": {"type": "string"}},
                },
            },
            "reserved",
        ),
        ({"customer_header": "X-Customer", "headers": {"x-customer": "me"}}, "X-Customer"),
        ({"customer_header": "Authorization", "auth_env": "TOKEN"}, "Authorization"),
        ({"customer_header": "bad header"}, "header name"),
    ],
)
def test_customer_configuration_errors(fields: dict[str, Any], message: str) -> None:
    values = {"name": "t", "description": "d", "url": "https://x.test"} | fields
    with pytest.raises((ValidationError, ValueError), match=message):
        HttpTool(**values)


def test_customer_header_in_the_tools_file(tmp_path: Path) -> None:
    path = tmp_path / "tools.toml"
    path.write_text(
        "[[tools]]\n"
        'name = "my_orders"\n'
        'description = "The caller\'s orders."\n'
        'url = "https://api.example.com/customers/{customer}/orders"\n'
        'customer_header = "X-Customer"\n',
        encoding="utf-8",
    )
    (scoped,) = load_tools_file(path)
    assert scoped.customer_header == "X-Customer"
    assert scoped.schema()["function"]["parameters"]["properties"] == {}
