"""A gateway killed after it signalled the conversation but before it answered Twilio.

The gateway answers an inbound webhook only once its signal-with-start returned, so a
gateway that dies in between leaves Twilio without an answer: Twilio retries the same form
(same ``MessageSid``, same signature), maybe to another gateway, which has never seen it.
The promise: nothing is lost and nothing is duplicated, because the conversation itself
deduplicates by ``MessageSid``.

To land the kill exactly in that window without a hook in product code, the doomed gateway
reaches Temporal through a one-way proxy: once armed, its requests still reach the server,
but the server's answers are swallowed, so the signal lands and the webhook hangs.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from pathlib import Path
from types import TracebackType

import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from switchboard.contract.addresses import conversation_id
from switchboard.contract.names import INBOUND_MESSAGE_SIGNAL
from switchboard.devtools.devserver import DevServer
from switchboard.devtools.twilio_sim import inbound_message_form
from tests.conftest import (
    ACCOUNT_SID,
    BUSINESS_NUMBER,
    OPERATOR_KEY,
    Stack,
    running_stack,
    unique_customer,
)
from tests.support.processes import GatewayProcess
from tests.support.server import free_port

MESSAGING = "/twilio/messaging"


class OneWayProxy:
    """A TCP proxy to Temporal; once ``armed``, it forwards requests but swallows answers.

    ``swallowed`` counts the server→client bytes dropped since, evidence that an answer (the
    signal-with-start's) was on its way and never arrived.
    """

    def __init__(self, upstream: str) -> None:
        host, port = upstream.rsplit(":", 1)
        self._upstream = (host, int(port))
        self.port = free_port()
        self.armed = False
        self.swallowed = 0
        self._server: asyncio.Server | None = None
        self._pumps: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []

    @property
    def address(self) -> str:
        """Where the doomed gateway's ``TEMPORAL_ADDRESS`` points."""
        return f"127.0.0.1:{self.port}"

    async def __aenter__(self) -> OneWayProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None
        self._server.close()
        for pump in self._pumps:
            pump.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)
        for writer in self._writers:
            writer.close()

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(*self._upstream)
        self._writers += [client_w, server_w]
        for pump in (self._pump(client_r, server_w, False), self._pump(server_r, client_w, True)):
            task = asyncio.create_task(pump)
            self._pumps.add(task)
            task.add_done_callback(self._pumps.discard)

    async def _pump(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, answers: bool
    ) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await source.read(65536):
                if answers and self.armed:
                    self.swallowed += len(data)
                    continue
                sink.write(data)
                await sink.drain()
        sink.close()


async def inbound_signals(s: Stack, customer: str) -> int:
    """How many inbound-message signals the customer's conversation has received."""
    handle = s.client.get_workflow_handle(conversation_id(customer))
    history = await handle.fetch_history()
    return sum(
        1
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
        and event.workflow_execution_signaled_event_attributes.signal_name == INBOUND_MESSAGE_SIGNAL
    )


async def test_a_gateway_killed_between_signal_and_answer_loses_and_duplicates_nothing(
    tmp_path: Path, temporal_server: DevServer, client: Client
) -> None:
    async with (
        running_stack(tmp_path, temporal_server, client) as s,
        OneWayProxy(temporal_server.address) as proxy,
    ):
        doomed = GatewayProcess(
            s.settings,
            tmp_path / "doomed-gateway.log",
            TEMPORAL_ADDRESS=proxy.address,  # the way its answers can be held back
            MESSAGE_BATCH_WINDOW="0s",  # as the stack's: it starts the conversation
            GATEWAY_API_KEY=OPERATOR_KEY,
        )
        try:
            doomed.start()
            await doomed.healthy()
            customer, text = unique_customer(), "say this only once"
            form = inbound_message_form(customer, BUSINESS_NUMBER, text, account_sid=ACCOUNT_SID)
            # What Twilio sends, and sends again unchanged when it retries.
            headers = {
                "X-Twilio-Signature": s.webhooks.signature(MESSAGING, form),
                "I-Twilio-Idempotency-Token": uuid.uuid4().hex,
            }
            proxy.armed = True
            async with httpx.AsyncClient(timeout=10) as http:
                first = asyncio.create_task(
                    http.post(f"{doomed.url}{MESSAGING}", data=form, headers=headers)
                )
                # The signal landed: the conversation (on the stack's worker) has the text.
                await s.eventually(s.transcript_mentions(customer, text), timeout=15)
                await asyncio.sleep(0.5)
                assert not first.done(), "the gateway answered: the kill would miss the window"
                assert proxy.swallowed > 0, "no answer from Temporal was held back"
                doomed.kill()
                with pytest.raises(httpx.TransportError):
                    await first  # Twilio never got its 200, so it retries

            retry = await s.webhooks.post(
                MESSAGING, form, signature=headers["X-Twilio-Signature"], headers=headers
            )
            assert retry.status_code == 200, retry.text

            # The retry reached the conversation itself: the dead gateway kept the MessageSid
            # neither in the shared store (it writes it after answering) nor anywhere the
            # other gateway sees, so the conversation's own dedupe is what is tested ...
            async def both_signals_arrived() -> bool:
                return await inbound_signals(s, customer) == 2

            await s.eventually(both_signals_arrived)
            # ... which answered once and recorded the text once.
            [reply] = await s.twilio.wait_for_messages(1, timeout=15)
            assert reply["body"] == f"echo: {text}"
            await asyncio.sleep(2)  # let a duplicate turn, if any, show itself
            assert len(s.twilio.messages) == 1, [m["body"] for m in s.twilio.messages]
            view = await s.describe(customer)
            lines = [(e.role, e.text) for e in view.transcript]
            assert lines == [("customer", text), ("assistant", f"echo: {text}")], lines
            assert len(s.llm.requests) == 1, "the model was asked twice"
        finally:
            doomed.stop()
