"""The console's operator endpoints under ``/api/console``: the inbox and live streams.

``GET /api/console/inbox`` lists open conversations for human agents; its ``/stream`` and
``GET /api/console/conversations/{id}/stream`` push the same JSON as server-sent events
(``event: inbox`` / ``event: conversation`` at once and on every change, ``event: gone``
when a conversation is no more, ``event: error`` while Temporal is down, ``: ping`` between).
The page reads them with ``fetch`` (an ``EventSource`` cannot send the operator's bearer
token) and opens a stream again when it ends (``gateway.console.live.STREAM_SECONDS``).
Actions on a conversation stay with the operator API (``/api/conversations/{id}/…``), so
there is one way to change one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Final

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import StreamingResponse

from gateway.console.inbox import Inbox, InboxReader
from gateway.console.live import Event, Feeds
from gateway.conversations import ConversationGateway, TemporalUnavailable
from gateway.dependencies import ConversationsDep, operator_auth
from switchboard.contract.addresses import InvalidAddress, conversation_id, customer_of
from switchboard.contract.conversation import ConversationStatus
from switchboard.memory import MemoryStore
from switchboard.runtime.config import Settings

router = APIRouter(prefix="/api/console", dependencies=[Depends(operator_auth)], tags=["console"])

INBOX_SECONDS: Final = 0.5
"""The inbox is read this often while anyone watches it (a handoff shows within a second)."""
CONVERSATION_SECONDS: Final = 0.3
"""An open conversation is described this often while anyone watches it."""
SETTLED_SECONDS: Final = 3.0
"""A closed (or unknown) conversation is described this often: only a new text reopens it,
and describing a closed run replays its whole history on a worker."""
_STREAM_HEADERS: Final = {
    "Cache-Control": "no-store",
    "X-Accel-Buffering": "no",  # nginx and friends: pass events through as they come
}


def _feeds(request: Request) -> Feeds:
    """This process's feeds (made on first use; they live with the app)."""
    state = request.app.state
    feeds = getattr(state, "console_feeds", None)
    if not isinstance(feeds, Feeds):
        feeds = state.console_feeds = Feeds()
    return feeds


def _inbox_reader(request: Request) -> InboxReader:
    state = request.app.state
    reader = getattr(state, "console_inbox", None)
    if not isinstance(reader, InboxReader):
        conversations: ConversationGateway = state.conversations
        store: MemoryStore = state.store
        settings: Settings = state.settings
        reader = state.console_inbox = InboxReader(
            conversations.client, store, settings.temporal_task_queue
        )
    return reader


def _stream(body: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(body, media_type="text/event-stream", headers=_STREAM_HEADERS)


@router.get("/inbox")
async def inbox(request: Request) -> Inbox:
    """Open conversations: waiting for a human (oldest request first), held by one, the AI's."""
    try:
        return await _inbox_reader(request).read()
    except TemporalUnavailable as exc:
        raise HTTPException(status_code=503, detail=f"Temporal unavailable: {exc}") from exc


@router.get("/inbox/stream")
async def inbox_stream(request: Request) -> StreamingResponse:
    """``event: inbox`` with the inbox at once and whenever it changes (SSE)."""
    reader = _inbox_reader(request)

    async def poll() -> Event:
        return Event("inbox", (await reader.read()).model_dump_json())

    feed = _feeds(request).get("inbox", poll, lambda _: INBOX_SECONDS)
    return _stream(feed.stream())


@router.get("/conversations/{conversation}/stream")
async def conversation_stream(
    conversation: str, request: Request, conversations: ConversationsDep
) -> StreamingResponse:
    """``event: conversation`` with its view at once and on every change (SSE); 404 if none."""
    try:
        cid = conversation_id(customer_of(conversation))
    except InvalidAddress as exc:
        raise HTTPException(status_code=404, detail=f"no conversation {conversation!r}") from exc
    try:
        if await conversations.describe(cid) is None:
            raise HTTPException(status_code=404, detail=f"no conversation {conversation!r}")
    except TemporalUnavailable:
        pass  # the stream says so, and keeps trying

    settled = False  # closed or gone: polled less often

    async def poll() -> Event:
        nonlocal settled
        view = await conversations.describe(cid)
        settled = view is None or view.status is ConversationStatus.CLOSED
        if view is None:
            return Event("gone", "{}")
        return Event("conversation", view.model_dump_json())

    def interval(_: Event) -> float:
        return SETTLED_SECONDS if settled else CONVERSATION_SECONDS

    feed = _feeds(request).get(f"conversation:{cid}", poll, interval)
    return _stream(feed.stream())
