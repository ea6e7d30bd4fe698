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
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from websockets.asyncio.client import ClientConnection, connect

from switchboard.contract.addresses import conversation_id
from switchboard.devtools.devserver import DevServer, detach_and_die_with_parent
from tests.conftest import running_stack, unique_customer
from tests.support.server import free_port

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

# A whole page view (load, the UI's own API calls, rendering) may take a while on a busy
# machine; the page is reloaded now and then in case it rendered before the data was there.
PAGE_TIMEOUT = 60.0
RELOAD_EVERY = 15.0


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("SWITCHBOARD_REQUIRE_CHROMIUM") == "1":
        pytest.fail(f"Chromium is required (SWITCHBOARD_REQUIRE_CHROMIUM=1): {reason}")
    pytest.skip(f"Temporal Web UI test skipped: {reason}")


@pytest.fixture(scope="module")
def chromium() -> str:
    """The Chromium binary; requested first, so a missing browser skips before any server."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found is not None:
            return found
    _unavailable(f"no Chromium on PATH (looked for {', '.join(CHROMIUM_NAMES)})")


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


class Browser:
    """A headless Chromium child process and its one tab, driven over the DevTools protocol."""

    def __init__(self, process: subprocess.Popen[bytes], page: ClientConnection) -> None:
        self.process = process
        self.page = page
        self._ids = itertools.count(1)

    @classmethod
    @contextlib.asynccontextmanager
    async def launch(cls, binary: str, profile: Path) -> AsyncIterator[Browser]:
        """Start Chromium with a fresh profile and connect to its first tab."""
        profile.mkdir(parents=True, exist_ok=True)
        log = profile.parent / f"{profile.name}.log"
        with log.open("ab") as output:
            process = subprocess.Popen(  # noqa: ASYNC220 - returns at once
                [
                    binary, "--headless", "--disable-gpu", "--no-first-run",
                    "--no-default-browser-check", "--disable-dev-shm-usage",
                    # Root (CI containers) cannot use Chromium's sandbox; the page is local.
                    "--no-sandbox",
                    # Port 0: Chromium picks a free one and writes it to DevToolsActivePort.
                    "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
                    f"--user-data-dir={profile}",
                    "about:blank",
                ],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                # Own process group: stopping it stops the renderers and the helpers too,
                # and the distribution's launcher script when there is one.
                preexec_fn=detach_and_die_with_parent,
            )  # fmt: skip
        try:
            url = await cls._page_websocket(process, profile, log)
            async with connect(url, max_size=None, open_timeout=30) as page:
                yield cls(process, page)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    @staticmethod
    async def _page_websocket(
        process: subprocess.Popen[bytes], profile: Path, log: Path, timeout: float = 30.0
    ) -> str:
        """The DevTools websocket URL of the browser's tab, once it is listening."""
        deadline = asyncio.get_running_loop().time() + timeout
        active_port = profile / "DevToolsActivePort"
        async with httpx.AsyncClient(timeout=5) as http:
            while True:
                if process.poll() is not None:
                    output = log.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"Chromium exited with {process.returncode}:\n{output}")
                with contextlib.suppress(OSError, ValueError, httpx.HTTPError):
                    port = int(active_port.read_text().split()[0])
                    targets = (await http.get(f"http://127.0.0.1:{port}/json/list")).json()
                    for target in targets:
                        if target.get("type") == "page":
                            return str(target["webSocketDebuggerUrl"])
                if asyncio.get_running_loop().time() > deadline:
                    raise TimeoutError(f"Chromium's DevTools did not come up within {timeout}s")
                await asyncio.sleep(0.1)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one DevTools command and return its result."""
        request_id = next(self._ids)
        await self.page.send(json.dumps({"id": request_id, "method": method, "params": params}))
        while True:
            # Events (none are enabled, but the protocol may send some) are skipped.
            message = json.loads(await asyncio.wait_for(self.page.recv(), timeout=30))
            if message.get("id") != request_id:
                continue
            if "error" in message:
                raise RuntimeError(f"{method} failed: {message['error']}")
            result: dict[str, Any] = message["result"]
            return result

    async def navigate(self, url: str) -> str | None:
        """Load ``url`` in the tab; the network error, if the page could not load."""
        result = await self.call("Page.navigate", url=url)
        error = result.get("errorText")
        return str(error) if error else None

    async def blank(self, timeout: float = 10.0) -> None:
        """Replace the tab's document by an empty one, and wait until it is replaced."""
        await self.navigate("about:blank")
        deadline = asyncio.get_running_loop().time() + timeout
        while await self.evaluate("location.href") != "about:blank":
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"the tab did not go blank within {timeout}s")
            await asyncio.sleep(0.05)

    async def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression evaluated in the tab."""
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r} raised: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def text(self) -> str:
        """The text the tab renders now, as a person would read it."""
        return str(await self.evaluate("document.body ? document.body.innerText : ''"))


@pytest.fixture(scope="module")
async def browser(
    chromium: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Browser]:
    """One headless Chromium for the module."""
    async with Browser.launch(chromium, tmp_path_factory.mktemp("chromium") / "profile") as b:
        yield b


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
