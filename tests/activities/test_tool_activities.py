"""The ``run_tool`` activity (Python and HTTP tools, against a real loopback server), and the
model calls that offer the agent's tools."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.llm import LLMActivities
from activities.tools import (
    MAX_RESULT_CHARS,
    TOOL_FAILED,
    TOOL_TIMEOUT,
    ToolActivities,
    result_text,
)
from gateway.voice.llm_stream import ReplyStreamer
from switchboard.agent import Agent, HttpTool, ToolContext, ToolError, tool, tool_http_client
from switchboard.contract.addresses import Channel
from switchboard.contract.llm import ChatMessage, LLMRequest
from switchboard.contract.tools import ToolInvocation, ToolResult
from switchboard.contract.voice import VoiceTurnPlan
from switchboard.memory import open_store
from switchboard.runtime.config import Settings
from tests.support.fake_llm import FakeLLM, FakeReply, usage_of
from tests.support.server import free_port, serve

CUSTOMER = "+14155550100"


class Order(BaseModel):
    id: str
    status: str


@tool
async def order_status(order_id: str) -> Order:
    """Where an order is."""
    return Order(id=order_id, status="shipped")


@tool
async def whoami(ctx: ToolContext, shout: bool = False) -> str:
    """Who is asking."""
    text = f"{ctx.customer} {ctx.channel.value} {ctx.conversation_id} {ctx.call_id}"
    return text.upper() if shout else text


@tool
def store_hours(day: str | None = None) -> dict[str, str]:
    """Opening hours."""
    return {day or "every day": "9-5"}


@tool
async def nothing() -> None:
    """Does nothing."""


@tool
async def essay() -> str:
    """Too long."""
    return "x" * (MAX_RESULT_CHARS + 10)


@tool
async def flaky() -> str:
    """Fails."""
    raise RuntimeError("database is down")


@tool
async def refuses() -> str:
    """Fails for good."""
    raise ToolError("that order was cancelled", non_retryable=True)


@tool
async def struggles() -> str:
    """Fails, worth another try."""
    raise ToolError("busy, try again")


@tool(timeout=0.2)
async def sleepy() -> str:
    """Too slow."""
    await asyncio.sleep(5)
    return "late"


@tool(channels=["voice"])
async def voice_only() -> str:
    """Only on calls."""
    return "ok"


@tool
async def profile_name(ctx: ToolContext) -> str:
    """The customer's name, from memory."""
    profile = await ctx.profile()
    return str(profile.traits.get("name")) if profile else "unknown"


PYTHON_TOOLS = [
    order_status,
    whoami,
    store_hours,
    nothing,
    essay,
    flaky,
    refuses,
    struggles,
    sleepy,
    voice_only,
    profile_name,
]


def invocation(name: str, arguments: str = "{}", channel: Channel = Channel.SMS) -> ToolInvocation:
    return ToolInvocation(
        name=name,
        arguments=arguments,
        call_id="call_7",
        conversation_id=f"conv-{CUSTOMER}",
        customer=CUSTOMER,
        channel=channel,
    )


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with tool_http_client() as client:
        yield client


async def run(activities: ToolActivities, call: ToolInvocation) -> ToolResult:
    return await ActivityEnvironment().run(activities.run_tool, call)


async def failure(activities: ToolActivities, call: ToolInvocation) -> ApplicationError:
    with pytest.raises(ApplicationError) as info:
        await run(activities, call)
    return info.value


@pytest.fixture
def python_tools(http: httpx.AsyncClient) -> ToolActivities:
    return ToolActivities(Agent(name="t", instructions="x", tools=PYTHON_TOOLS), http)


# --- Python tools ----------------------------------------------------------------------


