"""Tool calls of ``ConversationWorkflow``: which tools a turn offers, and running the calls.

Built-ins are validated here (pure) and acted on by the workflow itself: memory tools run
as memory activities, ``handoff_to_human`` and ``end_conversation`` change the conversation,
``schedule_callback`` starts a durable timer workflow. The agent's own tools (Python
functions, HTTP tools) run as the ``run_tool`` activity with their own timeout and retries;
the activity validates their arguments. Whatever goes wrong — bad arguments, an exception,
a timeout — becomes the tool's result for the model, never a failed turn.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from switchboard.agent.builtins import (
        BUILTIN_TOOLS,
        CANCEL_CALLBACK,
        END_CONVERSATION,
        HANDOFF_TO_HUMAN,
        REMEMBER,
        SCHEDULE_CALLBACK,
        TEXT_TOOLS,
        CancelCallbackArgs,
        EndConversationArgs,
        HandoffArgs,
        InvalidToolArguments,
        ScheduleCallbackArgs,
        parse_arguments,
    )
    from switchboard.agent.call_control import VOICE_TOOLS
    from switchboard.contract.addresses import Channel
    from switchboard.contract.conversation import ConversationConfig, ConversationState
    from switchboard.contract.handoff import HandoffRequest
    from switchboard.contract.llm import ToolCall
    from switchboard.contract.names import RUN_TOOL_ACTIVITY
    from switchboard.contract.tools import ToolInvocation, ToolPolicy, ToolResult

PARALLEL_TOOLS_PATCH = "parallel-tools"
_FAILURES = (ActivityError, ApplicationError)


class ToolCalls:
    """Mixed into ``ConversationWorkflow``; runs the model's tool calls for a turn."""

    _state: ConversationState
    _cfg: ConversationConfig
    _turn_end: str | None

    if TYPE_CHECKING:  # provided by the other parts of the workflow

        def _memory_enabled(self) -> bool: ...
        async def _memory_tool(self, call: ToolCall, args: BaseModel) -> str: ...
        def _request_handoff(self, request: HandoffRequest) -> bool: ...
        async def _schedule_callback(self, args: ScheduleCallbackArgs) -> str: ...
        async def _cancel_callbacks(self, callback_id: str | None) -> str: ...
        def _note(self, text: str) -> None: ...

    def _offered_tools(self, channel: Channel) -> list[str]:
        """The tools a turn on ``channel`` offers, in the order the model sees them."""
        names: list[str] = []
        if channel is Channel.VOICE:
            names += VOICE_TOOLS  # send_digits, switch_language, end_conversation (call control)
            if self._memory_enabled():
                names.append(REMEMBER)  # knowledge is already looked up for every utterance
        else:
            if self._memory_enabled():
                names += TEXT_TOOLS
            names.append(END_CONVERSATION)
        names += [HANDOFF_TO_HUMAN, SCHEDULE_CALLBACK]
        if any(c.status == "scheduled" for c in self._state.callbacks):
            names.append(CANCEL_CALLBACK)
        names += [p.name for p in self._cfg.tools if channel in p.channels]
        return names

    async def _run_tool_calls(
        self, calls: list[ToolCall], channel: Channel, call_sid: str | None = None
    ) -> list[str]:
        """Run a reply's tool calls side by side; one result per call, in order.

        ``call_sid``: the calls come from a spoken reply on that call (a handoff then ends
        the relay session through the reply's own follow-up).
        """
        if not workflow.patched(PARALLEL_TOOLS_PATCH):  # histories from before: one by one
            return [await self._run_tool(call, channel, call_sid) for call in calls]
        return list(
            await asyncio.gather(*(self._run_tool(call, channel, call_sid) for call in calls))
        )

    async def _run_tool(self, call: ToolCall, channel: Channel, call_sid: str | None) -> str:
        """Run one tool call; the result (or what went wrong) goes back to the model."""
        if call.name not in BUILTIN_TOOLS:
            return await self._agent_tool(call, channel)
        try:
            args = parse_arguments(call)
        except InvalidToolArguments as exc:
            self._note(f"tool call refused: {exc}")
            return f"Error: {exc}"
        if call.name not in TEXT_TOOLS:  # the memory tools note what they did themselves
            self._note(f"tool {call.name}({call.arguments})")
        if isinstance(args, HandoffArgs):
            request = HandoffRequest(reason=args.reason, source="tool", call_sid=call_sid)
            if self._request_handoff(request):
                self._turn_end = "handoff"
                return "A human agent has been asked to take over. Tell the customer so."
            return "The conversation is already with a human."
        if isinstance(args, EndConversationArgs):
            self._turn_end = f"ended: {args.reason}"
            return "The conversation will end after your reply. Say goodbye."
        try:
            if isinstance(args, ScheduleCallbackArgs):
                return await self._schedule_callback(args)
            if isinstance(args, CancelCallbackArgs):
                return await self._cancel_callbacks(args.callback_id)
            return await self._memory_tool(call, args)
        except _FAILURES as exc:
            workflow.logger.warning("tool %s failed: %s", call.name, exc)
            return f"Error: {call.name} is unavailable right now"
        except workflow.NondeterminismError:
            raise
        except Exception as exc:  # a bug in a built-in must not fail the workflow task
            workflow.logger.error("tool %s broke: %r", call.name, exc)
            return f"Error: {call.name} failed"

    async def _agent_tool(self, call: ToolCall, channel: Channel) -> str:
        policy = next((p for p in self._cfg.tools if p.name == call.name), None)
        if policy is None or channel not in policy.channels:
            self._note(f"tool call refused: there is no tool named {call.name!r}")
            return f"Error: there is no tool named {call.name!r}"
        invocation = ToolInvocation(
            name=call.name,
            arguments=call.arguments,
            call_id=call.id,
            conversation_id=workflow.info().workflow_id,
            customer=self._state.customer,
            channel=channel,
        )
        timeout = timedelta(seconds=policy.timeout_seconds)
        try:
            result: ToolResult = await workflow.execute_activity(
                RUN_TOOL_ACTIVITY,
                invocation,
                result_type=ToolResult,
                start_to_close_timeout=timeout,
                # All attempts and the backoff between them: the model must not wait for ever.
                schedule_to_close_timeout=timeout * max(1, policy.max_attempts)
                + timedelta(seconds=5),
                heartbeat_timeout=max(timeout, timedelta(seconds=5)),
                retry_policy=_retry_policy(policy),
                summary=f"tool {call.name}",
            )
        except _FAILURES as exc:
            message = _failure_message(exc)
            workflow.logger.warning("tool %s failed: %s", call.name, message)
            self._note(f"tool {call.name} failed: {message}")
            return f"Error: {call.name} failed: {message}"
        self._note(
            f"tool {call.name}({call.arguments})"
            + ("" if result.ok else f" refused: {result.content}")
        )
        return result.content


def _retry_policy(policy: ToolPolicy) -> RetryPolicy:
    return RetryPolicy(
        initial_interval=timedelta(milliseconds=200),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=2),
        maximum_attempts=max(1, policy.max_attempts),
    )


def _failure_message(exc: BaseException) -> str:
    """The innermost cause of a failed tool activity, in words the model can use."""
    cause: BaseException | None = exc
    while isinstance(cause, ActivityError) and cause.cause is not None:
        cause = cause.cause
    if isinstance(cause, ApplicationError):
        return cause.message or cause.type or "error"
    text = str(cause) if cause is not None else "error"
    if "timeout" in text.lower() or "timed out" in text.lower():
        return "timed out"
    return text[:300]
