"""Activities that talk to other conversations through Temporal (a due callback's start)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity
from temporalio.client import Client

from switchboard.contract.conversation import ConversationConfig
from switchboard.contract.names import OUTBOUND_SIGNAL, START_OUTBOUND_ACTIVITY
from switchboard.contract.outbound import OutboundRequest
from workflows.starting import signal_with_start


class ConversationStarter:
    """Starts outbound conversations: signal-with-start on the customer's conversation."""

    def __init__(
        self,
        client: Client,
        task_queue: str,
        config: ConversationConfig,
        task_timeout: timedelta | None = None,
    ) -> None:
        self._client = client
        self._task_queue = task_queue
        self._config = config
        self._task_timeout = task_timeout

    @activity.defn(name=START_OUTBOUND_ACTIVITY)
    async def start_outbound(self, request: OutboundRequest) -> None:
        """Open (or reach) the customer's conversation with an ``outbound`` request.

        A retry is harmless: the conversation ignores a ``request_id`` it has seen.
        """
        await signal_with_start(
            self._client,
            customer=request.to,
            channel=request.channel,
            signal=OUTBOUND_SIGNAL,
            arg=request,
            task_queue=self._task_queue,
            config=self._config,
            task_timeout=self._task_timeout,
        )