async def test_ok_results(python_tools: ToolActivities) -> None:
    result = await run(python_tools, invocation("order_status", '{"order_id": "A1"}'))
    assert result == ToolResult(content='{"id":"A1","status":"shipped"}', ok=True)
    result = await run(python_tools, invocation("store_hours", '{"day": "sunday"}'))
    assert result.content == '{"sunday":"9-5"}'  # a sync tool, in a thread
    assert (await run(python_tools, invocation("nothing"))).content == "Done."
    long = (await run(python_tools, invocation("essay"))).content
    assert long.startswith("x" * MAX_RESULT_CHARS) and long.endswith("characters in all]")


async def test_context_is_injected(python_tools: ToolActivities) -> None:
    result = await run(python_tools, invocation("whoami", '{"shout": true}', Channel.WHATSAPP))
    assert result.content == f"{CUSTOMER} WHATSAPP CONV-{CUSTOMER} CALL_7"


async def test_profile_from_memory(http: httpx.AsyncClient, tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/memory.db")
    await store.migrate()
    try:
        agent = Agent(name="t", instructions="x", tools=[profile_name])
        without = ToolActivities(agent, http)
        assert (await run(without, invocation("profile_name"))).content == "unknown"
        await store.set_trait(CUSTOMER, "name", "Ada", source="test", at=datetime.now(UTC))
        with_memory = ToolActivities(agent, http, memory=store)
        assert (await run(with_memory, invocation("profile_name"))).content == "Ada"
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("call", "content"),
    [
        (invocation("nope"), "Error: there is no tool named 'nope'"),
        (invocation("voice_only"), "Error: voice_only is not available on sms"),
        (invocation("order_status", "{}"), "Error: order_status: order_id: Field required"),
        (invocation("order_status", "{oops"), "Error: order_status: the arguments are not valid"),
        (
            invocation("order_status", '{"order_id": "A1", "x": 1}'),
            "Error: order_status: x: Extra inputs are not permitted",
        ),
    ],
)
async def test_refused_calls_are_results_not_failures(
    python_tools: ToolActivities, call: ToolInvocation, content: str
) -> None:
    result = await run(python_tools, call)
    assert not result.ok
    assert result.content.startswith(content)


async def test_tool_exceptions_are_retryable(python_tools: ToolActivities) -> None:
    error = await failure(python_tools, invocation("flaky"))
    assert (error.type, error.non_retryable) == (TOOL_FAILED, False)
    assert error.message == "RuntimeError: database is down"
    error = await failure(python_tools, invocation("struggles"))
    assert (error.type, error.non_retryable, error.message) == (
        TOOL_FAILED,
        False,
        "busy, try again",
    )


async def test_tool_error_can_be_final(python_tools: ToolActivities) -> None:
    error = await failure(python_tools, invocation("refuses"))
    assert (error.type, error.non_retryable, error.message) == (
        TOOL_FAILED,
        True,
        "that order was cancelled",
    )


async def test_slow_tool_times_out(python_tools: ToolActivities) -> None:
    started = asyncio.get_running_loop().time()
    error = await failure(python_tools, invocation("sleepy"))
    assert asyncio.get_running_loop().time() - started < 2
    assert (error.type, error.non_retryable) == (TOOL_TIMEOUT, False)
    assert error.message == "no result within 0.2s"


def test_result_text() -> None:
    assert result_text("plain") == "plain"
    assert result_text([1, {"a": datetime(2026, 1, 2, tzinfo=UTC)}]) == (
        '[1,{"a":"2026-01-02T00:00:00Z"}]'
    )
    assert result_text(object()).startswith('"<object object')  # unserialisable: its str


# --- HTTP tools, against a real server -------------------------------------------------


@dataclass
class Seen:
    requests: list[dict[str, Any]] = field(default_factory=list)


