"""Fake OpenAI-compatible server: Chat Completions (``POST /v1/chat/completions``), embeddings.

Answers real ``chat.completion`` objects, or ``chat.completion.chunk`` SSE streams when
``"stream": true``, including OpenAI-format tool calls, with a deterministic ``usage``
(``usage_of``; in a stream, as a last chunk when ``stream_options.include_usage`` asks for
it). What to answer is decided by a settable ``responder``; every request body is recorded
for assertions.

A request with ``response_format`` ``{"type": "json_schema", ...}`` (structured outputs) is
answered with JSON valid against its schema: a minimal instance generated from the schema,
or whatever the settable ``structured`` responder returns for the schema's name.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from tests.support.schema_instances import minimal_instance
from tests.support.waiting import Changes

Messages = list[dict[str, Any]]
EMBEDDING_DIMENSIONS = 256


@dataclass
class FakeReply:
    """What the fake answers to one request.

    ``tool_calls`` items are ``{"name": str, "arguments": dict}``. ``delay`` is slept before
    answering (streaming: before the first chunk); ``token_delay`` between stream chunks.
    A non-200 ``status`` answers an OpenAI-style error body with that status.
    """

    text: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    delay: float = 0.0
    status: int = 200
    token_delay: float = 0.0


Responder = Callable[[Messages], FakeReply | Awaitable[FakeReply]]
Structured = dict[str, Any] | FakeReply
StructuredResponder = Callable[[str, Messages], Structured | Awaitable[Structured]]
"""``(json_schema name, messages)`` → the JSON object to answer, or a whole ``FakeReply``."""


def _content_text(content: Any) -> str:
    """Text of a message ``content`` (a string or a list of content parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def last_user_text(messages: Messages) -> str:
    """Text content of the last ``user`` message ("" if there is none)."""
    last = next((m for m in reversed(messages) if m.get("role") == "user"), {})
    return _content_text(last.get("content"))


def echo_responder(messages: Messages) -> FakeReply:
    """Default responder: ``"echo: " + <content of the last user message>``."""
    return FakeReply(text="echo: " + last_user_text(messages))


def openai_error(status: int, message: str, code: str | None = None) -> JSONResponse:
    """An OpenAI-style JSON error response."""
    kind = {401: "invalid_request_error", 429: "rate_limit_exceeded"}.get(
        status, "server_error" if status >= 500 else "invalid_request_error"
    )
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return JSONResponse(body, status_code=status)


def _tokens(text: str) -> list[str]:
    """Split text into word-ish tokens that concatenate back to ``text``."""
    return re.findall(r"\S+\s*|\s+", text)


def usage_of(messages: Messages, reply: FakeReply) -> dict[str, int]:
    """The ``usage`` the fake reports for ``reply`` to ``messages`` (streamed or not).

    Word-ish tokens, plus 3 per message and 10 per tool call: not a real tokenizer, but
    deterministic, so a test can work out what a conversation's model calls used.
    """
    prompt = sum(len(_tokens(_content_text(m.get("content")))) + 3 for m in messages)
    completion = len(_tokens(reply.text)) + 10 * len(reply.tool_calls)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


class FakeLLM:
    """In-process OpenAI Chat Completions API. Serve ``.app`` with ``tests.support.server.serve``.

    ``requests`` holds the parsed JSON body of every authorized request (including ones
    answered with an injected failure), oldest first.
    """

    def __init__(self, api_key: str = "test-key") -> None:
        self.api_key = api_key
        self.responder: Responder = echo_responder
        self.structured: StructuredResponder | None = None
        self.requests: list[dict[str, Any]] = []
        """Chat Completions requests, except structured-output ones (``structured_requests``)."""
        self.structured_requests: list[dict[str, Any]] = []
        self.embedding_requests: list[dict[str, Any]] = []
        self.synonyms: dict[str, str] = {}
        self.refused_params: set[str] = set()
        """Body keys answered with a 400 that names them, as servers that do not know them."""
        self._failures: list[int] = []
        self._structured_failures: list[int] = []
        self._changes = Changes()
        self.app = self._build_app()

    def fail_next(self, count: int, status: int = 500) -> None:
        """Make the next ``count`` calls fail with ``status`` and an OpenAI error body."""
        self._failures.extend([status] * count)

    def fail_next_structured(self, count: int, status: int = 500) -> None:
        """``fail_next`` for structured-output (operator) calls only."""
        self._structured_failures.extend([status] * count)

    async def wait_for_requests(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Return ``requests`` once at least ``count`` arrived, else AssertionError."""
        if await self._changes.wait_until(lambda: len(self.requests) >= count, timeout):
            return list(self.requests)
        last_user = [last_user_text(r.get("messages", [])) for r in self.requests]
        raise AssertionError(
            f"expected >= {count} LLM requests within {timeout}s, got {len(self.requests)}; "
            f"last user message of each: {last_user}"
        )

    def reset(self) -> None:
        """Forget recorded requests and injected failures; restore the echo responder."""
        self.requests.clear()
        self.structured_requests.clear()
        self._failures.clear()
        self._structured_failures.clear()
        self.responder = echo_responder
        self.structured = None
        self._changes.notify()

    # ---------------------------------------------------------------- internals
    def _build_app(self) -> FastAPI:
        app = FastAPI(title="fake-llm")

        @app.post("/v1/chat/completions")
        @app.post("/chat/completions")
        async def chat_completions(request: Request) -> Response:
            if request.headers.get("authorization") != f"Bearer {self.api_key}":
                return openai_error(401, "Incorrect API key provided", "invalid_api_key")
            try:
                body = await request.json()
            except ValueError:
                return openai_error(400, "We could not parse the JSON body of your request.")
            if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
                return openai_error(400, "'messages' is a required property")
            if _structured(body):
                # Conversation intelligence's operators: kept apart, so tests that count or
                # fail the conversation's own model calls are not thrown by them.
                self.structured_requests.append(body)
                self._changes.notify()
            else:
                self.requests.append(body)
                self._changes.notify()
            if refused := sorted(self.refused_params & body.keys()):
                return openai_error(400, f"Unrecognized request argument supplied: {refused[0]}")
            failures = self._structured_failures if _structured(body) else self._failures
            if failures:
                status = failures.pop(0)
                return openai_error(status, f"Injected failure (HTTP {status})")
            reply = await self._reply(body)
            if reply.status != 200:
                await asyncio.sleep(reply.delay)
                return openai_error(reply.status, f"Injected failure (HTTP {reply.status})")
            completion_id = "chatcmpl-" + secrets.token_hex(12)
            model = str(body.get("model", "fake-model"))
            calls = [
                {
                    "id": "call_" + secrets.token_hex(12),
                    "type": "function",
                    "function": {
                        "name": c["name"],
                        "arguments": json.dumps(c.get("arguments", {})),
                    },
                }
                for c in reply.tool_calls
            ]
            usage = usage_of(body["messages"], reply)
            if body.get("stream"):
                stream = self._stream(completion_id, model, reply, calls, usage, body)
                return StreamingResponse(stream, media_type="text/event-stream")
            await asyncio.sleep(reply.delay)
            message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
            if calls:
                message["tool_calls"] = calls
            return JSONResponse(
                {
                    "id": completion_id,
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": message,
                            "logprobs": None,
                            "finish_reason": "tool_calls" if calls else "stop",
                        }
                    ],
                    "usage": usage,
                    "system_fingerprint": "fp_fake",
                }
            )

        @app.post("/v1/embeddings")
        @app.post("/embeddings")
        async def embeddings(request: Request) -> Response:
            if request.headers.get("authorization") != f"Bearer {self.api_key}":
                return openai_error(401, "Incorrect API key provided", "invalid_api_key")
            body = await request.json()
            inputs = body.get("input")
            texts = [inputs] if isinstance(inputs, str) else inputs
            if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
                return openai_error(400, "'input' must be a string or a list of strings")
            self.embedding_requests.append(body)
            data = [
                {"object": "embedding", "index": i, "embedding": self.embed(text)}
                for i, text in enumerate(texts)
            ]
            return JSONResponse(
                {"object": "list", "data": data, "model": body.get("model", "fake-embedding"),
                 "usage": {"prompt_tokens": 0, "total_tokens": 0}}
            )  # fmt: skip

        return app

    async def _reply(self, body: dict[str, Any]) -> FakeReply:
        """The ``structured`` answer for a json_schema request, else the ``responder``'s."""
        response_format = body.get("response_format")
        if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
            spec = response_format.get("json_schema") or {}
            schema = spec.get("schema") or {}
            answer: Structured | Awaitable[Structured] = minimal_instance(schema)
            if self.structured is not None:
                answer = self.structured(str(spec.get("name", "")), body["messages"])
            if inspect.isawaitable(answer):
                answer = await answer
            return answer if isinstance(answer, FakeReply) else FakeReply(text=json.dumps(answer))
        reply = self.responder(body["messages"])
        if inspect.isawaitable(reply):
            reply = await reply
        return reply

    def embed(self, text: str) -> list[float]:
        """A deterministic embedding: hashed words, with ``synonyms`` mapped to one word."""
        vector = [0.0] * EMBEDDING_DIMENSIONS
        for word in re.findall(r"[a-z]+", text.lower()):
            word = self.synonyms.get(word, word)
            vector[int(hashlib.sha256(word.encode()).hexdigest(), 16) % len(vector)] += 1.0
        return vector

    @staticmethod
    async def _stream(
        completion_id: str,
        model: str,
        reply: FakeReply,
        calls: list[dict[str, Any]],
        usage: dict[str, int],
        body: dict[str, Any],
    ) -> AsyncIterator[str]:
        created = int(time.time())

        def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            payload = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_fake",
                "choices": [choice],
            }
            return f"data: {json.dumps(payload)}\n\n"

        await asyncio.sleep(reply.delay)
        yield chunk({"role": "assistant", "content": ""})
        deltas: list[dict[str, Any]] = [{"content": t} for t in _tokens(reply.text)]
        for index, call in enumerate(calls):
            head = {"name": call["function"]["name"], "arguments": ""}
            deltas.append(
                {
                    "tool_calls": [
                        {"index": index, "id": call["id"], "type": "function", "function": head}
                    ]
                }
            )
            for fragment in re.findall(r".{1,8}", call["function"]["arguments"], re.DOTALL):
                deltas.append(
                    {"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}
                )
        for delta in deltas:
            if reply.token_delay:
                await asyncio.sleep(reply.token_delay)
            yield chunk(delta)
        yield chunk({}, "tool_calls" if calls else "stop")
        if (body.get("stream_options") or {}).get("include_usage"):
            payload = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [],
                "usage": usage,
            }
            yield f"data: {json.dumps(payload)}\n\n"
        yield "data: [DONE]\n\n"


def _structured(body: dict[str, Any]) -> bool:
    """Whether a request asks for structured output (``response_format`` ``json_schema``)."""
    response_format = body.get("response_format")
    return isinstance(response_format, dict) and response_format.get("type") == "json_schema"
