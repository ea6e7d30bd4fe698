"""Streaming replies for calls: tokens go to the caller as the model produces them.

This is the one model call the gateway makes itself, because a token that has to travel
through workflow history would arrive too late to speak. The workflow decides the turn (the
messages, the tools) and records the outcome; this module only carries the stream.

Retries are limited to the moment before the first token: once the caller has heard part of
an answer, repeating the request would make them hear it twice.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import openai
import structlog
from openai import AsyncStream
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from activities.demo_responder import demo_reply
from activities.llm import build_messages, openai_client
from switchboard.agent import Agent, load_agent
from switchboard.contract.addresses import Channel
from switchboard.contract.llm import ChatMessage, LLMRequest, ToolCall
from switchboard.contract.voice import VoiceTurnPlan
from switchboard.runtime.config import Settings

log = structlog.get_logger(__name__)

TokenSink = Callable[[str], Awaitable[None]]

_RETRY_DELAYS = (0.2, 0.6)
_RETRYABLE = (openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError)


@dataclass
class StreamedReply:
    """What the model said (all of it, as generated) and the tools it asked for.

    ``tokens`` counts the text chunks passed on (so a retry knows whether the caller heard
    anything); ``usage`` is the model's own count for the request, prompt and completion,
    from the stream's last chunk — 0 when the stream was cancelled before it.
    """

    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    tokens: int = 0
    usage: int = 0


class _ToolCallParts:
    """Tool calls arrive in fragments keyed by index; this puts them back together."""

    def __init__(self) -> None:
        self._calls: dict[int, dict[str, str]] = {}

    def add(self, chunk: ChatCompletionChunk) -> None:
        for choice in chunk.choices:
            for part in choice.delta.tool_calls or ():
                call = self._calls.setdefault(part.index, {"id": "", "name": "", "arguments": ""})
                call["id"] = part.id or call["id"]
                if part.function is not None:
                    call["name"] += part.function.name or ""
                    call["arguments"] += part.function.arguments or ""

    def calls(self) -> list[ToolCall]:
        return [
            ToolCall(id=c["id"] or f"call_{i}", name=c["name"], arguments=c["arguments"] or "{}")
            for i, c in sorted(self._calls.items())
        ]


class ReplyStreamer:
    """Streams a voice turn from the configured model (or the demo responder).

    The agent gives the instructions, the model and the tool schemas; without one, the
    agent ``AGENT`` and ``TOOLS_FILE`` describe (the default agent when unset).
    """

    def __init__(
        self,
        settings: Settings,
        client: openai.AsyncOpenAI | None = None,
        agent: Agent | None = None,
    ) -> None:
        self._agent = agent or load_agent(settings)
        self._instructions = self._agent.instructions
        self._model = self._agent.model or settings.chat_model
        self._client = client or openai_client(settings)
        self._ask_usage = True  # until the endpoint refuses ``stream_options``
        self._max_tokens = settings.llm_max_tokens

    async def close(self) -> None:
        """Release the HTTP connections."""
        if self._client is not None:
            await self._client.close()

    async def stream(
        self, conversation_id: str, plan: VoiceTurnPlan, on_token: TokenSink
    ) -> StreamedReply:
        """Generate the reply to ``plan``, calling ``on_token`` for every text token.

        Cancel the task running this to stop at once (an interruption); ``on_token`` has
        seen everything generated until then.

        Raises:
            openai.APIError: the model failed before the first token, after retries.
        """
        request = LLMRequest(
            conversation_id=conversation_id,
            channel=Channel.VOICE,
            turn=plan.turn,
            messages=plan.messages,
            context=plan.context,
        )
        chat = build_messages(self._instructions, request)
        if self._client is None:
            return await self._demo(chat, on_token)
        messages = [m.to_openai() for m in chat]
        reply = StreamedReply()
        delays = list(_RETRY_DELAYS)
        while True:
            try:
                await self._stream_once(messages, plan.tools, reply, on_token)
                return reply
            except openai.BadRequestError as exc:
                if not self._ask_usage or "stream_options" not in str(exc):
                    raise
                # Some compatible servers refuse ``stream_options`` (naming it): from now on
                # they are asked without it, and their spoken replies' tokens go uncounted.
                log.warning("voice_llm_usage_refused")
                self._ask_usage = False
            except _RETRYABLE as exc:
                if reply.tokens or not delays:
                    raise
                delay = delays.pop(0)
                log.warning("voice_llm_retry", error=type(exc).__name__, delay=delay)
                await asyncio.sleep(delay)

    async def _stream_once(
        self,
        messages: list[dict[str, Any]],
        tools: list[str],
        reply: StreamedReply,
        on_token: TokenSink,
    ) -> None:
        assert self._client is not None
        body: dict[str, object] = {
            "model": self._model,
            "messages": messages,
            "stream": True,
            "max_tokens": self._max_tokens,  # LLM_MAX_TOKENS, as for text replies
        }
        if self._ask_usage:
            # The usage comes as one more chunk after the last token: the caller never waits.
            body["stream_options"] = {"include_usage": True}
        if schemas := self._agent.schemas(tools, Channel.VOICE):
            body["tools"] = schemas
        # The client's request path without the per-call walk over typed params that
        # ``chat.completions.create`` does; this sits on the caller's critical path.
        stream = await self._client.post(
            "/chat/completions",
            body=body,
            cast_to=ChatCompletion,
            stream=True,
            stream_cls=AsyncStream[ChatCompletionChunk],
        )
        parts = _ToolCallParts()
        async with stream:
            async for chunk in stream:
                for choice in chunk.choices:
                    token = choice.delta.content
                    if token:  # untrimmed: the spaces between words live in the tokens
                        reply.text += token
                        reply.tokens += 1
                        await on_token(token)
                parts.add(chunk)
                if chunk.usage is not None:
                    reply.usage = chunk.usage.total_tokens
        reply.tool_calls = parts.calls()

    @staticmethod
    async def _demo(messages: list[ChatMessage], on_token: TokenSink) -> StreamedReply:
        text = demo_reply(messages)
        reply = StreamedReply()
        for token in re.findall(r"\S+\s*", text):
            reply.text += token
            reply.tokens += 1
            await on_token(token)
        return reply
