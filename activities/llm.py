"""Reply generation: any OpenAI-compatible Chat Completions endpoint, or the demo responder."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx2
import openai
import structlog
from openai._types import Omit
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.demo_responder import DEMO_MODEL, demo_reply, demo_tool_calls
from activities.heartbeat import heartbeating
from switchboard.agent import Agent, load_agent
from switchboard.contract import errors
from switchboard.contract.addresses import Channel
from switchboard.contract.llm import (
    ChatMessage,
    LLMReply,
    LLMRequest,
    RecallFirst,
    ToolCall,
    join_context,
)
from switchboard.contract.names import GENERATE_REPLY_ACTIVITY
from switchboard.memory.models import RecallRequest, RecallResult
from switchboard.runtime.config import Settings
from switchboard.runtime.model_tracing import model_http_client
from workflows.policies import MEMORY_ACTIVITY

log = structlog.get_logger(__name__)

RECALL_TIMEOUT: float = MEMORY_ACTIVITY["start_to_close_timeout"].total_seconds()
"""Seconds a reply waits on its recall: the start-to-close the recall activity of its own
had."""

_CHANNEL_HINTS = {
    Channel.SMS: "You are replying by SMS: keep answers short (under 300 characters), plain text.",
    Channel.WHATSAPP: "You are replying on WhatsApp: keep answers short and friendly, plain text.",
    Channel.VOICE: "You are speaking on a phone call: short sentences, no lists, no symbols.",
}


def build_messages(instructions: str, request: LLMRequest) -> list[ChatMessage]:
    """The system prompt (instructions, channel hint, recalled context), then the conversation.

    The recall context (``switchboard.memory.context``) goes into the one system message, so
    every OpenAI-compatible model reads it, including those that allow a single system message.
    """
    system = f"{instructions}\n\n{_CHANNEL_HINTS[request.channel]}"
    if request.context:
        system = f"{system}\n\n{request.context}"
    return [ChatMessage(role="system", content=system), *request.messages]


def openai_client(settings: Settings) -> openai.AsyncOpenAI | None:
    """The configured model's client, with its own retries off; None for the demo responder."""
    if not settings.llm_configured:
        return None
    return openai.AsyncOpenAI(
        base_url=settings.llm_base_url,
        api_key=settings.llm_api_key.get_secret_value() if settings.llm_api_key else "unused",
        max_retries=0,  # Temporal owns retries (and the voice path its own, see llm_stream)
        timeout=settings.llm_timeout.total_seconds(),
        http_client=model_http_client(),  # traced when tracing is on
    )


class ChatCompletions:
    """``POST /chat/completions`` as the OpenAI client sends it, without its per-call machinery.

    The client's request path builds typed request options, merges headers, runs its auth
    and retry wrappers and constructs a ``ChatCompletion`` model for every call: about a
    third of a call's CPU (0.80-0.88 ms against 0.55-0.57 ms here, measured for
    ``benchmarks/README.md``, "Cutting CPU per turn"). Here the URL,
    headers (credentials, organization and project, user agent) and timeout are taken from
    the configured ``openai.AsyncOpenAI`` once; each call is one HTTP POST of the JSON body
    and a ``json.loads`` of the answer. Failures are the client's own exceptions, made the
    way the client makes them: an error status as its ``APIStatusError`` subclass, a
    timeout as ``APITimeoutError``, anything else on the way as ``APIConnectionError``, an
    answer that is not JSON as ``APIResponseValidationError``.

    Its HTTP client is the model's (``model_http_client``: traced when tracing is on, the
    OpenAI SDK's defaults otherwise).
    """

    def __init__(self, client: openai.AsyncOpenAI) -> None:
        self._client = client
        base = client.base_url  # the client keeps it with a trailing slash
        self.url = base.copy_with(raw_path=base.raw_path + b"chat/completions")
        headers = {**client.default_headers, **client.auth_headers}
        self._headers = {k: v for k, v in headers.items() if not isinstance(v, Omit)}
        self._headers["X-Stainless-Retry-Count"] = "0"
        self._timeout = client.timeout
        self._http = model_http_client() or openai.DefaultAsyncHttpxClient()

    async def close(self) -> None:
        """Release its connections."""
        await self._http.aclose()

    async def create(self, body: dict[str, object]) -> dict[str, Any]:
        """The decoded JSON answer to ``body``; the OpenAI client's exceptions on failure."""
        # As the client encodes it (``openai._utils._json.openapi_dumps``).
        content = json.dumps(
            body, ensure_ascii=False, separators=(",", ":"), allow_nan=False
        ).encode()
        request = self._http.build_request(
            "POST", self.url, content=content, headers=self._headers, timeout=self._timeout
        )
        try:
            response = await self._http.send(request)
        except httpx2.TimeoutException as exc:
            raise openai.APITimeoutError(request=request) from exc
        except Exception as exc:
            raise openai.APIConnectionError(request=request) from exc
        if response.status_code >= 400:
            raise self._client._make_status_error_from_response(response)
        try:
            data = json.loads(response.content)
        except ValueError as exc:
            raise openai.APIResponseValidationError(
                response=response, body=response.text, message="The answer is not JSON"
            ) from exc
        if not isinstance(data, dict):
            raise openai.APIResponseValidationError(
                response=response, body=data, message="The answer is not a JSON object"
            )
        return data


