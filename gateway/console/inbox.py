"""The human agents' inbox: open conversations, those waiting for a human first.

The inbox is this deployment's: conversations on the gateway's task queue
(``TEMPORAL_TASK_QUEUE``), where it starts every one, not those of another deployment that
shares the namespace (each would see the other's customers, and time out describing them).

Membership and status come from Temporal visibility (the ``ConversationStatus`` search
attribute each conversation upserts when its status changes); the rest — the handoff, the
latest message, the turn — from each conversation's own ``describe`` query. Queries are the
costly part, so a reader keeps each conversation's latest view and describes again only what
may have changed: a conversation new to the list, one whose status changed, any waiting for
or held by a human, and everything while the inbox is small; a large inbox's AI
conversations are described again every ``AI_REFRESH_SECONDS``.

Between reads, ``human_side`` tells cheaply (one visibility call, no query) whether the
conversations waiting for or held by a human changed since a read: the console's inbox feed
asks it often while the gateway has just signalled a conversation (``gateway.console.live``).

A workflow answers a query only between its workflow tasks, and a task that runs local
activities (the model's reply, a recall) holds it for as long as they take. So a read never
waits on a slow ``describe`` for longer than ``READ_WAIT``: the query goes on in the
background and lands in the next read, and the row meanwhile shows its last view with the
status visibility already has (the status a handoff upserts is what the inbox is for).
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Final

import structlog
from pydantic import BaseModel, Field
from temporalio.client import Client, WorkflowExecution, WorkflowQueryFailedError
from temporalio.service import RPCError

from gateway.conversations import unavailable_as_error
from switchboard.contract import search_attributes as sa
from switchboard.contract.addresses import Channel, InvalidAddress, customer_of
from switchboard.contract.conversation import ConversationStatus, ConversationView, Role
from switchboard.contract.handoff import HandoffState
from switchboard.memory import MemoryStore
from workflows.conversation import ConversationWorkflow

log = structlog.get_logger(__name__)

HUMAN_SIDE_LIMIT: Final = 300
"""Conversations waiting for or held by a human the inbox lists (the latest started)."""
AI_LIMIT: Final = 100
"""Conversations with the AI the inbox lists: the most recently started."""
SMALL_INBOX: Final = 50
"""Up to this many open conversations, every one is described on every read."""
AI_REFRESH_SECONDS: Final = 3.0
"""In a larger inbox, an AI conversation's view is at most this old (status changes: at once)."""
DESCRIBE_WAIT: Final = 2.0
"""Seconds a conversation may take to describe itself; then its last view (or visibility's)."""
READ_WAIT: Final = 0.25
"""Seconds a read waits for the queries it started before answering with what it has."""
UNANSWERED_RETRY_SECONDS: Final = 10.0
"""A conversation that did not answer (no worker polls its queue) is asked again this often,
or as soon as visibility shows its status changed."""
DESCRIBE_CONCURRENCY: Final = 16
PROFILE_SECONDS: Final = 10.0
"""How long a customer's name from memory is reused."""
PREVIEW_CHARS: Final = 200

_RUNNING = "WorkflowType = 'ConversationWorkflow' AND ExecutionStatus = 'Running'"
_HUMAN_SIDE = (
    f" AND ({sa.CONVERSATION_STATUS.name} = '{ConversationStatus.HANDOFF_PENDING}'"
    f" OR {sa.CONVERSATION_STATUS.name} = '{ConversationStatus.HUMAN}')"
)
_ORDER: Final = {
    ConversationStatus.HANDOFF_PENDING: 0,
    ConversationStatus.HUMAN: 1,
    ConversationStatus.AI: 2,
}


HumanSide = frozenset[tuple[str, ConversationStatus]]
"""Conversations waiting for or held by a human, by visibility: ``(id, status)`` each."""


class LastMessage(BaseModel):
    """The latest line a person (or the agent) wrote, cut short for a list."""

    role: Role
    text: str = Field(max_length=PREVIEW_CHARS)
    at: datetime


class InboxRow(BaseModel):
    """One open conversation in the inbox."""

    id: str
    customer: str
    status: ConversationStatus
    channels: list[Channel]
    active_channel: Channel | None = None
    last_activity: datetime | None = None
    turn: int = 0
    handoff: HandoffState | None = None
    profile_name: str | None = Field(default=None, description="the name memory knows them by")
    last_message: LastMessage | None = None


