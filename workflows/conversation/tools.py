"""The model's tool calls: which tools a turn offers, and running the calls.

Built-ins are validated here (pure) and acted on by the conversation itself: memory tools
run as memory activities, ``handoff_to_human`` and ``end_conversation`` change the
conversation, ``schedule_callback`` starts a durable timer workflow. The agent's own tools
(Python functions, HTTP tools, MCP servers' tools) run as the ``run_tool`` activity with
their own timeout and retries; the activity validates their arguments. Whatever goes wrong
— bad arguments, an exception, a timeout — becomes the tool's result for the model, never
a failed turn.

MCP servers' tools come and go while a conversation lasts (a server that was down answers,
one lists new tools), so they are not in the run's config: each turn asks the worker which
it can run (the ``mcp_tools`` local activity, ``refresh``) and offers those. Its result is in
the history, so a replay offers what the turn offered, whatever the servers list by then.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

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
    from switchboard.contract.conversation import TOOL_LOG_CHARS, TOOL_LOG_ENTRIES, ToolCallRecord
    from switchboard.contract.handoff import HandoffRequest
    from switchboard.contract.llm import ToolCall
    from switchboard.contract.names import MCP_TOOLS_ACTIVITY, RUN_TOOL_ACTIVITY
    from switchboard.contract.tools import McpTools, ToolInvocation, ToolPolicy, ToolResult
    from workflows.conversation.base import ACTIVITY_FAILURES, ConversationBase
    from workflows.conversation.callbacks import Callbacks
    from workflows.conversation.handoff import Handoffs
    from workflows.conversation.memory import Memory

PARALLEL_TOOLS_PATCH = "parallel-tools"
TOOL_CAP_PATCH = "tool-call-cap"
MCP_PATCH = "mcp-tools"
"""Runs with it ask for the MCP tools on offer at each turn (only runs of an agent with MCP
servers: no history from before MCP has ``cfg.mcp`` set, but the marker keeps it explicit)."""
_MCP_LIST_TIMEOUT = timedelta(seconds=2)
MAX_CALLS_PER_REPLY = 8
"""Tool calls of one model reply that run; the rest are answered with an error, unrun."""
HANDED_OFF = "handoff"
"""The ``turn_end`` of a round whose ``handoff_to_human`` call handed the conversation over."""


@dataclass
class ToolRound:
    """The results of one reply's tool calls, in call order, and how they end the turn.

    ``turn_end`` is ``"handoff"`` when a call handed the conversation to a human,
    ``"ended: <reason>"`` when ``end_conversation`` was called, else None (the last such
    call of the round wins).
    """

    results: list[str]
    turn_end: str | None = None


class ToolRunner:
    """Offers tools to the model and runs what it calls."""

    def __init__(
        self, conv: ConversationBase, memory: Memory, handoffs: Handoffs, callbacks: Callbacks
    ) -> None:
        self._conv = conv
        self._memory = memory
        self._handoffs = handoffs
        self._callbacks = callbacks
        self._mcp: list[ToolPolicy] = []  # the MCP tools this turn offers (refresh)

    async def refresh(self) -> None:
        """Ask the worker which MCP tools it can run now; the turn offers those.

        A local activity: it reads the worker's catalogue (no request to any server), and its
        result is recorded. If it fails, the turn offers what the previous one did.
        """
        if not self._conv.cfg.mcp or not workflow.patched(MCP_PATCH):
            return
        try:
            found: McpTools = await workflow.execute_local_activity(
                MCP_TOOLS_ACTIVITY,
                result_type=McpTools,
                start_to_close_timeout=_MCP_LIST_TIMEOUT,
                retry_policy=RetryPolicy(maximum_attempts=2),
                summary="mcp tools",
            )
        except ACTIVITY_FAILURES as exc:
            workflow.logger.warning("MCP tools unknown this turn: %s", exc)
            return
        self._mcp = found.tools

    def _policies(self) -> list[ToolPolicy]:
        """The agent's own tools, then the MCP tools on offer (an own tool's name wins)."""
        own = self._conv.cfg.tools
        if not self._mcp:
            return own
        names = {p.name for p in own}
        return [*own, *(p for p in self._mcp if p.name not in names)]

    def offered(self, channel: Channel) -> list[str]:
        """The tools a turn on ``channel`` offers, in the order the model sees them."""
        names: list[str] = []
        if channel is Channel.VOICE:
            names += VOICE_TOOLS  # send_digits, switch_language, end_conversation (call control)
            if self._memory.enabled():
                names.append(REMEMBER)  # knowledge is already looked up for every utterance
        else:
            if self._memory.enabled():
                names += TEXT_TOOLS
            names.append(END_CONVERSATION)
        names += [HANDOFF_TO_HUMAN, SCHEDULE_CALLBACK]
        if self._callbacks.any_scheduled:
            names.append(CANCEL_CALLBACK)
        names += [p.name for p in self._policies() if channel in p.channels]
        return names

    async def run(
        self, calls: list[ToolCall], channel: Channel, call_sid: str | None = None
    ) -> ToolRound:
        """Run a reply's tool calls side by side; one result per call, in order.

        ``call_sid``: the calls come from a spoken reply on that call (a handoff then ends
        the relay session through the reply's own follow-up).
        """
        refused: list[ToolCall] = []
        if len(calls) > MAX_CALLS_PER_REPLY and workflow.patched(TOOL_CAP_PATCH):
            calls, refused = calls[:MAX_CALLS_PER_REPLY], calls[MAX_CALLS_PER_REPLY:]
            self._conv.note(f"{len(refused)} tool calls refused: more than {MAX_CALLS_PER_REPLY}")
        if not workflow.patched(PARALLEL_TOOLS_PATCH):  # histories from before: one by one
            outcomes = [await self._run_one(call, channel, call_sid) for call in calls]
        else:
            outcomes = list(
                await asyncio.gather(*(self._run_one(call, channel, call_sid) for call in calls))
            )
        too_many = (
            f"Error: at most {MAX_CALLS_PER_REPLY} tool calls run per reply; "
            "call this one again after reading these results."
        )
        outcomes += [(too_many, None) for _ in refused]
        turn_end = None
        for _, ends in outcomes:
            turn_end = ends or turn_end
        results = [result for result, _ in outcomes]
        state = self._conv.state
        state.tool_calls += len(results)
        state.tool_failures += sum(1 for result in results if result.startswith("Error"))
        self._record([*calls, *refused], results)
        return ToolRound(results=results, turn_end=turn_end)

    def _record(self, calls: list[ToolCall], results: list[str]) -> None:
        """Keep the round's calls for operators (the newest ``TOOL_LOG_ENTRIES``, cut short).

        State only, no command: histories from before replay exactly as they ran, and a
        query or the next run shows the calls.
        """
        state = self._conv.state
        now = workflow.now()
        state.tool_log += [
            ToolCallRecord(
                name=call.name[:100],
                arguments=_cut(call.arguments),
                result=_cut(result),
                ok=not result.startswith("Error"),
                turn=state.turn,
                at=now,
            )
            for call, result in zip(calls, results, strict=False)
        ]
        del state.tool_log[:-TOOL_LOG_ENTRIES]

    async def _run_one(
        self, call: ToolCall, channel: Channel, call_sid: str | None
    ) -> tuple[str, str | None]:
        """Run one tool call: its result for the model, and how it ends the turn, if it does."""
        if call.name not in BUILTIN_TOOLS:
            return await self._agent_tool(call, channel), None
        try:
            args = parse_arguments(call)
        except InvalidToolArguments as exc:
            self._conv.note(f"tool call refused: {exc}")
            return f"Error: {exc}", None
        if call.name not in TEXT_TOOLS:  # the memory tools note what they did themselves
            self._conv.note(f"tool {call.name}({call.arguments})")
        if isinstance(args, HandoffArgs):
            request = HandoffRequest(reason=args.reason, source="tool", call_sid=call_sid)
            if self._handoffs.request(request):
                return (
                    "A human agent has been asked to take over. Tell the customer so.",
                    HANDED_OFF,
                )
            return "The conversation is already with a human.", None
        if isinstance(args, EndConversationArgs):
            return (
                "The conversation will end after your reply. Say goodbye.",
                f"ended: {args.reason}",
            )
        try:
            if isinstance(args, ScheduleCallbackArgs):
                return await self._callbacks.schedule(args), None
            if isinstance(args, CancelCallbackArgs):
                return await self._callbacks.cancel(args.callback_id), None
            return await self._memory.run_tool(call, args), None
        except ACTIVITY_FAILURES as exc:
            workflow.logger.warning("tool %s failed: %s", call.name, exc)
            return f"Error: {call.name} is unavailable right now", None
        except workflow.NondeterminismError:
            raise
        except Exception as exc:  # a bug in a built-in must not fail the workflow task
            workflow.logger.error("tool %s broke: %r", call.name, exc)
            return f"Error: {call.name} failed", None

    async def _agent_tool(self, call: ToolCall, channel: Channel) -> str:
        conv = self._conv
        policy = next((p for p in self._policies() if p.name == call.name), None)
        if policy is None or channel not in policy.channels:
            conv.note(f"tool call refused: there is no tool named {call.name!r}")
            return f"Error: there is no tool named {call.name!r}"
        invocation = ToolInvocation(
            name=call.name,
            arguments=call.arguments,
            call_id=call.id,
            conversation_id=workflow.info().workflow_id,
            customer=conv.state.customer,
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
        except ACTIVITY_FAILURES as exc:
            message = _failure_message(exc)
            workflow.logger.warning("tool %s failed: %s", call.name, message)
            conv.note(f"tool {call.name} failed: {message}")
            return f"Error: {call.name} failed: {message}"
        conv.note(
            f"tool {call.name}({call.arguments})"
            + ("" if result.ok else f" refused: {result.content}")
        )
        return result.content


def _cut(text: str) -> str:
    return text if len(text) <= TOOL_LOG_CHARS else text[: TOOL_LOG_CHARS - 1] + "…"


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
