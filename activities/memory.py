"""Memory activities: turn recall, the memory tools, and the record of a closed conversation.

Recall builds the context a turn's model request carries; ``remember`` and
``search_knowledge`` run the built-in tools; ``record_conversation`` writes the summary and
the transcript when a conversation closes.
"""

from __future__ import annotations

import openai
import structlog
from openai.types.chat import ChatCompletion
from temporalio import activity

from activities.heartbeat import heartbeating
from switchboard.contract.intelligence import AnalysisLine
from switchboard.contract.names import (
    RECALL_ACTIVITY,
    RECORD_CONVERSATION_ACTIVITY,
    REMEMBER_ACTIVITY,
    SEARCH_KNOWLEDGE_ACTIVITY,
)
from switchboard.intelligence.pii import detect
from switchboard.memory import MemoryStore
from switchboard.memory.context import format_context
from switchboard.memory.identity import InvalidAddress, parse_identifier
from switchboard.memory.models import (
    CloseRecordRequest,
    ConversationRecord,
    KnowledgeSearchRequest,
    NewObservation,
    RecallQuery,
    RecallRequest,
    RecallResult,
    RememberRequest,
    Summary,
    TranscriptLine,
)
from switchboard.memory.summary import (
    MAX_SUMMARY_CHARS,
    SUMMARY_INSTRUCTIONS,
    fallback_summary,
    transcript_text,
)
from switchboard.memory.text_search import stable_id
from switchboard.runtime.config import Settings

log = structlog.get_logger(__name__)


UNVERIFIED_EMAIL = "unverified_email"
"""The trait an e-mail address the customer claimed is kept under when another profile holds
it (the address stays with that profile; see ``MemoryActivities.remember``)."""


class MemoryActivities:
    """Activities over the worker's memory store (and its model, for summaries)."""

    def __init__(
        self, store: MemoryStore, settings: Settings, client: openai.AsyncOpenAI | None
    ) -> None:
        self._store = store
        self._client = client
        self._model = settings.chat_model

    async def close(self) -> None:
        """Release the model client's connections."""
        if self._client is not None:
            await self._client.close()

    @activity.defn(name=RECALL_ACTIVITY)
    async def recall_context(self, request: RecallRequest) -> RecallResult:
        """Traits, relevant observations, summaries, earlier lines and knowledge, formatted."""
        recall = await self._store.recall(
            RecallQuery(customer=request.customer, query=request.query)
        )
        return RecallResult(context=format_context(recall), known=recall.known)

    @activity.defn(name=REMEMBER_ACTIVITY)
    async def remember(self, request: RememberRequest) -> str:
        """Store the fact once (the same fact again is a no-op), and its trait if given.

        An ``email`` trait also attaches the address to the profile, unless another profile
        holds it: then it is kept as the trait ``unverified_email`` instead.
        """
        fact = " ".join(request.fact.split())
        new = await self._store.add_observation(
            request.customer,
            NewObservation(
                key=stable_id(request.customer, fact.lower()),
                text=fact,
                source="remember",
                at=request.at,
                conversation_ids=[request.conversation_id],
            ),
        )
        if request.trait and request.value:
            trait = request.trait
            if trait == "email" and not await self._claim_email(request, request.value):
                trait = UNVERIFIED_EMAIL
            await self._store.set_trait(
                request.customer, trait, request.value, source="remember", at=request.at
            )
        # The same answer whoever holds an address: the tool must not tell a customer that
        # an address they typed belongs to somebody else's profile.
        return "Saved." if new else "Already known."

    async def _claim_email(self, request: RememberRequest, value: str) -> bool:
        """Attach the address the customer gave; False when another profile holds it.

        Nothing here proves the address is the customer's, so it never moves from the
        profile that holds it: that would hand its history (and a matching e-mail
        channel) to whoever typed it. Text that is not an address stays a plain trait.
        """
        try:
            parse_identifier(value)
        except InvalidAddress:
            return True
        return await self._store.add_identifier(request.customer, value, at=request.at)

    @activity.defn(name=SEARCH_KNOWLEDGE_ACTIVITY)
    async def search_knowledge(self, request: KnowledgeSearchRequest) -> str:
        """The best passages, each with its source in brackets (the tool's result)."""
        hits = await self._store.search_knowledge(request.query, request.limit)
        if not hits:
            return "No matching passages in the knowledge base."
        return "\n\n".join(
            f"[{h.document} > {h.section}] {h.text}" if h.section else f"[{h.document}] {h.text}"
            for h in hits
        )

    @activity.defn(name=RECORD_CONVERSATION_ACTIVITY)
    async def record_conversation(self, request: CloseRecordRequest) -> bool:
        """Summarise the run (the model, else the deterministic fallback) and store it once."""
        for name, value in request.traits.items():
            await self._store.set_trait(
                request.customer, name, value, source="channel", at=request.closed_at
            )
        if not request.transcript:
            return False
        if request.redact_pii:  # the default rule: memory keeps no personal data verbatim
            request = request.model_copy(update={"transcript": redacted(request.transcript)})
        text, source = await self._summarise(request)
        record = ConversationRecord(
            customer=request.customer,
            conversation_id=request.conversation_id,
            run_id=request.run_id,
            closed_at=request.closed_at,
            summary=Summary(
                text=text,
                conversation_id=request.conversation_id,
                at=request.closed_at,
                source=source,
                run_id=request.run_id,
            ),
            transcript=request.transcript,
            identifiers=request.identifiers,
        )
        return await self._store.save_conversation(record)

    async def _summarise(self, request: CloseRecordRequest) -> tuple[str, str]:
        if self._client is None:
            return fallback_summary(request.transcript), "fallback summary"
        body = {
            "model": self._model,
            "messages": [
                {"role": "system", "content": SUMMARY_INSTRUCTIONS},
                {"role": "user", "content": transcript_text(request.transcript)},
            ],
        }
        try:
            async with heartbeating():
                completion = await self._client.post(
                    "/chat/completions", body=body, cast_to=ChatCompletion
                )
            text = (completion.choices[0].message.content or "").strip()
        except (openai.APIError, IndexError) as exc:
            # One try: a summary is worth less than closing on time; the transcript is kept.
            log.warning("summary_failed", conversation_id=request.conversation_id, error=str(exc))
            text = ""
        if not text:
            return fallback_summary(request.transcript), "fallback summary"
        return text[:MAX_SUMMARY_CHARS], "llm summary"


def redacted(lines: list[TranscriptLine]) -> list[TranscriptLine]:
    """The lines with every piece of personal data the PII patterns find as ``[TYPE]``."""
    entities = detect(
        AnalysisLine(index=i, role=line.role, text=line.text, channel=line.channel, at=line.at)
        for i, line in enumerate(lines)
    )
    texts = [line.text for line in lines]
    for entity in sorted(entities, key=lambda e: (e.line.index, -e.start)):
        text = texts[entity.line.index]
        texts[entity.line.index] = (
            f"{text[: entity.start]}[{entity.type.upper()}]{text[entity.end :]}"
        )
    return [line.model_copy(update={"text": text}) for line, text in zip(lines, texts, strict=True)]
