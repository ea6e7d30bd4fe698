"""Knowledge for a spoken turn, looked up by the gateway while the workflow plans it.

The workflow's plan carries the customer's memory (recalled when the call started); what the
caller just asked is searched here, in parallel with the ``voice_prompt`` update, and the
passages are added to the plan's context before the model starts. A slow or failing store
never holds the caller: past ``timeout`` the turn goes on without knowledge.
"""

from __future__ import annotations

import asyncio

import structlog

from switchboard.contract.voice import VoiceTurnPlan
from switchboard.memory import MemoryStore
from switchboard.memory.context import knowledge_lines
from switchboard.memory.models import Recall
from switchboard.memory.text_search import search_terms

log = structlog.get_logger(__name__)


class KnowledgeLookup:
    """Searches the knowledge base for what a caller said."""

    def __init__(self, store: MemoryStore, *, limit: int = 3, timeout: float = 0.1) -> None:
        self._store = store
        self._limit = limit
        self._timeout = timeout

    async def block(self, text: str) -> str:
        """The knowledge section for ``text`` ("" when nothing matches or the store is slow)."""
        if not search_terms(text):
            return ""
        try:
            hits = await asyncio.wait_for(
                self._store.search_knowledge(text, self._limit), self._timeout
            )
        except Exception as exc:  # TimeoutError included: answer without it
            log.warning("voice_knowledge_skipped", error=repr(exc))
            return ""
        return "\n".join(knowledge_lines(Recall(customer="", knowledge=hits)))


def with_knowledge(plan: VoiceTurnPlan, block: str) -> VoiceTurnPlan:
    """The plan with the knowledge section after the workflow's memory context."""
    if not block:
        return plan
    context = f"{plan.context}\n\n{block}" if plan.context else block
    return plan.model_copy(update={"context": context})