class LLMActivities:
    """Activities that talk to the model. The client is created once per worker.

    The agent gives the instructions, the model and the tool schemas; without one, the
    agent ``AGENT`` and ``TOOLS_FILE`` describe (the default agent when unset).
    """

    def __init__(
        self,
        settings: Settings,
        client: openai.AsyncOpenAI | None = None,
        agent: Agent | None = None,
        recall: Callable[[RecallRequest], Awaitable[RecallResult]] | None = None,
    ) -> None:
        self._recall = recall  # the memory store's recall, for requests that ask it first
        self._agent = agent or load_agent(settings)
        self._model = self._agent.model or settings.chat_model
        self._client = client or openai_client(settings)
        self._chat = ChatCompletions(self._client) if self._client is not None else None
        self._max_tokens = settings.llm_max_tokens

    async def close(self) -> None:
        """Release the model client's connections."""
        if self._chat is not None:
            await self._chat.close()
        if self._client is not None:
            await self._client.close()

    @activity.defn(name=GENERATE_REPLY_ACTIVITY)
    async def generate_reply(self, request: LLMRequest) -> LLMReply:
        """Ask the model for the next assistant message of a text conversation.

        A request that asks to recall first (``LLMRequest.recall``) gets the recalled
        context in its system message and back in ``LLMReply.recalled``; if recall fails,
        the request's own context (the last one recalled) is used, as a failed recall
        activity left it.
        """
        if request.recall is None:
            return await self._reply(request)
        recalled = await self._recall_first(request.recall)
        if recalled is None:
            return await self._reply(request)
        context = join_context(recalled, request.recall.then)
        reply = await self._reply(request.model_copy(update={"context": context}))
        reply.recalled = recalled
        return reply

    async def _recall_first(self, ask: RecallFirst) -> str | None:
        """The recalled context; None when this worker has no memory or recall failed.

        Bounded by ``RECALL_TIMEOUT``, as the recall activity of its own was: a slow store
        or embeddings endpoint costs the turn its fresh memory, never its answer.
        """
        if self._recall is None:
            log.warning("recall_unavailable")
            return None
        request = RecallRequest(customer=ask.customer, query=ask.query)
        try:
            async with heartbeating():
                result = await asyncio.wait_for(self._recall(request), RECALL_TIMEOUT)
        except Exception as exc:  # the model still answers, with what was recalled before
            log.warning("recall_failed", error=type(exc).__name__)
            return None
        return result.context

    async def _reply(self, request: LLMRequest) -> LLMReply:
        messages = build_messages(self._agent.instructions, request)
        if self._chat is None:
            log.info("demo_reply", conversation_id=request.conversation_id, turn=request.turn)
            if calls := demo_tool_calls(messages, request.tools):
                return LLMReply(text="", model=DEMO_MODEL, demo=True, tool_calls=calls)
            return LLMReply(text=demo_reply(messages), model=DEMO_MODEL, demo=True)
        body: dict[str, object] = {
            "model": self._model,
            "messages": [m.to_openai() for m in messages],
            "max_tokens": self._max_tokens,  # LLM_MAX_TOKENS: a reply's cost has a ceiling
        }
        if schemas := self._agent.schemas(request.tools, request.channel):
            body["tools"] = schemas
        try:
            async with heartbeating():
                completion = await self._chat.create(body)
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            raise ApplicationError(
                f"LLM rejected our credentials: {exc.status_code}",
                type=errors.LLM_AUTH_ERROR,
                non_retryable=True,
            ) from exc
        except (
            openai.BadRequestError,
            openai.NotFoundError,
            openai.UnprocessableEntityError,
        ) as exc:
            raise ApplicationError(
                f"LLM rejected the request: {exc.status_code}",
                type=errors.LLM_BAD_REQUEST,
                non_retryable=True,
            ) from exc
        except openai.APIError as exc:
            raise ApplicationError(
                f"LLM unavailable: {type(exc).__name__}", type=errors.LLM_UNAVAILABLE
            ) from exc
        return parse_completion(completion, self._model)


def parse_completion(completion: dict[str, Any], model: str) -> LLMReply:
    """The reply in a Chat Completions answer: the first choice's text and function calls."""
    choices = completion.get("choices") or []
    message = (choices[0].get("message") or {}) if choices else {}
    calls = [
        ToolCall(
            id=c["id"], name=c["function"]["name"], arguments=c["function"].get("arguments") or "{}"
        )
        for c in message.get("tool_calls") or []
        if c.get("type") == "function"
    ]
    usage = completion.get("usage")
    return LLMReply(
        text=(message.get("content") or "").strip(),
        model=completion.get("model") or model,
        tool_calls=calls,
        tokens=(usage.get("total_tokens") or 0) if isinstance(usage, dict) else 0,
    )