class Inbox(BaseModel):
    """``GET /api/console/inbox``: open conversations, those waiting for a human first.

    Waiting for a human (oldest request first), then held by a human, then with the AI
    (each newest activity first).
    """

    conversations: list[InboxRow]


class InboxReader:
    """Reads the inbox, reusing what it described before (see the module docstring)."""

    def __init__(self, client: Client, store: MemoryStore, task_queue: str) -> None:
        self._client = client
        self._store = store
        self._running = _RUNNING
        if task_queue and "'" not in task_queue and "\\" not in task_queue:
            self._running += f" AND TaskQueue = '{task_queue}'"
        self._views: dict[str, tuple[float, ConversationStatus, ConversationView]] = {}
        self._names: dict[str, tuple[float, str | None]] = {}
        self._limit = asyncio.Semaphore(DESCRIBE_CONCURRENCY)
        self._describing: dict[str, asyncio.Task[None]] = {}
        self._unanswered: dict[str, tuple[float, ConversationStatus]] = {}

    async def read(self) -> Inbox:
        """The inbox now.

        Raises:
            TemporalUnavailable: visibility could not be read.
        """
        return (await self.read_marked())[0]

    async def read_marked(self) -> tuple[Inbox, HumanSide]:
        """The inbox now, and the human side it was read from (to compare ``human_side`` with).

        Raises:
            TemporalUnavailable: visibility could not be read.
        """
        with unavailable_as_error():
            listed = await self._list(self._running + _HUMAN_SIDE, HUMAN_SIDE_LIMIT)
            human_side = _human_side(listed)
            for cid, execution in (await self._list(self._running, AI_LIMIT)).items():
                listed.setdefault(cid, execution)
        now = time.monotonic()
        small = len(listed) <= SMALL_INBOX
        started = [
            self._start_describe(e, now)
            for cid, e in listed.items()
            if self._due(cid, e, now, small=small)
        ]
        if started:
            await asyncio.wait(started, timeout=READ_WAIT)
        for gone in set(self._views) - set(listed):
            del self._views[gone]
        for gone in set(self._unanswered) - set(listed):
            del self._unanswered[gone]
        rows = [row for e in listed.values() if (row := await self._row(e)) is not None]
        rows.sort(key=_rank)
        return Inbox(conversations=rows), human_side

    async def human_side(self) -> HumanSide:
        """Visibility's conversations waiting for or held by a human, with their status.

        Raises:
            TemporalUnavailable: visibility could not be read.
        """
        with unavailable_as_error():
            return _human_side(await self._list(self._running + _HUMAN_SIDE, HUMAN_SIDE_LIMIT))

    async def _list(self, query: str, limit: int) -> dict[str, WorkflowExecution]:
        found: dict[str, WorkflowExecution] = {}
        async for execution in self._client.list_workflows(query, limit=limit):
            found.setdefault(execution.id, execution)
        return found

    def _due(self, cid: str, execution: WorkflowExecution, now: float, *, small: bool) -> bool:
        status = _listed_status(execution)
        unanswered = self._unanswered.get(cid)
        # No worker answered for it (all down, or a test's long gone): the query would only
        # wait out DESCRIBE_WAIT again, holding a slot a live conversation needs.
        if (
            unanswered is not None
            and status == unanswered[1]
            and now - unanswered[0] < UNANSWERED_RETRY_SECONDS
        ):
            return False
        cached = self._views.get(cid)
        if cached is None or small:
            return True
        described_at, listed_status, view = cached
        if status != listed_status or status is not ConversationStatus.AI:
            return True
        return view.status is not ConversationStatus.AI or now - described_at >= AI_REFRESH_SECONDS

    def _start_describe(self, execution: WorkflowExecution, now: float) -> asyncio.Task[None]:
        """The conversation's describe query: the one in flight, or a new one."""
        task = self._describing.get(execution.id)
        if task is None:
            task = asyncio.create_task(self._describe(execution, now))
            self._describing[execution.id] = task
            task.add_done_callback(lambda _: self._describing.pop(execution.id, None))
        return task

    async def _describe(self, execution: WorkflowExecution, now: float) -> None:
        handle = self._client.get_workflow_handle_for(ConversationWorkflow.run, execution.id)
        try:
            async with self._limit:
                view = await asyncio.wait_for(
                    handle.query(ConversationWorkflow.describe), DESCRIBE_WAIT
                )
        except (RPCError, WorkflowQueryFailedError, RuntimeError, TimeoutError) as exc:
            # No worker answered in time: the row keeps its last view, or visibility's word.
            if execution.id not in self._unanswered:  # said once, not on every read
                log.info("inbox_not_described", id=execution.id, error=str(exc) or "timeout")
            self._unanswered[execution.id] = (time.monotonic(), _listed_status(execution))
            return
        self._unanswered.pop(execution.id, None)
        self._views[execution.id] = (now, _listed_status(execution), view)

    async def _row(self, execution: WorkflowExecution) -> InboxRow | None:
        cached = self._views.get(execution.id)
        if cached is None:
            return _visibility_row(execution)
        view = cached[2]
        if view.status is ConversationStatus.CLOSED:
            return None  # closing: its run ends in a moment
        status: ConversationStatus = view.status
        if execution.id in self._describing:  # the view is older than visibility's word
            status = _listed_status(execution)
        return InboxRow(
            id=view.id,
            customer=view.customer,
            status=status,
            channels=view.channels,
            active_channel=view.active_channel,
            last_activity=view.last_activity or execution.start_time,
            turn=view.turn,
            handoff=view.handoff,
            profile_name=await self._name(view.customer) or view.profile_name,
            last_message=_last_message(view),
        )

    async def _name(self, customer: str) -> str | None:
        """The customer's ``name`` trait in memory (cached; None when unknown or unreadable)."""
        now = time.monotonic()
        cached = self._names.get(customer)
        if cached is not None and now - cached[0] < PROFILE_SECONDS:
            return cached[1]
        name: str | None = None
        try:
            profile = await self._store.get_profile(customer, limit=1)
        except Exception as exc:  # the inbox still answers without names
            log.warning("inbox_profile_unreadable", error=type(exc).__name__)
        else:
            if profile is not None:
                value = profile.traits.get("name") or profile.traits.get("whatsapp_name")
                name = str(value)[:100] if value else None
        self._names[customer] = (now, name)
        if len(self._names) > 4 * (HUMAN_SIDE_LIMIT + AI_LIMIT):  # customers come and go
            self._names.clear()
        return name


