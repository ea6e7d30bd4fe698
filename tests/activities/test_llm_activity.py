"""The reply activity (``generate_reply``) against the fake OpenAI-compatible server.

It posts to ``/chat/completions`` without the OpenAI client's per-call machinery
(``activities.llm.ChatCompletions``), so what the client did for it is pinned here: the
request (URL, credentials, body), the reply read from the answer (text, function calls,
usage, model), and every failure classified as before — rejected credentials and requests
non-retryable, everything else retryable and named by the OpenAI client's exception.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.llm import LLMActivities
from switchboard.contract import errors
from switchboard.contract.addresses import Channel
from switchboard.contract.llm import ChatMessage, LLMReply, LLMRequest
from switchboard.runtime.config import Settings
from tests.support.fake_llm import FakeLLM, FakeReply, usage_of
from tests.support.server import free_port, serve

KEY = "sk-llm-activity"


@pytest.fixture
async def llm() -> AsyncIterator[tuple[FakeLLM, Settings]]:
    fake = FakeLLM(api_key=KEY)
    async with serve(fake.app) as url:
        yield (
            fake,
            Settings(
                _env_file=None, llm_base_url=f"{url}/v1", llm_api_key=KEY, llm_model="the-model"
            ),
        )


def _request(text: str = "hello") -> LLMRequest:
    return LLMRequest(
        conversation_id="conv-+14155550142",
        channel=Channel.SMS,
        turn=1,
        messages=[ChatMessage(role="user", content=text)],
    )


async def _reply(settings: Settings, request: LLMRequest | None = None) -> LLMReply:
    activities = LLMActivities(settings)
    try:
        reply: LLMReply = await ActivityEnvironment().run(
            activities.generate_reply, request or _request()
        )
    finally:
        await activities.close()
    return reply


async def test_a_text_reply_with_its_model_and_usage(llm: tuple[FakeLLM, Settings]) -> None:
    fake, settings = llm
    fake.responder = lambda messages: FakeReply(text="  hi there  ")
    reply = await _reply(settings, _request("héllo"))
    (body,) = fake.requests
    assert body["model"] == "the-model"
    assert body["max_tokens"] == settings.llm_max_tokens
    assert body["messages"][-1] == {"role": "user", "content": "héllo"}
    assert body["messages"][0]["role"] == "system"
    assert reply.text == "hi there"
    assert reply.model == "the-model"
    assert reply.tool_calls == []
    usage = usage_of(body["messages"], FakeReply(text="  hi there  "))
    assert reply.tokens == usage["total_tokens"]
    assert not reply.demo


async def test_function_calls_are_read_with_their_arguments(
    llm: tuple[FakeLLM, Settings],
) -> None:
    fake, settings = llm
    fake.responder = lambda messages: FakeReply(
        tool_calls=[
            {"name": "order_status", "arguments": {"order": "A1"}},
            {"name": "store_hours", "arguments": {}},
        ]
    )
    reply = await _reply(settings)
    assert reply.text == ""
    assert [(c.name, c.arguments) for c in reply.tool_calls] == [
        ("order_status", '{"order": "A1"}'),
        ("store_hours", "{}"),
    ]
    assert all(c.id.startswith("call_") for c in reply.tool_calls)


@pytest.mark.parametrize(
    ("status", "kind", "non_retryable", "named"),
    [
        (400, errors.LLM_BAD_REQUEST, True, "400"),
        (404, errors.LLM_BAD_REQUEST, True, "404"),
        (422, errors.LLM_BAD_REQUEST, True, "422"),
        (403, errors.LLM_AUTH_ERROR, True, "403"),
        (429, errors.LLM_UNAVAILABLE, False, "RateLimitError"),
        (409, errors.LLM_UNAVAILABLE, False, "ConflictError"),
        (500, errors.LLM_UNAVAILABLE, False, "InternalServerError"),
        (503, errors.LLM_UNAVAILABLE, False, "InternalServerError"),
    ],
)
async def test_failures_are_classified_as_before(
    llm: tuple[FakeLLM, Settings], status: int, kind: str, non_retryable: bool, named: str
) -> None:
    fake, settings = llm
    fake.fail_next(1, status=status)
    with pytest.raises(ApplicationError) as caught:
        await _reply(settings)
    assert caught.value.type == kind
    assert caught.value.non_retryable is non_retryable
    assert named in caught.value.message


async def test_a_wrong_key_is_a_non_retryable_auth_error(
    llm: tuple[FakeLLM, Settings],
) -> None:
    _, settings = llm
    with pytest.raises(ApplicationError) as caught:
        await _reply(settings.model_copy(update={"llm_api_key": SecretStr("sk-wrong")}))
    assert caught.value.type == errors.LLM_AUTH_ERROR
    assert caught.value.non_retryable
    assert caught.value.message == "LLM rejected our credentials: 401"


async def test_an_unreachable_model_is_retryable() -> None:
    settings = Settings(
        _env_file=None, llm_base_url=f"http://127.0.0.1:{free_port()}/v1", llm_api_key=KEY
    )
    with pytest.raises(ApplicationError) as caught:
        await _reply(settings)
    assert caught.value.type == errors.LLM_UNAVAILABLE
    assert not caught.value.non_retryable
    assert caught.value.message == "LLM unavailable: APIConnectionError"


async def test_a_slow_model_times_out_retryably(llm: tuple[FakeLLM, Settings]) -> None:
    fake, settings = llm
    fake.responder = lambda messages: FakeReply(text="late", delay=2.0)
    with pytest.raises(ApplicationError) as caught:
        await _reply(settings.model_copy(update={"llm_timeout": timedelta(seconds=0.3)}))
    assert caught.value.type == errors.LLM_UNAVAILABLE
    assert not caught.value.non_retryable
    assert caught.value.message == "LLM unavailable: APITimeoutError"
