"""A bare `temporal server start-dev` is enough: the worker registers the search attributes."""

from __future__ import annotations

from pathlib import Path

from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from switchboard.contract import search_attributes
from switchboard.devtools.devserver import DevServer
from switchboard.runtime.temporal import ensure_search_attributes
from tests.conftest import running_stack, unique_customer
from tests.support.server import free_port


async def test_worker_registers_missing_attributes_and_conversations_use_them(
    tmp_path: Path,
) -> None:
    bare = DevServer(port=free_port(), ui_port=None, search_attributes=False)
    await bare.start()
    try:
        client = await Client.connect(bare.address, data_converter=pydantic_data_converter)
        request = ListSearchAttributesRequest(namespace="default")
        before = await client.operator_service.list_search_attributes(request)
        assert "CustomerId" not in before.custom_attributes

        added = await ensure_search_attributes(client, "default", search_attributes.ALL)
        assert added == sorted(key.name for key in search_attributes.ALL)
        assert await ensure_search_attributes(client, "default", search_attributes.ALL) == []

        async with running_stack(tmp_path, bare, client) as s:
            customer = unique_customer()
            await s.text(customer, "hello")
            await s.twilio.wait_for_messages(1)

            async def found() -> bool:
                query = f"CustomerId = '{customer}' AND ConversationChannels = 'sms'"
                return len([w async for w in client.list_workflows(query)]) == 1

            await s.eventually(found)
    finally:
        bare.stop()