def _human_side(listed: dict[str, WorkflowExecution]) -> HumanSide:
    return frozenset((cid, _listed_status(e)) for cid, e in listed.items())


def _listed_status(execution: WorkflowExecution) -> ConversationStatus:
    raw = execution.typed_search_attributes.get(sa.CONVERSATION_STATUS)
    try:
        return ConversationStatus(raw) if raw else ConversationStatus.AI
    except ValueError:
        return ConversationStatus.AI


def _visibility_row(execution: WorkflowExecution) -> InboxRow | None:
    attributes = execution.typed_search_attributes
    try:
        customer = attributes.get(sa.CUSTOMER_ID) or customer_of(execution.id)
    except InvalidAddress:
        return None
    channels = []
    for raw in attributes.get(sa.CONVERSATION_CHANNELS) or []:
        try:
            channels.append(Channel(raw))
        except ValueError:
            continue
    return InboxRow(
        id=execution.id,
        customer=customer,
        status=_listed_status(execution),
        channels=channels,
        last_activity=execution.start_time,
    )


def _last_message(view: ConversationView) -> LastMessage | None:
    for entry in reversed(view.transcript):
        if entry.role is not Role.SYSTEM and entry.text:
            text = " ".join(entry.text.split())
            if len(text) > PREVIEW_CHARS:
                text = text[: PREVIEW_CHARS - 1] + "…"
            return LastMessage(role=entry.role, text=text, at=entry.at)
    return None


def _rank(row: InboxRow) -> tuple[int, float]:
    """Waiting for a human: oldest request first; the rest: newest activity first."""
    if row.status is ConversationStatus.HANDOFF_PENDING:
        since = row.handoff.requested_at if row.handoff else row.last_activity
        return 0, since.timestamp() if since else 0.0
    latest = row.last_activity.timestamp() if row.last_activity else 0.0
    return _ORDER.get(row.status, 3), -latest