def api(seen: Seen) -> FastAPI:
    app = FastAPI()

    @app.api_route("/orders/{order_id:path}", methods=["GET", "POST"])
    async def order(order_id: str, request: Request) -> Response:
        body = await request.body()
        seen.requests.append(
            {
                "method": request.method,
                "path": order_id,
                "query": list(request.query_params.multi_items()),
                "authorization": request.headers.get("authorization"),
                "x-shop": request.headers.get("x-shop"),
                "json": await request.json() if body else None,
            }
        )
        if order_id == "missing":
            return JSONResponse({"error": "no such order"}, status_code=404)
        return JSONResponse({"order": order_id, "status": "shipped", "note": "ünïcode"})

    @app.get("/text")
    async def text() -> Response:
        return PlainTextResponse("open 9-5")

    @app.post("/empty")
    async def empty() -> Response:
        return Response(status_code=204)

    @app.get("/status/{code}")
    async def status(code: int) -> Response:
        return PlainTextResponse(f"status {code}", status_code=code)

    @app.get("/slow")
    async def slow() -> Response:
        await asyncio.sleep(3)
        return PlainTextResponse("late")

    return app


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, Seen]]:
    seen = Seen()
    async with serve(api(seen)) as url:
        yield url, seen


ORDER_PARAMS = {
    "type": "object",
    "required": ["order_id"],
    "properties": {
        "order_id": {"type": "string"},
        "fields": {"type": "array", "items": {"type": "string"}},
        "gift": {"type": "boolean"},
        "quantity": {"type": "integer"},
    },
}


def http_tools(base: str, http: httpx.AsyncClient, **extra: Any) -> ToolActivities:
    tools = [
        HttpTool(
            name="get_order",
            description="Find an order.",
            url=f"{base}/orders/{{order_id}}?lang=en",
            parameters=ORDER_PARAMS,
            headers={"X-Shop": "acme"},
            auth_env="TEST_ORDERS_TOKEN",
            **extra,
        ),
        HttpTool(
            name="post_order",
            description="Change an order.",
            url=f"{base}/orders/{{order_id}}",
            method="POST",
            parameters=ORDER_PARAMS,
            auth_env="TEST_ORDERS_KEY",
            auth_header="X-Api-Key",
            auth_scheme="",
        ),
        HttpTool(name="hours", description="Hours.", url=f"{base}/text"),
        HttpTool(name="empty", description="Empty.", url=f"{base}/empty", method="POST"),
        HttpTool(name="down", description="Down.", url=f"{base}/status/503"),
        HttpTool(name="busy", description="Busy.", url=f"{base}/status/429"),
        HttpTool(name="forbidden", description="No.", url=f"{base}/status/403"),
        HttpTool(name="slow", description="Slow.", url=f"{base}/slow", timeout=0.3),
        HttpTool(
            name="nowhere", description="Nothing listens.", url=f"http://127.0.0.1:{free_port()}/"
        ),
    ]
    return ToolActivities(Agent(name="t", instructions="x", tools=tools), http)


