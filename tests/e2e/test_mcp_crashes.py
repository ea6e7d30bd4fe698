"""A worker killed during an MCP call: a read-only call runs again, a changing one never twice.

The MCP server runs in the test process (Streamable HTTP), so it outlives the workers and
counts the calls it received; the workers are ``python worker.py`` subprocesses.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from temporalio.client import Client

from switchboard.devtools.devserver import DevServer
from tests.conftest import running_stack, unique_customer
from tests.support.fake_llm import FakeReply, Messages
from tests.support.mcp_servers import TestServer
from tests.support.processes import Workers


def calling(name: str) -> object:
    """A responder: call ``name`` for order Z9, then answer with its result."""

    def respond(messages: Messages) -> FakeReply:
        if messages[-1]["role"] == "user":
            return FakeReply(text="", tool_calls=[{"name": name, "arguments": {"order_id": "Z9"}}])
        return FakeReply(text=messages[-1]["content"])

    return respond


async def _killed_during(
    tool: str,
    tmp_path: Path,
    temporal_server: DevServer,
    client: Client,
    workers: Workers,
) -> tuple[str, TestServer]:
    """Kill the worker while ``tool``'s first call runs; the reply after a new worker starts."""
    async with TestServer("shop", slow_first=30.0).serving() as shop:
        tools = tmp_path / "tools.json"
        server = {"name": "shop", "url": shop.url, "timeout": "4s", "customer_argument": "customer"}
        tools.write_text(json.dumps({"mcp": [server]}))
        async with running_stack(
            tmp_path, temporal_server, client, worker=False, tools_file=str(tools)
        ) as s:
            s.llm.responder = calling(f"shop__{tool}")  # type: ignore[assignment]
            first = workers.start(s.settings, TOOLS_FILE=str(tools))
            await s.text(unique_customer(), "where is Z9?")
            await asyncio.wait_for(shop.started.wait(), timeout=60)  # the call is at the server
            first.kill()
            workers.start(s.settings, TOOLS_FILE=str(tools))
            [reply] = await s.twilio.wait_for_messages(1, timeout=90)
            await asyncio.sleep(2)  # nothing more may reach the server
            return reply["body"], shop


async def test_a_read_only_call_runs_again_after_its_worker_died(
    tmp_path: Path,
    temporal_server: DevServer,
    client: Client,
    workers: Workers,
) -> None:
    body, shop = await _killed_during("slow_lookup", tmp_path, temporal_server, client, workers)
    assert body == "order Z9 is in the depot"
    assert shop.count("slow_lookup") == 2


async def test_a_call_that_changes_something_never_runs_twice(
    tmp_path: Path,
    temporal_server: DevServer,
    client: Client,
    workers: Workers,
) -> None:
    body, shop = await _killed_during("slow_cancel", tmp_path, temporal_server, client, workers)
    assert body.startswith("Error: shop__slow_cancel failed:")
    assert shop.count("slow_cancel") == 1
