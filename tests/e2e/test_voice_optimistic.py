"""``VOICE_RELEASE=optimistic``: a guessed reply is heard before the workflow confirms it.

The gateway starts the model on its guess of the next plan and speaks the tokens at once,
while the ``voice_prompt`` update records the prompt. When the workflow's plan matches the
guess nothing else happens; when it differs (a text arrived in between) the guess is cut
as on an interrupt and the workflow's reply follows, and the turn is recorded as the
caller heard it: the cut guess, then the reply.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.client import Client

from switchboard.contract.conversation import Role
from switchboard.devtools.devserver import DevServer
from tests.conftest import Stack, running_stack, unique_customer
from tests.support.fake_llm import FakeReply, Messages, last_user_text

STALE = "STALE " * 40


@pytest.fixture
async def optimistic(
    tmp_path: Path, temporal_server: DevServer, client: Client
) -> AsyncIterator[Stack]:
    async with running_stack(
        tmp_path, temporal_server, client, voice_release="optimistic"
    ) as stack:
        yield stack


async def test_a_stale_optimistic_reply_is_cut_and_replaced(optimistic: Stack) -> None:
    stack = optimistic
    customer = unique_customer()
    call = await stack.call(customer)
    await asyncio.sleep(0.5)  # the welcome greeting plays; the gateway fetches the context
    stack.llm.responder = lambda messages: FakeReply(text="Hi there.")
    await call.say("Hi")
    assert await call.reply() == "Hi there."

    await stack.text(customer, "Here is my order number: 4521")
    await stack.twilio.wait_for_messages(1)

    def fresh_or_stale(messages: Messages) -> FakeReply:
        fresh = "Here is my order number: 4521" in [str(m.get("content")) for m in messages]
        if fresh:
            return FakeReply(text="Order 4521 found.")
        return FakeReply(text=STALE, token_delay=0.01)  # ~0.4 s: cut long before its end

    stack.llm.responder = fresh_or_stale
    await call.say("Did you get it?")
    cut = await call.reply()  # the guess, spoken at once, then closed when the plan differs
    assert cut and set(cut.split()) == {"STALE"}, cut
    assert len(cut) < len(STALE), "the stale guess was not cut"
    assert await call.reply() == "Order 4521 found."

    async def recorded() -> str:
        view = await stack.describe(customer)
        replies = [e.text for e in view.transcript if e.role is Role.ASSISTANT]
        return replies[-1] if replies and "Order 4521" in replies[-1] else ""

    heard = await stack.eventually(recorded)
    assert heard == cut + "Order 4521 found.", "the turn is recorded as the caller heard it"
    requests = [r for r in stack.llm.requests if last_user_text(r["messages"]) == "Did you get it?"]
    assert len(requests) == 2, "one guessed start, cut; one from the workflow's plan"
    await stack.hang_up(call, customer)
    metrics = (await stack.http.get(f"{stack.gateway_url}/metrics")).text
    assert 'switchboard_voice_turns_total{start="retracted"} 1.0' in metrics


async def test_a_confirmed_optimistic_reply_is_spoken_once_and_recorded(
    optimistic: Stack,
) -> None:
    stack = optimistic
    customer = unique_customer()
    call = await stack.call(customer)
    await asyncio.sleep(0.5)
    for text in ("one", "two", "three"):
        await call.say(text)
        assert await call.reply() == f"echo: {text}"
    assert len(stack.llm.requests) == 3, "every guess was right: one request per turn"
    view = await stack.describe(customer)
    replies = [e.text for e in view.transcript if e.role is Role.ASSISTANT]
    assert replies[-3:] == ["echo: one", "echo: two", "echo: three"]
    await stack.hang_up(call, customer)
    metrics = (await stack.http.get(f"{stack.gateway_url}/metrics")).text
    # The first turn starts early only if the context fetched at connect came back before
    # the caller spoke (it may not on a busy machine); every later one always does.
    assert re.search(r'switchboard_voice_turns_total\{start="speculative"\} [23]\.0', metrics)
    assert "retracted" not in metrics
    assert 'start="abandoned"' not in metrics