async def test_http_get_with_query_and_auth_from_env(
    server: tuple[str, Seen], http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, seen = server
    monkeypatch.setenv("TEST_ORDERS_TOKEN", "s3cret")
    activities = http_tools(base, http)
    arguments = '{"order_id": "A 1?2", "fields": ["status", "eta"], "gift": true, "quantity": 2}'
    result = await run(activities, invocation("get_order", arguments))
    assert result == ToolResult(
        content='{"order":"A 1?2","status":"shipped","note":"ünïcode"}', ok=True
    )
    (request,) = seen.requests
    assert request["method"] == "GET"
    assert request["path"] == "A 1?2"  # escaped into one path segment
    assert request["query"] == [
        ("lang", "en"),  # the URL's own query stays
        ("fields", "status"),
        ("fields", "eta"),
        ("gift", "true"),
        ("quantity", "2"),
    ]
    assert request["authorization"] == "Bearer s3cret"
    assert request["x-shop"] == "acme"
    assert request["json"] is None


async def test_http_post_sends_json(
    server: tuple[str, Seen], http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, seen = server
    monkeypatch.setenv("TEST_ORDERS_KEY", "k-123")
    activities = http_tools(base, http)
    arguments = '{"order_id": "A1", "gift": false, "fields": ["x"]}'
    assert (await run(activities, invocation("post_order", arguments))).ok
    (request,) = seen.requests
    assert request["method"] == "POST"
    assert request["query"] == []
    assert request["json"] == {"gift": False, "fields": ["x"]}  # the path argument is used up
    assert request["authorization"] is None


async def test_http_text_and_empty_responses(
    server: tuple[str, Seen], http: httpx.AsyncClient
) -> None:
    base, _ = server
    activities = http_tools(base, http)
    assert (await run(activities, invocation("hours"))).content == "open 9-5"
    assert (await run(activities, invocation("empty"))).content == "OK (HTTP 204, no content)"


async def test_http_missing_secret_is_final(
    server: tuple[str, Seen], http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, seen = server
    monkeypatch.delenv("TEST_ORDERS_TOKEN", raising=False)
    error = await failure(http_tools(base, http), invocation("get_order", '{"order_id": "A1"}'))
    assert (error.non_retryable, error.message) == (True, "TEST_ORDERS_TOKEN is not set")
    assert seen.requests == []


async def test_http_invalid_arguments_are_refused(
    server: tuple[str, Seen], http: httpx.AsyncClient
) -> None:
    base, seen = server
    result = await run(http_tools(base, http), invocation("get_order", '{"order_id": 5}'))
    assert result == ToolResult(
        content="Error: get_order: order_id: 5 is not of type 'string'", ok=False
    )
    assert seen.requests == []


@pytest.mark.parametrize(
    ("name", "retryable", "message"),
    [
        ("down", True, "HTTP 503: status 503"),
        ("busy", True, "HTTP 429: status 429"),
        ("forbidden", False, "HTTP 403: status 403"),
        ("nowhere", True, "could not reach the service (ConnectError)"),
    ],
)
async def test_http_failures(
    server: tuple[str, Seen], http: httpx.AsyncClient, name: str, retryable: bool, message: str
) -> None:
    base, _ = server
    error = await failure(http_tools(base, http), invocation(name))
    assert (error.type, error.non_retryable, error.message) == (TOOL_FAILED, not retryable, message)


async def test_http_4xx_body_reaches_the_message(
    server: tuple[str, Seen], http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, _ = server
    monkeypatch.setenv("TEST_ORDERS_TOKEN", "s3cret")
    error = await failure(
        http_tools(base, http), invocation("get_order", '{"order_id": "missing"}')
    )
    assert error.non_retryable
    assert error.message == 'HTTP 404: {"error":"no such order"}'
    assert "s3cret" not in error.message


async def test_http_timeout_is_retryable(server: tuple[str, Seen], http: httpx.AsyncClient) -> None:
    base, _ = server
    started = asyncio.get_running_loop().time()
    error = await failure(http_tools(base, http), invocation("slow"))
    assert asyncio.get_running_loop().time() - started < 2
    assert not error.non_retryable
    # The request's own timeout or the attempt's deadline, whichever notices first.
    assert error.type in (TOOL_FAILED, TOOL_TIMEOUT)
    assert "within 0.3s" in error.message


# --- the model calls offer the agent's tools -------------------------------------------


@pytest.fixture
async def llm() -> AsyncIterator[tuple[FakeLLM, Settings]]:
    fake = FakeLLM(api_key="sk-test")
    async with serve(fake.app) as url:
        yield fake, Settings(llm_base_url=f"{url}/v1", llm_api_key="sk-test", llm_model="base")


SHOP = Agent(
    name="shop",
    instructions="You are the assistant of Acme Outdoor.",
    model="shop-model",
    tools=[order_status, store_hours],
)


async def test_llm_activity_sends_the_agents_instructions_model_and_tools(
    llm: tuple[FakeLLM, Settings],
) -> None:
    fake, settings = llm
    activities = LLMActivities(settings, agent=SHOP)
    request = LLMRequest(
        conversation_id=f"conv-{CUSTOMER}",
        channel=Channel.SMS,
        turn=1,
        messages=[ChatMessage(role="user", content="where is A1?")],
        tools=["remember", "order_status", "end_conversation", "unknown", "store_hours"],
    )
    try:
        reply = await ActivityEnvironment().run(activities.generate_reply, request)
    finally:
        await activities.close()
    assert reply.text == "echo: where is A1?"
    (body,) = fake.requests
    assert reply.tokens == usage_of(body["messages"], FakeReply(text=reply.text))["total_tokens"]
    assert body["model"] == "shop-model"
    assert body["messages"][0]["content"].startswith("You are the assistant of Acme Outdoor.")
    names = [t["function"]["name"] for t in body["tools"]]
    assert names == ["remember", "order_status", "end_conversation", "store_hours"]
    assert body["tools"][1] == order_status.schema()


async def test_llm_activity_without_an_agent_uses_the_settings(
    llm: tuple[FakeLLM, Settings],
) -> None:
    fake, settings = llm
    settings = settings.model_copy(update={"agent_instructions": "Be Acme.", "agent": None})
    activities = LLMActivities(settings)
    request = LLMRequest(
        conversation_id=f"conv-{CUSTOMER}",
        channel=Channel.SMS,
        turn=1,
        messages=[ChatMessage(role="user", content="hi")],
    )
    try:
        await ActivityEnvironment().run(activities.generate_reply, request)
    finally:
        await activities.close()
    (body,) = fake.requests
    assert body["model"] == "base"
    assert body["messages"][0]["content"].startswith("Be Acme.")
    assert "tools" not in body


async def test_voice_stream_offers_builtins_and_the_agents_tools(
    llm: tuple[FakeLLM, Settings],
) -> None:
    fake, settings = llm
    streamer = ReplyStreamer(settings, agent=SHOP)
    plan = VoiceTurnPlan(
        turn=1,
        messages=[ChatMessage(role="user", content="hello")],
        tools=["send_digits", "end_conversation", "handoff_to_human", "order_status"],
    )
    tokens: list[str] = []

    async def on_token(token: str) -> None:
        tokens.append(token)

    try:
        reply = await streamer.stream(f"conv-{CUSTOMER}", plan, on_token)
    finally:
        await streamer.close()
    assert reply.text == "echo: hello" == "".join(tokens)
    (body,) = fake.requests
    assert body["stream_options"] == {"include_usage": True}  # the usage, in a last chunk
    assert reply.usage == usage_of(body["messages"], FakeReply(text=reply.text))["total_tokens"]
    assert body["model"] == "shop-model"
    assert body["messages"][0]["content"].startswith("You are the assistant of Acme Outdoor.")
    tools = {t["function"]["name"]: t["function"] for t in body["tools"]}
    assert list(tools) == ["send_digits", "end_conversation", "handoff_to_human", "order_status"]
    assert tools["end_conversation"]["description"].startswith("End the call")


async def test_voice_stream_goes_on_without_usage_where_the_endpoint_refuses_to_report_it(
    llm: tuple[FakeLLM, Settings],
) -> None:
    fake, settings = llm
    fake.refused_params.add("stream_options")  # as some compatible servers answer
    streamer = ReplyStreamer(settings, agent=SHOP)
    plan = VoiceTurnPlan(turn=1, messages=[ChatMessage(role="user", content="hello")])

    async def on_token(token: str) -> None:
        pass

    try:
        first = await streamer.stream(f"conv-{CUSTOMER}", plan, on_token)
        second = await streamer.stream(f"conv-{CUSTOMER}", plan, on_token)
    finally:
        await streamer.close()
    assert first.text == second.text == "echo: hello"
    assert first.usage == second.usage == 0  # not reported, so not counted
    assert ["stream_options" in body for body in fake.requests] == [True, False, False]
