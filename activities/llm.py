"""Reply generation: any OpenAI-compatible Chat Completions endpoint, or the demo responder."""

from __future__ import annotations

import openai
import structlog
from openai.types.chat import ChatCompletion
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.demo_responder import DEMO_MODEL, demo_reply, demo_tool_calls
from activities.heartbeat import heartbeating
from switchboard.agent import Agent, load_agent
from switchboard.contract import errors
from switchboard.contract.addresses import Channel
from switchboard.contract.llm import ChatMessage, LLMReply, LLMRequest, ToolCall
from switchboard.contract.names import GENERATE_REPLY_ACTIVITY
from switchboard.runtime.config import Settings
from switchboard.runtime.model_tracing import model_http_client

log = structlog.get_logger(__name__)

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
    ) -> None:
        self._agent = agent or load_agent(settings)
        self._model = self._agent.model or settings.chat_model
        self._client = client or openai_client(settings)
        self._max_tokens = settings.llm_max_tokens

    async def close(self) -> None:
        """Release the model client's connections."""
        if self._client is not None:
            await self._client.close()

    @activity.defn(name=GENERATE_REPLY_ACTIVITY)
    async def generate_reply(self, request: LLMRequest) -> LLMReply:
        """Ask the model for the next assistant message of a text conversation."""
        messages = build_messages(self._agent.instructions, request)
        if self._client is None:
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
                # The client's own request path (auth, errors, parsing) without the per-call
                # walk over typed params that ``chat.completions.create`` does: our messages
                # are already validated models, and that walk was a tenth of a worker's CPU.
                completion = await self._client.post(
                    "/chat/completions", body=body, cast_to=ChatCompletion
                )
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
        choice = completion.choices[0] if completion.choices else None
        text = (choice.message.content or "").strip() if choice else ""
        calls = [
            ToolCall(id=c.id, name=c.function.name, arguments=c.function.arguments or "{}")
            for c in (choice.message.tool_calls or [] if choice else [])
            if c.type == "function"
        ]
        tokens = completion.usage.total_tokens if completion.usage is not None else 0
        return LLMReply(
            text=text, model=completion.model or self._model, tool_calls=calls, tokens=tokens
        )
