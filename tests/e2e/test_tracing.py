"""One SMS turn, and one call, is one trace: webhook → Temporal → activities → HTTP calls.

The real gateway and worker run with tracing on, exporting to a test OTLP/HTTP collector;
the spans are decoded from the protobuf the collector received.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.client import Client

from switchboard.devtools.devserver import DevServer
from switchboard.runtime.temporal import connect
from switchboard.runtime.tracing import current_tracing, start_tracing, stop_tracing
from tests.conftest import Stack, running_stack, stack_settings, unique_customer
from tests.support.otlp_collector import OtlpCollector, ReceivedSpan

SERVER, CLIENT = 2, 3
"""OTLP's span kinds."""


@pytest.fixture
async def collector() -> AsyncIterator[OtlpCollector]:
    collector = OtlpCollector()
    async with collector.running() as url:
        start_tracing("switchboard-test", endpoint=url)
        try:
            yield collector
        finally:
            # In a thread: the last export waits on the collector, which answers on this loop.
            await asyncio.to_thread(stop_tracing)


@pytest.fixture
async def traced(
    tmp_path: Path, temporal_server: DevServer, collector: OtlpCollector
) -> AsyncIterator[Stack]:
    # The client is made the production way, so it carries the tracing interceptor.
    client: Client = await connect(stack_settings(tmp_path, temporal_server))
    async with running_stack(tmp_path, temporal_server, client) as stack:
        yield stack


def _named(spans: list[ReceivedSpan], name: str) -> list[ReceivedSpan]:
    return [span for span in spans if span.name == name]


def _http_client_spans(spans: list[ReceivedSpan], path_end: str) -> list[ReceivedSpan]:
    return [
        span
        for span in spans
        if span.kind == CLIENT
        and str(span.attributes.get("url.full", span.attributes.get("http.url", ""))).endswith(
            path_end
        )
    ]


async def test_one_sms_turn_is_one_trace(traced: Stack, collector: OtlpCollector) -> None:
    customer = unique_customer()
    words = "my parcel code is zebra-4471"
    await traced.text(customer, words)
    await traced.twilio.wait_for_messages(1)
    await traced.http.get(f"{traced.gateway_url}/healthz")  # probes are not traced

    tracing = current_tracing()
    assert tracing is not None

    async def whole_trace() -> list[ReceivedSpan]:
        # In a thread: the export waits on the collector, which answers on this loop.
        await asyncio.to_thread(tracing.provider.force_flush)
        [webhook] = [
            span
            for span in collector.spans
            if span.kind == SERVER and span.attributes.get("http.route") == "/twilio/messaging"
        ]
        spans = collector.trace(webhook.trace_id)
        wanted = ("RunActivity:generate_reply", "RunActivity:send_message")
        return spans if all(_named(spans, name) for name in wanted) else []

    spans = await traced.eventually(whole_trace, timeout=15)
    names = {span.name for span in spans}
    assert "SignalWithStartWorkflow:ConversationWorkflow" in names
    assert "RunWorkflow:ConversationWorkflow" in names
    assert "StartActivity:generate_reply" in names
    assert "RunActivity:send_message" in names
    assert _http_client_spans(spans, "/v1/chat/completions"), names
    assert _http_client_spans(spans, "/Messages.json"), names

    assert not [s for s in collector.spans if s.attributes.get("http.route") == "/healthz"]
    # Nothing the customer said, and not their number, leaves the process.
    exported = "".join(span.text() for span in collector.spans)
    assert words not in exported
    assert "zebra" not in exported
    assert customer not in exported
    assert customer.removeprefix("+") not in exported
    assert customer[-4:] in exported  # the masked workflow id keeps the last digits


async def test_one_call_is_one_trace(traced: Stack, collector: OtlpCollector) -> None:
    customer = unique_customer()
    call = await traced.call(customer)
    await call.say("When do you open?")
    await call.reply()
    await traced.hang_up(call, customer)

    tracing = current_tracing()
    assert tracing is not None

    async def whole_trace() -> list[ReceivedSpan]:
        await asyncio.to_thread(tracing.provider.force_flush)
        [socket] = [
            span
            for span in collector.spans
            if span.kind == SERVER and span.attributes.get("http.route") == "/twilio/relay"
        ]
        spans = collector.trace(socket.trace_id)
        return spans if _named(spans, "RunActivity:watch_voice_leg") else []

    spans = await traced.eventually(whole_trace, timeout=15)
    names = {span.name for span in spans}
    assert "SignalWithStartWorkflow:ConversationWorkflow" in names  # the socket's setup
    assert {"StartWorkflowUpdate:voice_prompt", "HandleUpdate:voice_prompt"} <= names
    assert {"StartWorkflowUpdate:voice_reply", "HandleUpdate:voice_reply"} <= names
    # The gateway's own leg worker runs its activity in the same trace.
    assert "RunActivity:watch_voice_leg" in names
    # The streamed reply's model call, made by the gateway.
    assert _http_client_spans(spans, "/v1/chat/completions"), names
    exported = "".join(span.text() for span in collector.spans)
    assert "When do you open" not in exported
    assert customer.removeprefix("+") not in exported


async def test_a_later_turn_is_traced_from_its_own_webhook(
    traced: Stack, collector: OtlpCollector
) -> None:
    customer = unique_customer()
    await traced.text(customer, "first")
    await traced.twilio.wait_for_messages(1)
    await traced.text(customer, "second")
    await traced.twilio.wait_for_messages(2)

    tracing = current_tracing()
    assert tracing is not None

    async def second_trace() -> list[ReceivedSpan]:
        await asyncio.to_thread(tracing.provider.force_flush)
        webhooks = [
            span
            for span in collector.spans
            if span.kind == SERVER and span.attributes.get("http.route") == "/twilio/messaging"
        ]
        if len(webhooks) < 2:
            return []
        traces = {span.trace_id for span in webhooks}
        assert len(traces) == 2, "each webhook is a trace of its own"
        second = max(webhooks, key=lambda span: span.start_ns)
        spans = collector.trace(second.trace_id)
        # The activity's span ends after its HTTP call's: wait for both to be exported.
        done = {span.name for span in spans} >= {"RunActivity:send_message"}
        return spans if done and _http_client_spans(spans, "/Messages.json") else []

    spans = await traced.eventually(second_trace, timeout=15)
    names = {span.name for span in spans}
    # The run started with the first message; the second turn's work is in its own trace.
    assert "RunWorkflow:ConversationWorkflow" not in names
    assert {"RunActivity:generate_reply", "RunActivity:send_message"} <= names
    assert _http_client_spans(spans, "/v1/chat/completions"), names
