"""What a running tool can know and say: ``ToolContext``, ``ToolError``, ``MAX_RESULT_CHARS``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from switchboard.contract.addresses import Channel

if TYPE_CHECKING:  # the memory package is heavy; a tool definition should not need it
    from switchboard.memory import MemoryStore
    from switchboard.memory.models import Profile


@dataclass(frozen=True)
class ToolContext:
    """Who and where a tool call is for; injected into any parameter annotated with this type.

    Such parameters never appear in the schema the model sees, so the model cannot choose
    whose order a tool looks up: the conversation decides.
    """

    conversation_id: str
    customer: str
    """The customer's E.164 number."""
    channel: Channel
    call_id: str
    """The model's id for this tool call (stable across retries: an idempotency key)."""
    http: httpx.AsyncClient
    """The tools' HTTP client, shared by every customer's calls: it keeps no cookies."""
    memory: MemoryStore | None = None
    """The memory store, when the worker has one."""

    async def profile(self) -> Profile | None:
        """The customer's memory profile (traits, observations, summaries); None if unknown."""
        if self.memory is None:
            return None
        return await self.memory.get_profile(self.customer)


MAX_RESULT_CHARS = 4000
"""A result longer than this is cut: it goes into the prompt and the workflow's history."""

BoundCall = Callable[[ToolContext], Awaitable[object]]
"""A tool call with validated arguments, waiting only for its context."""


class ToolError(Exception):
    """Raise from a tool to fail the call with a message the model may be shown.

    Failures are retried by default (per the tool's ``retries``); pass
    ``non_retryable=True`` when trying again cannot help (a refused request, a missing
    record), so the model hears about it at once.
    """

    def __init__(self, message: str, *, non_retryable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.non_retryable = non_retryable
