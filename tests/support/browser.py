"""A headless Chromium driven over the DevTools protocol, for tests of web pages.

Debian's ``chromium`` is enough (no Playwright browser download): the browser runs as a
child process, and one tab is driven over its DevTools WebSocket.
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
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from switchboard.devtools.devserver import detach_and_die_with_parent

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def chromium_unavailable(reason: str) -> NoReturn:
    """Skip the test, or fail it when CI requires a browser (``SWITCHBOARD_REQUIRE_CHROMIUM``)."""
    if os.environ.get("SWITCHBOARD_REQUIRE_CHROMIUM") == "1":
        pytest.fail(f"Chromium is required (SWITCHBOARD_REQUIRE_CHROMIUM=1): {reason}")
    pytest.skip(f"browser test skipped: {reason}")


def find_chromium() -> str:
    """The Chromium binary on PATH (skips or fails the test when there is none)."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found is not None:
            return found
    chromium_unavailable(f"no Chromium on PATH (looked for {', '.join(CHROMIUM_NAMES)})")


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
