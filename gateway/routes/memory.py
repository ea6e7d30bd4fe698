"""Operator API for memory and knowledge: profiles (read, forget) and the knowledge base."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel

from gateway.conversations import TemporalUnavailable
from gateway.dependencies import ConversationsDep, PayloadCodecDep, StoreDep, operator_auth
from gateway.forgetting import cancel_callbacks, forget_conversation
from switchboard.contract.addresses import InvalidAddress, customer_of
from switchboard.memory.models import DocumentIn, IngestResult, KnowledgeHit
from switchboard.memory.rendering import profile_json

router = APIRouter(prefix="/api", dependencies=[Depends(operator_auth)], tags=["memory"])


class DocumentInfo(BaseModel):
    """A knowledge document: its name and how many chunks it was split into."""

    name: str
    chunks: int


class Documents(BaseModel):
    """``GET /api/knowledge``: every document, by name."""

    documents: list[DocumentInfo]


class DocumentDeleted(BaseModel):
    """``DELETE /api/knowledge/{name}``."""

    document: str
    deleted: bool = True


class SearchResults(BaseModel):
    """``GET /api/knowledge/search``: chunks, best first, each with its document."""

    results: list[KnowledgeHit]


def _customer(raw: str) -> str:
    try:
        return customer_of(raw)
    except InvalidAddress as exc:
        raise HTTPException(status_code=404, detail=f"no customer {raw!r}") from exc


@router.get("/profiles/{customer}")
async def get_profile(customer: str, store: StoreDep) -> dict[str, Any]:
    """A customer's profile: identifiers, traits, observations and summaries (404 if unknown)."""
    profile = await store.get_profile(_customer(customer))
    if profile is None:
        raise HTTPException(status_code=404, detail=f"no profile for {customer!r}")
    return profile_json(profile)


@router.delete("/profiles/{customer}")
async def forget_profile(
    customer: str, store: StoreDep, conversations: ConversationsDep, codec: PayloadCodecDep
) -> dict[str, Any]:
    """Forget a customer: the profile and everything derived from it (404 if unknown).

    An open conversation is told first: it drops what was recalled and said, cancels its
    callbacks and closes (their next message starts afresh); if Temporal cannot be reached
    nothing is deleted. With payload encryption on, their data keys go too, once that run
    is over, so their histories in Temporal can no longer be read (this process drops its
    cached copies at once).
    """
    number = _customer(customer)
    try:
        conversation = await forget_conversation(conversations.client, number)
        await cancel_callbacks(conversations.client, number)
    except TemporalUnavailable as exc:
        raise HTTPException(
            status_code=503, detail="Temporal unavailable; nothing deleted"
        ) from exc
    # Keys go only when no run of theirs is open (one still needs them to be replayed): a
    # conversation that could not close in time keeps them until the next forget.
    keep_keys = conversation.still_open
    if codec is not None and not keep_keys:
        codec.forget(number)  # before the rows go: this process seals nothing more with them
    forgotten = await store.forget(number, keep_keys=keep_keys)
    if codec is not None and not keep_keys:
        codec.forget(number)  # and after: a lookup in between may have cached one again
    if not forgotten and not conversation.was_open:
        raise HTTPException(status_code=404, detail=f"no profile for {customer!r}")
    if keep_keys:
        return {"customer": number, "forgotten": True, "keys": "kept: a conversation is open"}
    return {"customer": number, "forgotten": True}


@router.post("/knowledge")
async def ingest_document(document: DocumentIn, store: StoreDep) -> IngestResult:
    """Ingest a document, or replace the one with that name (unchanged content: a no-op)."""
    return await store.ingest(document)


@router.get("/knowledge")
async def list_documents(store: StoreDep) -> Documents:
    """Every document in the knowledge base with its chunk count, by name."""
    return Documents(
        documents=[
            DocumentInfo(name=name, chunks=chunks) for name, chunks in await store.documents()
        ]
    )


@router.delete("/knowledge/{name:path}")
async def delete_document(name: str, store: StoreDep) -> DocumentDeleted:
    """Remove a document and its chunks (404 when there is none by that name)."""
    if len(name) > 300 or not await store.delete_document(name):
        raise HTTPException(status_code=404, detail=f"no document {name[:300]!r}")
    return DocumentDeleted(document=name)


@router.get("/knowledge/search")
async def search_knowledge(
    store: StoreDep,
    q: Annotated[str, Query(min_length=1, max_length=500)],
    limit: Annotated[int, Query(ge=1, le=50)] = 5,
) -> SearchResults:
    """Ranked chunks for ``q``, each with its document name and score."""
    return SearchResults(results=await store.search_knowledge(q, limit))
