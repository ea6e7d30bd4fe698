"""The memory side of ``ConversationWorkflow``: recall, the memory tools, the closing record.

Recall runs when a text turn starts (for what the customer just wrote) and when a call leg
starts; its formatted context is kept in the conversation state, so a voice turn's plan
carries it without waiting on anything. ``remember`` and ``search_knowledge`` calls are
validated here and run as activities. When the conversation closes, its summary and
transcript are written to the store, once per run.

Everything here is behind the ``memory`` patch: conversations that started before memory
existed replay exactly as they ran.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.memory import MemoryActivities
    from switchboard.agent.builtins import RememberArgs, SearchKnowledgeArgs
    from switchboard.contract.addresses import channel_address
    from switchboard.contract.conversation import ConversationConfig, ConversationState, Role
    from switchboard.contract.llm import ToolCall
    from switchboard.contract.names import FORGET_SIGNAL
    from switchboard.memory.models import (
        CloseRecordRequest,
        KnowledgeSearchRequest,
        RecallRequest,
        RecallResult,
        RememberRequest,
        TranscriptLine,
    )
    from workflows import state_ops
    from workflows.policies import MEMORY_ACTIVITY, MEMORY_LOCAL_ACTIVITY, RECORD_ACTIVITY

MEMORY_PATCH = "memory"
_Request = TypeVar("_Request")
_Result = TypeVar("_Result")
_FAILURES = (ActivityError, ApplicationError)
_QUERY_CHARS = 1000


class ConversationMemory:
    """Mixed into ``ConversationWorkflow``; owns the conversation's recalled context."""

    _state: ConversationState
    _cfg: ConversationConfig

    _memory_on: bool | None = None

    def _memory_enabled(self) -> bool:
        """Whether this run has memory (the ``memory`` patch); remembered for queries."""
        if self._memory_on is None:
            if workflow.unsafe.is_read_only():  # a query may not mark a patch
                return False
            self._memory_on = workflow.patched(MEMORY_PATCH)
        return self._memory_on

    async def _refresh_memory(self, query: str) -> None:
        """Recall for ``query`` into the state; on failure the previous context stays."""
        request = RecallRequest(customer=self._state.customer, query=query[-_QUERY_CHARS:])
        try:
            result = await self._memory_activity(MemoryActivities.recall_context, request, "recall")
        except _FAILURES as exc:
            workflow.logger.warning("recall failed, answering without it: %s", exc)
            return
        self._apply_recall(result)

    def _apply_recall(self, result: RecallResult) -> None:
        self._state.memory = result.context
        self._state.memory_at = workflow.now()

    async def _memory_tool(self, call: ToolCall, args: BaseModel) -> str:
        """Run ``remember`` or ``search_knowledge`` (arguments already validated)."""
        if isinstance(args, RememberArgs):
            return await self._remember(args)
        if isinstance(args, SearchKnowledgeArgs):
            return await self._memory_activity(
                MemoryActivities.search_knowledge,
                KnowledgeSearchRequest(query=args.query),
                f"search_knowledge {args.query[:60]!r}",
            )
        return f"Error: {call.name} is not available here"

    async def _remember(self, args: RememberArgs) -> str:
        request = RememberRequest(
            customer=self._state.customer,
            conversation_id=workflow.info().workflow_id,
            fact=args.fact,
            trait=args.trait,
            value=args.value,
            at=workflow.now(),
        )
        result = await self._memory_activity(
            MemoryActivities.remember, request, f"remember {args.fact[:60]!r}"
        )
        self._note(f"remembered: {args.fact}")
        return result

    async def _memory_activity(
        self,
        method: Callable[[MemoryActivities, _Request], Awaitable[_Result]],
        request: _Request,
        summary: str,
    ) -> _Result:
        if self._cfg.local_activities:
            return await workflow.execute_local_activity_method(
                method, request, **MEMORY_LOCAL_ACTIVITY, summary=summary
            )
        return await workflow.execute_activity_method(
            method, request, **MEMORY_ACTIVITY, summary=summary
        )

    async def _record_conversation(self) -> None:
        """Write the summary and transcript of this run (once; retried until stored)."""
        state = self._state
        lines = [
            TranscriptLine(role=str(e.role), text=e.text, channel=e.channel, at=e.at)
            for e in state.transcript
            if e.role is not Role.SYSTEM
            and e.text
            and (state.forgotten_at is None or e.at > state.forgotten_at)
        ]
        traits = {"whatsapp_name": state.profile_name} if state.profile_name else {}
        if not lines and not traits:
            return
        request = CloseRecordRequest(
            customer=state.customer,
            conversation_id=workflow.info().workflow_id,
            run_id=workflow.info().run_id,
            closed_at=workflow.now(),
            transcript=lines,
            identifiers=sorted({channel_address(state.customer, c) for c in state.channels}),
            traits=traits,
        )
        try:
            await workflow.execute_activity_method(
                MemoryActivities.record_conversation,
                request,
                **RECORD_ACTIVITY,
                summary="summary and transcript to memory",
            )
        except _FAILURES as exc:
            workflow.logger.error("conversation not recorded in memory: %s", exc)

    @workflow.signal(name=FORGET_SIGNAL)
    def forget(self) -> None:
        """The customer was forgotten: drop what was recalled; record only what follows."""
        self._state.memory = ""
        self._state.profile_name = None
        self._state.forgotten_at = workflow.now()

    def _note(self, text: str) -> None:
        channel = self._state.active_channel
        if channel is not None:
            self._state.transcript.append(state_ops.system_note(text, channel, workflow.now()))
