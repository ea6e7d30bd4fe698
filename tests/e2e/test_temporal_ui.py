"""An operator finds a conversation in the Temporal Web UI by its search attributes.

The test runs a dev server of its own with the Web UI on, starts two conversations through
the real gateway and worker, and opens the UI's workflow list, filtered by a visibility
query, in a headless Chromium. The UI is a single-page app (the list is fetched by its
JavaScript after the page loads), so the browser is driven over the DevTools protocol and
the rendered text is polled until the expected conversation shows up.

Chromium comes from the system (Debian: ``apt-get install chromium``). Without it the test
skips, unless ``SWITCHBOARD_REQUIRE_CHROMIUM=1`` (CI) makes that a failure.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from switchboard.contract.addresses import conversation_id
from switchboard.devtools.devserver import DevServer
from tests.conftest import running_stack, unique_customer
from tests.support.browser import Browser
from tests.support.server import free_port

# A whole page view (load, the UI's own API calls, rendering) may take a while on a busy
# machine; the page is reloaded now and then in case it rendered before the data was there.
PAGE_TIMEOUT = 60.0
RELOAD_EVERY = 15.0


@pytest.fixture(scope="module")
async def ui_server(
    chromium: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[DevServer]:
    """A dev server of this module's own, with the Web UI on a free port.

    The session's server runs headless; the UI is a separate listener of the same process.
    """
    directory = tmp_path_factory.mktemp("temporal-ui")
    server = DevServer(
        port=free_port(),
        ui_port=free_port(),
        db_file=directory / "temporal.db",
        log_file=directory / "temporal.log",
    )
    await server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
async def ui_client(ui_server: DevServer) -> Client:
    """A client of the UI-enabled server."""
    return await Client.connect(ui_server.address, data_converter=pydantic_data_converter)


def workflows_url(server: DevServer, query: str) -> str:
    """The UI's workflow list of the default namespace, filtered by a visibility query."""
    assert server.ui_port is not None
    encoded = urllib.parse.quote(query, safe="")
    return f"http://127.0.0.1:{server.ui_port}/namespaces/default/workflows?query={encoded}"


async def workflow_list(browser: Browser, server: DevServer, query: str, *, showing: str) -> str:
    """The text of the UI's workflow list for ``query``, once it shows ``showing``.

    The list appears only after the UI's JavaScript has asked the server for it, so the
    rendered text is polled; waiting for a workflow that must be listed also proves the list
    has rendered, which is what makes asserting that another one is absent meaningful.
    """
    url = workflows_url(server, query)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PAGE_TIMEOUT
    text = ""
    while loop.time() < deadline:
        # Through a blank page: text left over from the previous list could otherwise pass
        # for this one before the new document replaces it.
        await browser.blank()
        error = await browser.navigate(url)
        reload_at = min(loop.time() + RELOAD_EVERY, deadline)
        while error is None and loop.time() < reload_at:
            text = await browser.text()
            if showing in text:
                return text
            await asyncio.sleep(0.25)
        if error is not None:  # the UI's listener may start a moment after the frontend
            text = f"(navigation failed: {error})"
            await asyncio.sleep(0.5)
    raise AssertionError(
        f"{showing} not listed within {PAGE_TIMEOUT}s at {url}; the page read:\n{text[-3000:]}"
    )


async def test_operator_finds_a_conversation_by_its_search_attributes(
    tmp_path: Path, ui_server: DevServer, ui_client: Client, browser: Browser
) -> None:
    ada = unique_customer()
    bob = unique_customer()
    while bob == ada:
        bob = unique_customer()
    async with running_stack(tmp_path, ui_server, ui_client) as s:
        await s.text(ada, "hello")
        await s.text(bob, "hi there")
        await s.twilio.wait_for_messages(2, timeout=30)

        # The UI reads the same visibility store; waiting here first separates "the server
        # has not indexed it yet" from "the UI does not show it".
        async def indexed() -> bool:
            query = f"CustomerId IN ('{ada}', '{bob}') AND ConversationStatus = 'ai'"
            return len([w async for w in ui_client.list_workflows(query)]) == 2

        await s.eventually(indexed, timeout=30)

    ada_conversation, bob_conversation = conversation_id(ada), conversation_id(bob)

    page = await workflow_list(
        browser, ui_server, f'CustomerId="{ada}" AND ConversationStatus="ai"',
        showing=ada_conversation,
    )  # fmt: skip
    assert bob_conversation not in page

    # Another customer's query does not list Ada's conversation: the filter is applied.
    page = await workflow_list(
        browser, ui_server, f'CustomerId="{bob}" AND ConversationStatus="ai"',
        showing=bob_conversation,
    )  # fmt: skip
    assert ada_conversation not in page

    # Nor does her number with a status she is not in: the status is filtered on too. Bob's
    # branch of the query is there so the page has something to show once it has loaded.
    page = await workflow_list(
        browser, ui_server,
        f'CustomerId="{bob}" OR (CustomerId="{ada}" AND ConversationStatus="closed")',
        showing=bob_conversation,
    )  # fmt: skip
    assert ada_conversation not in page
