"""The conversation's memory: recall, the memory tools, the closing record.

Recall runs when a text turn starts (for what the customer just wrote: in the reply's own
activity since the ``recall-in-reply`` patch, one activation fewer a turn) and when a call
leg starts; its formatted context is kept in the conversation state, so a voice turn's plan
carries it without waiting on anything. ``remember`` and ``search_knowledge`` calls (already
validated by the tool runner) run as activities. When the conversation closes, its summary
and transcript are written to the store, once per run.

Everything here is behind the ``memory`` patch: conversations that started before memory
existed replay exactly as they ran.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from pydantic import BaseModel
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.memory import MemoryActivities
    from switchboard.agent.builtins import RememberArgs, SearchKnowledgeArgs
    from switchboard.contract.addresses import channel_address
    from switchboard.contract.conversation import Role
    from switchboard.contract.llm import LLMReply, RecallFirst, ToolCall
    from switchboard.memory.models import (
        CloseRecordRequest,
        KnowledgeSearchRequest,
        RecallRequest,
        RememberRequest,
        TranscriptLine,
    )
    from workflows.conversation.base import ACTIVITY_FAILURES, ConversationBase
    from workflows.policies import MEMORY_ACTIVITY, MEMORY_LOCAL_ACTIVITY, RECORD_ACTIVITY

MEMORY_PATCH = "memory"
_Request = TypeVar("_Request")
_Result = TypeVar("_Result")
_QUERY_CHARS = 1000


FORGET_PATCH = "forget-complete"
"""``forget`` also redacts the run's transcript and cancels its scheduled callbacks."""


class Memory:
    """Recalls, remembers and records for one conversation run."""

    def __init__(self, conv: ConversationBase) -> None:
        self._conv = conv
        self._on: bool | None = None
        self._forgotten_here = False  # ``forget`` redacted this run (see forgotten_completely)

    def enabled(self) -> bool:
        """Whether this run has memory (the ``memory`` patch); remembered for queries."""
        if self._on is None:
            if workflow.unsafe.is_read_only():  # a query may not mark a patch
                return False
            self._on = workflow.patched(MEMORY_PATCH)
        return self._on

    async def refresh(self, query: str, *, regular: bool = False) -> None:
        """Recall for ``query`` into the state; on failure the previous context stays.

        ``regular``: a regular activity even where memory runs as local ones — for a recall
        that handlers wait for. A local activity's result is resolved at once when a history
        is replayed, earlier than it arrived live, so a handler that checks whether it is
        done would decide differently on replay; a regular activity's completion is an event
        of the history, replayed where it happened.
        """
        state = self._conv.state
        request = RecallRequest(customer=state.customer, query=query[-_QUERY_CHARS:])
        forgotten_at = state.forgotten_at
        try:
            result = await self._activity(
                MemoryActivities.recall_context, request, "recall", regular=regular
            )
        except ACTIVITY_FAILURES as exc:
            workflow.logger.warning("recall failed, answering without it: %s", exc)
            return
        self._keep(result.context, forgotten_at)

    def recall_first(self, query: str) -> RecallFirst:
        """Recall for ``query``, asked of the reply's own activity (``LLMRequest.recall``)."""
        conv = self._conv
        return RecallFirst(
            customer=conv.state.customer, query=query[-_QUERY_CHARS:], then=conv.context_tail()
        )

    def keep_recalled(self, reply: LLMReply, forgotten_at: datetime | None) -> None:
        """Keep the context the reply's recall gave, as ``refresh`` keeps its own."""
        if reply.recalled is not None:
            self._keep(reply.recalled, forgotten_at)

    def _keep(self, context: str, forgotten_at: datetime | None) -> None:
        """Keep a recalled ``context``, unless the customer was forgotten since it was asked.

        ``forgotten_at``: the state's when it was asked. What recall found before the store
        let go of a customer must not come back.
        """
        state = self._conv.state
        if state.forgotten_at == forgotten_at:
            state.memory = context
            state.memory_at = workflow.now()

    def forget(self, *, redact: bool = False) -> None:
        """The customer was forgotten: drop what was recalled; record only what follows.

        ``redact``: the run's own transcript goes too — what the customer and the agent said
        so far is neither sent to the model again, nor shown by the API, nor carried into the
        next run (a note says lines were removed, without them).
        """
        state = self._conv.state
        state.memory = ""
        state.profile_name = None
        state.forgotten_at = workflow.now()
        if redact:
            self._forgotten_here = True
            removed = sum(1 for e in state.transcript if e.role is not Role.SYSTEM)
            state.transcript = [e for e in state.transcript if e.role is Role.SYSTEM]
            # Texts not yet answered are the customer's words too: not answered, not carried.
            removed += len(state.pending)
            state.pending = []
            self._conv.note(f"the customer was forgotten: {removed} earlier lines removed")

    def forgotten_completely(self) -> bool:
        """The customer was forgotten in this run (``forget`` with ``redact``): store nothing.

        A flag of the run, not of the state: a later run of the chain stores as usual.
        """
        return self._forgotten_here

    async def run_tool(self, call: ToolCall, args: BaseModel) -> str:
        """Run ``remember`` or ``search_knowledge`` (arguments already validated)."""
        if isinstance(args, RememberArgs):
            return await self._remember(args)
        if isinstance(args, SearchKnowledgeArgs):
            return await self._activity(
                MemoryActivities.search_knowledge,
                KnowledgeSearchRequest(query=args.query),
                "search_knowledge",  # the query is the customer's words: not metadata
            )
        return f"Error: {call.name} is not available here"

    async def _remember(self, args: RememberArgs) -> str:
        request = RememberRequest(
            customer=self._conv.state.customer,
            conversation_id=workflow.info().workflow_id,
            fact=args.fact,
            trait=args.trait,
            value=args.value,
            at=workflow.now(),
        )
        result = await self._activity(MemoryActivities.remember, request, "remember")
        self._conv.note(f"remembered: {args.fact}")
        return result

    async def _activity(
        self,
        method: Callable[[MemoryActivities, _Request], Awaitable[_Result]],
        request: _Request,
        summary: str,
        *,
        regular: bool = False,
    ) -> _Result:
        if self._conv.cfg.local_activities and not regular:
            return await workflow.execute_local_activity_method(
                method, request, **MEMORY_LOCAL_ACTIVITY, summary=summary
            )
        return await workflow.execute_activity_method(
            method, request, **MEMORY_ACTIVITY, summary=summary
        )

    async def record_conversation(self) -> None:
        """Write the summary and transcript of this run (once; retried until stored)."""
        state = self._conv.state
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
            # The chain's first run: the key operator results and facts are stored under too.
            run_id=workflow.info().first_execution_run_id,
            closed_at=workflow.now(),
            transcript=lines,
            identifiers=sorted({channel_address(state.customer, c) for c in state.channels}),
            traits=traits,
            redact_pii="pii" in self._conv.cfg.intelligence.due_on_close(),
        )
        try:
            await workflow.execute_activity_method(
                MemoryActivities.record_conversation,
                request,
                **RECORD_ACTIVITY,
                summary="summary and transcript to memory",
            )
        except ACTIVITY_FAILURES as exc:
            workflow.logger.error("conversation not recorded in memory: %s", exc)
