"""The console's operator endpoints under ``/api/console``: the inbox and live streams.

``GET /api/console/inbox`` lists open conversations for human agents; its ``/stream`` and
``GET /api/console/conversations/{id}/stream`` push the same JSON as server-sent events
(``event: inbox`` / ``event: conversation`` at once and on every change, ``event: gone``
when a conversation is no more, ``event: error`` while Temporal is down, ``: ping`` between).
The page reads them with ``fetch`` (an ``EventSource`` cannot send the operator's bearer
token) and opens a stream again when it ends (``gateway.console.live.STREAM_SECONDS``).
Actions on a conversation stay with the operator API (``/api/conversations/{id}/…``), so
there is one way to change one. Whenever this gateway signals a conversation (a customer's
text, an operator's action) the inbox stream is hurried for ``INBOX_HURRY_SECONDS``: a
handoff shows in a fraction of a second, not after the rest of a poll interval. A process
serves a bounded number of streams; beyond it a stream answers 503 (the page retries).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Final

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send
from temporalio.client import WorkflowQueryFailedError

from gateway.console.inbox import HumanSide, Inbox, InboxReader
from gateway.console.live import Busy, Event, Feed, Feeds
from gateway.conversations import ConversationGateway, TemporalUnavailable
from gateway.dependencies import ConversationsDep, operator_auth
from switchboard.contract.addresses import InvalidAddress, conversation_id, customer_of
from switchboard.contract.conversation import ConversationStatus
from switchboard.memory import MemoryStore
from switchboard.runtime.config import Settings

router = APIRouter(prefix="/api/console", dependencies=[Depends(operator_auth)], tags=["console"])

INBOX_SECONDS: Final = 0.5
"""The inbox is read this often while anyone watches it (a handoff shows within a second)."""
INBOX_HURRY_SECONDS: Final = 10.0
"""After this gateway signals a conversation, the inbox's human side is probed every
``gateway.console.live.HURRY_STEP`` this long (a model's reply, and its handoff, may take
seconds)."""
INBOX_FEED: Final = "inbox"
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
    """This process's feeds (made on first use; they live with the app).

    Made, they are told of every conversation this gateway signals (see the docstring).
    """
    state = request.app.state
    feeds = getattr(state, "console_feeds", None)
    if not isinstance(feeds, Feeds):
        feeds = state.console_feeds = Feeds()
        made = feeds
        conversations = getattr(state, "conversations", None)
        if isinstance(conversations, ConversationGateway):
            conversations.watch(lambda _: made.hurry(INBOX_FEED, INBOX_HURRY_SECONDS))
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


class _EventStream(StreamingResponse):
    """A feed's stream, closed when the response ends however it ends.

    Starlette stops iterating a body when the client goes, but leaves a generator it
    stopped at a ``yield`` to the garbage collector: the feed would count a listener, and
    poll Temporal for it, until then.
    """

    def __init__(self, body: AsyncGenerator[bytes, None]) -> None:
        super().__init__(body, media_type="text/event-stream", headers=_STREAM_HEADERS)
        self._body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._body.aclose()


def _stream(feed: Feed) -> StreamingResponse:
    return _EventStream(feed.stream())


def _busy(exc: Busy) -> HTTPException:
    return HTTPException(status_code=503, detail=f"{exc}: try again shortly")


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
    seen: HumanSide | None = None  # the human side of the latest poll

    async def poll() -> Event:
        nonlocal seen
        inbox, seen = await reader.read_marked()
        return Event("inbox", inbox.model_dump_json())

    async def probe() -> bool:
        return seen is None or await reader.human_side() != seen

    try:
        feed = _feeds(request).get(INBOX_FEED, poll, lambda _: INBOX_SECONDS, probe=probe)
    except Busy as exc:
        raise _busy(exc) from exc
    return _stream(feed)


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
    except (TemporalUnavailable, WorkflowQueryFailedError):
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

    try:
        feed = _feeds(request).get(f"conversation:{cid}", poll, interval)
    except Busy as exc:
        raise _busy(exc) from exc
    return _stream(feed)
