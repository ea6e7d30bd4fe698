"""A conversation's life: batching, channels, search attributes, continue-as-new, closing."""

from __future__ import annotations

import asyncio
from pathlib import Path

from temporalio.client import Client, WorkflowExecutionStatus

from switchboard.contract.addresses import Channel, conversation_id
from switchboard.devtools.devserver import DevServer
from tests.conftest import running_stack, unique_customer
from tests.support.fake_llm import FakeReply, last_user_text


async def test_texts_in_quick_succession_get_one_reply(
    tmp_path: Path, temporal_server: DevServer, client: Client
) -> None:
    async with running_stack(tmp_path, temporal_server, client, message_batch_window="1s") as s:
        customer = unique_customer()
        for text in ("hi", "I need help", "with my order"):
            await s.text(customer, text)
            await asyncio.sleep(0.2)
        [reply] = await s.twilio.wait_for_messages(1)
        await asyncio.sleep(1.5)
        assert len(s.twilio.messages) == 1
        final = s.llm.requests[-1]["messages"]
        assert [m["content"] for m in final if m["role"] == "user"] == [
            "hi", "I need help", "with my order",
        ]  # fmt: skip
        assert reply["body"] == "echo: with my order"


async def test_slow_model_folds_texts_that_arrive_while_it_thinks(
    tmp_path: Path, temporal_server: DevServer, client: Client
) -> None:
    async with running_stack(tmp_path, temporal_server, client, message_batch_window="1s") as s:
        s.llm.responder = lambda messages: FakeReply(
            text=f"re: {last_user_text(messages)}", delay=1.5
        )
        customer = unique_customer()
        await s.text(customer, "first")
        await asyncio.sleep(0.5)
        await s.text(customer, "second")
        [reply] = await s.twilio.wait_for_messages(1, timeout=15)
        assert reply["body"] == "re: second"
        await asyncio.sleep(2)
        assert len(s.twilio.messages) == 1


async def test_one_conversation_across_sms_and_whatsapp(
    tmp_path: Path, temporal_server: DevServer, client: Client
) -> None:
    async with running_stack(tmp_path, temporal_server, client) as s:
        customer = unique_customer()
        await s.text(customer, "my name is Ada", channel=Channel.WHATSAPP)
        await s.twilio.wait_for_messages(1)
        await s.text(customer, "what is my name?", channel=Channel.SMS)
        messages = await s.twilio.wait_for_messages(2)
        assert messages[1]["to"] == customer  # answered on the channel just used
        history = [m["content"] for m in s.llm.requests[-1]["messages"] if m["role"] != "system"]
        assert history == ["my name is Ada", "echo: my name is Ada", "what is my name?"]

        async def indexed() -> bool:
            query = (
                f"CustomerId = '{customer}' AND ConversationStatus = 'ai'"
                " AND ConversationChannels = 'whatsapp' AND ConversationChannels = 'sms'"
            )
            found = [w async for w in client.list_workflows(query)]
            return len(found) == 1 and found[0].id == conversation_id(customer)

        await s.eventually(indexed)


async def test_idle_conversation_closes_and_next_text_starts_a_new_run(
    tmp_path: Path, temporal_server: DevServer, client: Client
) -> None:
    async with running_stack(
        tmp_path, temporal_server, client, conversation_idle_timeout="2s"
    ) as s:
        customer = unique_customer()
        await s.text(customer, "hello")
        await s.twilio.wait_for_messages(1)
        handle = client.get_workflow_handle(conversation_id(customer))
        first_run = (await handle.describe()).run_id

        async def closed() -> bool:
            description = await handle.describe()
            return description.status == WorkflowExecutionStatus.COMPLETED

        await s.eventually(closed, timeout=15)
        description = await handle.describe()
        status = description.typed_search_attributes
        assert any(p.key.name == "ConversationStatus" and p.value == "closed" for p in status)

        await s.text(customer, "back again")
        await s.twilio.wait_for_messages(2)
        second = await client.get_workflow_handle(conversation_id(customer)).describe()
        assert second.run_id != first_run
        assert second.status == WorkflowExecutionStatus.RUNNING


async def test_close_signal_from_the_cli_shape(
    tmp_path: Path, temporal_server: DevServer, client: Client
) -> None:
    async with running_stack(tmp_path, temporal_server, client) as s:
        customer = unique_customer()
        await s.text(customer, "hello")
        await s.twilio.wait_for_messages(1)
        cli = temporal_server.command()[0]
        process = await asyncio.create_subprocess_exec(
            cli, "workflow", "signal", "--address", temporal_server.address,
            "-w", conversation_id(customer), "--name", "close", "--input", '{"reason": "done"}',
        )  # fmt: skip
        assert await process.wait() == 0
        result = await client.get_workflow_handle(conversation_id(customer)).result()
        assert result["status"] == "closed"
        assert [e["text"] for e in result["transcript"]] == ["hello", "echo: hello"]


async def test_continue_as_new_keeps_the_conversation(
    tmp_path: Path, temporal_server: DevServer, client: Client
) -> None:
    async with running_stack(
        tmp_path, temporal_server, client, conversation_max_history_events=20
    ) as s:
        customer = unique_customer()
        handle = client.get_workflow_handle(conversation_id(customer))
        for n in range(6):
            await s.text(customer, f"message {n}")
            await s.twilio.wait_for_messages(n + 1)

        async def continued() -> bool:
            # A text racing the continue-as-new makes the server refuse it (UnhandledCommand)
            # and the turn goes first; once the conversation is quiet it continues as new.
            description = await handle.describe()
            first_run = description.raw_description.workflow_execution_info.first_run_id
            return description.run_id != first_run

        await s.eventually(continued)

        async def all_answered() -> bool:
            # The new run may be the one answering the last text (carried as pending): its
            # reply reaches Twilio a moment before the run records it.
            view = await s.describe(customer)
            return len([e for e in view.transcript if e.role == "assistant"]) >= 6

        await s.eventually(all_answered)
        view = await s.describe(customer)
        assert [e.text for e in view.transcript if e.role == "customer"] == [
            f"message {n}" for n in range(6)
        ]
        assert view.turn == 6
        await asyncio.sleep(0.5)
        # Every text answered once, in order, even when a text raced a continue-as-new
        # (the refused completion replays the turn; the outbox reports what was really sent).
        assert [m["body"] for m in s.twilio.messages] == [f"echo: message {n}" for n in range(6)]
        assert [e.text for e in view.transcript if e.role == "assistant"] == [
            f"echo: message {n}" for n in range(6)
        ]
        history = [m["content"] for m in s.llm.requests[-1]["messages"] if m["role"] == "user"]
        assert history[0] == "message 0"
