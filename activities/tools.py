"""The ``run_tool`` activity: one call of one of the agent's own tools (Python, HTTP or MCP).

``mcp_tools`` (a local activity) tells a turn which MCP tools this worker can run now.

Arguments the model got wrong are not a failure: they come back as an error result
(``ok=False``) so the model can correct itself within the turn. A tool that fails raises an
``ApplicationError`` instead, so the workflow's per-tool retry policy (``Agent.policies``)
applies; the workflow turns a final failure into an error result for the model.

Errors (``ApplicationError.type``)::

    ToolFailed     the tool raised; retryable unless it raised ToolError(non_retryable=True)
                   (HTTP tools: 4xx answers are non-retryable, 429/5xx and network errors not)
    ToolTimeout    retryable: an attempt took longer than the tool's timeout
"""

from __future__ import annotations

import asyncio

import httpx
import pydantic_core
import structlog
from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.heartbeat import heartbeating
from switchboard.agent import Agent, ToolContext, ToolError
from switchboard.agent.builtins import InvalidToolArguments
from switchboard.agent.context import (  # defined beside ToolContext: HTTP tools cut to it
    MAX_RESULT_CHARS as MAX_RESULT_CHARS,
)
from switchboard.agent.http_client import keeps_no_cookies
from switchboard.contract.names import MCP_TOOLS_ACTIVITY, RUN_TOOL_ACTIVITY
from switchboard.contract.tools import McpTools, ToolInvocation, ToolResult
from switchboard.memory import MemoryStore

log = structlog.get_logger(__name__)

TOOL_FAILED = "ToolFailed"
TOOL_TIMEOUT = "ToolTimeout"


class ToolActivities:
    """Runs the agent's own tools, with the tools' HTTP client and the worker's memory store.

    Args:
        agent: Whose tools.
        http_client: Shared by every customer's calls, so it must keep no cookies (a
            session one customer's call opened would go with the next customer's): a
            ``tool_http_client()``.
        memory: The memory store tools may read (``ToolContext.profile``).

    Raises:
        ValueError: the client has a cookie jar that stores cookies.
    """

    def __init__(
        self, agent: Agent, http_client: httpx.AsyncClient, memory: MemoryStore | None = None
    ) -> None:
        if not keeps_no_cookies(http_client):
            raise ValueError("tools need an HTTP client without a cookie jar: tool_http_client()")
        self._agent = agent
        self._http = http_client
        self._memory = memory

    @activity.defn(name=MCP_TOOLS_ACTIVITY)
    async def mcp_tools(self) -> McpTools:
        """The MCP tools the agent's servers offer now (their policies, by name)."""
        return McpTools(tools=self._agent.mcp_policies())

    @activity.defn(name=RUN_TOOL_ACTIVITY)
    async def run_tool(self, invocation: ToolInvocation) -> ToolResult:
        """Validate the call's arguments, run the tool with its context, return its result.

        Raises:
            ApplicationError: the tool failed or timed out (see the module's docstring).
        """
        name = invocation.name
        tool = self._agent.get_tool(name)
        if tool is None:
            return _refused(f"there is no tool named {name!r}")
        if invocation.channel not in tool.channels:
            return _refused(f"{name} is not available on {invocation.channel.value}")
        try:
            call = tool.bind(invocation.arguments)
        except InvalidToolArguments as exc:
            return _refused(str(exc))
        context = ToolContext(
            conversation_id=invocation.conversation_id,
            customer=invocation.customer,
            channel=invocation.channel,
            call_id=invocation.call_id,
            http=self._http,
            memory=self._memory,
        )
        try:
            # Our own deadline as well as Temporal's: a hung attempt ends here even when the
            # workflow's timeout is longer (a sync tool's thread may still finish on its own).
            async with heartbeating(), asyncio.timeout(tool.timeout):
                value = await call(context)
        except TimeoutError as exc:
            log.warning("tool_timeout", tool=name, timeout=tool.timeout)
            raise ApplicationError(
                f"no result within {tool.timeout:g}s", type=TOOL_TIMEOUT
            ) from exc
        except ToolError as exc:
            log.warning("tool_error", tool=name, retryable=not exc.non_retryable)
            raise ApplicationError(
                exc.message, type=TOOL_FAILED, non_retryable=exc.non_retryable
            ) from exc
        except Exception as exc:
            log.warning("tool_failed", tool=name, error=type(exc).__name__, exc_info=True)
            raise ApplicationError(f"{type(exc).__name__}: {exc}", type=TOOL_FAILED) from exc
        return ToolResult(content=result_text(value))


def result_text(value: object) -> str:
    """A tool's return value as the model reads it: text as is, anything else as JSON."""
    if isinstance(value, str):
        text = value
    elif value is None:
        text = "Done."
    elif isinstance(value, BaseModel):
        text = value.model_dump_json()
    else:
        text = pydantic_core.to_json(value, fallback=str).decode()
    if len(text) > MAX_RESULT_CHARS:
        return f"{text[:MAX_RESULT_CHARS]}… [cut: {len(text)} characters in all]"
    return text


def _refused(reason: str) -> ToolResult:
    return ToolResult(content=f"Error: {reason}", ok=False)
