"""Speculative start: begin the model's reply while the workflow is still deciding the turn.

After every turn the gateway knows what the conversation looks like to the model, so when
the caller speaks again it can guess the next plan (that history plus what was just said)
and start streaming at once, in parallel with the ``voice_prompt`` update. Nothing reaches
the caller on a guess: tokens are held until the workflow's plan arrives, and are released
only if the plan is exactly the guess (same messages, same tools). Otherwise the guess is
cancelled and the reply starts from the workflow's plan, as without speculation. The
workflow stays the judge; the update's round trip and the model's time to first token
simply overlap instead of adding up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass

from gateway.voice.llm_stream import ReplyStreamer, StreamedReply, TokenSink
from gateway.voice.turn_knowledge import with_knowledge
from switchboard.contract.llm import ChatMessage
from switchboard.contract.voice import VoicePrompt, VoiceTurnPlan, spoken_text
from workflows.conversation.state_ops import heard_part


@dataclass
class KnownContext:
    """The model's view of the conversation after the last turn on this call."""

    messages: list[ChatMessage]
    tools: list[str]
    context: str = ""

    @classmethod
    def after_turn(cls, plan: VoiceTurnPlan, said: str, heard: str | None) -> KnownContext:
        """The context once the workflow has recorded ``said`` (cut to ``heard``)."""
        recorded = said if heard is None else heard_part(said, heard)
        messages = list(plan.messages)
        if recorded:
            messages.append(ChatMessage(role="assistant", content=recorded))
        return cls(messages=messages, tools=list(plan.tools), context=plan.context)

    def cut_last_reply(self, said: str, heard: str) -> KnownContext | None:
        """The context after a late interrupt of the last reply (None if it cannot tell)."""
        if not self.messages or self.messages[-1] != ChatMessage(role="assistant", content=said):
            return None
        recorded = heard_part(said, heard)
        head = self.messages[:-1]
        tail = [ChatMessage(role="assistant", content=recorded)] if recorded else []
        return KnownContext(messages=head + tail, tools=self.tools, context=self.context)

    async def guess_with_knowledge(
        self, prompt: VoicePrompt, knowledge: Awaitable[str]
    ) -> VoiceTurnPlan:
        """``guess``, with this prompt's knowledge once it is looked up."""
        return with_knowledge(self.guess(prompt), await knowledge)

    def guess(self, prompt: VoicePrompt) -> VoiceTurnPlan:
        """The plan the workflow will most likely answer ``prompt`` with."""
        said = ChatMessage(role="user", content=spoken_text(prompt))
        return VoiceTurnPlan(
            turn=0, messages=[*self.messages, said], tools=self.tools, context=self.context
        )


class Speculation:
    """A reply started on a guessed plan; its tokens wait until the guess is confirmed."""

    def __init__(
        self, streamer: ReplyStreamer, conversation_id: str, guess: Awaitable[VoiceTurnPlan]
    ) -> None:
        self.guess: VoiceTurnPlan | None = None  # known once ``guess`` resolves
        self.requesting = asyncio.Event()
        """Set as the model request is being made (the guess is known)."""
        self._held: list[str] = []
        self._sink: TokenSink | None = None
        self.task = asyncio.create_task(self._run(streamer, conversation_id, guess))

    async def _run(
        self, streamer: ReplyStreamer, conversation_id: str, guess: Awaitable[VoiceTurnPlan]
    ) -> StreamedReply:
        self.guess = await guess
        # The waiter wakes only once this task yields, after the request is on its way.
        self.requesting.set()
        return await streamer.stream(conversation_id, self.guess, self._token)

    async def _token(self, token: str) -> None:
        if self._sink is None:
            self._held.append(token)
        else:
            await self._sink(token)

    def confirmed_by(self, plan: VoiceTurnPlan) -> bool:
        """True when the workflow decided exactly what was guessed."""
        guess = self.guess
        return (
            guess is not None
            and plan.respond
            and plan.messages == guess.messages
            and plan.tools == guess.tools
            and plan.context == guess.context
        )

    async def adopt(self, sink: TokenSink) -> None:
        """Release the held tokens to ``sink``, then stream the rest straight to it."""
        while self._held:
            await sink(self._held.pop(0))
        self._sink = sink  # no await since the last check: nothing can slip in between

    def abandon(self) -> None:
        """The workflow decided otherwise: stop the guessed reply."""
        self.task.cancel()
