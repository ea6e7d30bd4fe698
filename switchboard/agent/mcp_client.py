"""``McpConnection``: one MCP server's session, kept open for as long as the process runs.

The connection runs in the background (``run``): it connects (Streamable HTTP, or a stdio
server it starts), initializes, lists the tools into the agent's ``McpCatalogue``, and then
waits: for the server's ``tools/list_changed`` notification (list again) or, every
``ping_interval``, pings it. A server that is down, refuses, or dies (a stdio process that
exits) has its tools dropped from the catalogue and is tried again with a growing backoff,
so its tools are offered again once it answers. Everything goes through the official
``mcp`` SDK's ``ClientSession``; no protocol is written by hand here.

Logs name the server and the kind of failure; never the headers (they hold secrets), the
arguments or the results (they hold customers' data).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator, Generator
from typing import Any, cast

import anyio
import httpx2
import mcp_types as types
import structlog
from mcp.client._transport import TransportStreams
from mcp.client.session import ClientSession, IncomingMessage
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from switchboard.agent.context import ToolError
from switchboard.agent.mcp_catalogue import McpCatalogue
from switchboard.agent.mcp_http import bounded_http_client
from switchboard.agent.mcp_server import McpServer
from switchboard.agent.mcp_tool import McpTool, UnusableTool

log = structlog.get_logger(__name__)

CUSTOMER_META = "switchboard/customer"
"""The request ``_meta`` key a call carries the caller's number in, for ``customer_header``."""
MAX_TOOLS = 200
"""Tools taken from one server's listing; the rest are ignored (each one goes in prompts)."""
STABLE_SESSION = 30.0
"""Seconds a session must have lasted for its loss to reset the reconnect backoff."""
_MAX_PAGES = 10
_ERROR_CHARS = 500
_RETRYABLE_CODES = frozenset({types.CONNECTION_CLOSED, types.REQUEST_TIMEOUT})


class McpConnection:
    """The session with one MCP server (see the module docstring); ``call`` runs its tools.

    Args:
        server: the server's declaration.
        catalogue: where its tools are listed for the model.
        ping_interval: seconds between liveness checks of an idle session.
        max_backoff: the longest wait between two attempts to connect.
    """

    def __init__(
        self,
        server: McpServer,
        catalogue: McpCatalogue,
        *,
        ping_interval: float = 5.0,
        max_backoff: float = 10.0,
    ) -> None:
        self.server = server
        self._catalogue = catalogue
        self._ping_interval = ping_interval
        self._max_backoff = max_backoff
        self._session: ClientSession | None = None
        self._wake = asyncio.Event()
        self._relist = False
        self._stopping = False
        self._scope: anyio.CancelScope | None = None
        self._secrets = server.secret_values()
        self.ready = asyncio.Event()
        """Set while the session is up and its tools are listed."""

    def stop(self) -> None:
        """Make ``run`` return soon: whatever it waits for is cancelled.

        Through an anyio cancel scope, not ``Task.cancel``: the SDK shields the shutdown of
        a stdio server (close its stdin, then SIGTERM, then SIGKILL) from the former only,
        so the server's process is reaped even when it hangs.
        """
        self._stopping = True
        self._wake.set()
        if self._scope is not None:
            self._scope.cancel()

    async def run(self) -> None:
        """Keep a session with the server until stopped, reconnecting when it is lost."""
        with anyio.CancelScope() as scope:
            self._scope = scope
            if self._stopping:
                scope.cancel()
            await self._reconnecting()

    async def _reconnecting(self) -> None:
        backoff = 0.25
        # The flag as well as the cancellation: a cancellation that lands while the SDK's
        # task groups unwind can be absorbed by them, and the loop must still end.
        while not self._stopping:
            started = anyio.current_time()
            error = "closed"
            try:
                await self._session_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure: the server is unusable until it answers
                error = _kind(exc)
            finally:
                # A session that lasted starts the backoff afresh; one lost as soon as it
                # was up (a server that dies at its first ping) keeps growing it.
                if self.ready.is_set() and anyio.current_time() - started >= STABLE_SESSION:
                    backoff = 0.25
                self._session = None
                self.ready.clear()
                self._catalogue.drop(self.server.name)
            if self._stopping:
                return
            log.warning(
                "mcp_server_unavailable",
                server=self.server.name,
                transport=self.server.transport,
                error=error,
                retry_in=round(backoff, 2),
            )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff)

    async def call(self, tool: str, arguments: dict[str, Any], customer: str) -> str:
        """Call the server's tool; its result as text for the model.

        Raises:
            ToolError: the server is not connected or the connection broke (retryable), or
                the tool reported an error or the server refused the call (not retryable).
        """
        session = self._session
        if session is None:
            raise ToolError(f"{self.server.name} is not reachable right now")
        meta: types.RequestParamsMeta | None = None
        if self.server.customer_header:
            # Moved into the header by _CustomerHeader (the TypedDict allows extra keys).
            meta = cast(types.RequestParamsMeta, {CUSTOMER_META: customer})
        try:
            result = await session.call_tool(
                tool, arguments, read_timeout_seconds=self.server.timeout, meta=meta
            )
        except MCPError as exc:
            retryable = exc.code in _RETRYABLE_CODES
            if exc.code == types.CONNECTION_CLOSED:
                self._wake.set()  # check the session now rather than at the next ping
            message = self._redacted(exc.message)[:_ERROR_CHARS]
            raise ToolError(message, non_retryable=not retryable) from exc
        except (
            OSError,
            httpx2.TransportError,
            anyio.BrokenResourceError,
            anyio.ClosedResourceError,
        ) as exc:
            self._wake.set()
            raise ToolError(f"could not reach {self.server.name} ({type(exc).__name__})") from exc
        except Exception as exc:  # e.g. structured content against its output schema
            # Its text can quote whatever the server sent, at any length: cut and redacted.
            text = self._redacted(f"{type(exc).__name__}: {exc}")[:_ERROR_CHARS]
            raise ToolError(text) from exc
        text = self._redacted(result_text(result))
        if result.is_error:
            raise ToolError(text[:_ERROR_CHARS] or "the tool failed", non_retryable=True)
        return text

    def _redacted(self, text: str) -> str:
        """``text`` without the server's secrets (the values of its ``${VAR}``).

        A server may echo its credentials back (``invalid token Bearer …``), and what the
        model reads it may say to the caller.
        """
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return text

    async def _session_once(self) -> None:
        async with (
            self._transport() as (read, write),
            ClientSession(read, write, message_handler=self._on_message) as session,
        ):
            with anyio.fail_after(max(self.server.timeout, 10.0)):
                await session.initialize()
                await self._list(session)
            self._session = session
            self.ready.set()
            log.info("mcp_server_connected", server=self.server.name)
            while not self._stopping:
                with anyio.move_on_after(self._ping_interval):
                    await self._wake.wait()
                self._wake.clear()
                with anyio.fail_after(max(self.server.timeout, 10.0)):
                    if self._relist:
                        self._relist = False
                        await self._list(session)
                    else:
                        await session.send_ping()

    async def _list(self, session: ClientSession) -> None:
        """List the server's tools (every page) into the catalogue."""
        listed: list[types.Tool] = []
        cursor: str | None = None
        for _ in range(_MAX_PAGES):
            params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
            page = await session.list_tools(params=params)
            listed += page.tools
            cursor = page.next_cursor
            if not cursor or len(listed) >= MAX_TOOLS:
                break
        tools: list[McpTool] = []
        for entry in listed[:MAX_TOOLS]:
            if not self.server.allows(entry.name):
                continue
            hints = entry.annotations
            try:
                tools.append(
                    McpTool.from_listing(
                        self.server,
                        self,
                        name=entry.name,
                        description=entry.description,
                        input_schema=entry.input_schema,
                        read_only=bool(hints and hints.read_only_hint),
                        idempotent=bool(hints and hints.idempotent_hint),
                    )
                )
            except UnusableTool as exc:
                log.warning("mcp_tool_unusable", server=self.server.name, why=str(exc)[:200])
        self._catalogue.replace(self.server.name, tools)
        log.info("mcp_tools_listed", server=self.server.name, tools=[t.name for t in tools])

    async def _on_message(self, message: IncomingMessage) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            self._relist = True
            self._wake.set()
        elif isinstance(message, Exception):
            self._wake.set()  # a transport error: find out now whether the session lives

    @contextlib.asynccontextmanager
    async def _transport(self) -> AsyncIterator[TransportStreams]:
        server = self.server
        if server.url is None:
            assert server.command is not None
            program = server.command[0]
            # "python" is this process's interpreter: the server's imports are then the
            # ones installed beside Switchboard, not whatever python the PATH finds first.
            parameters = StdioServerParameters(
                command=sys.executable if program in ("python", "python3") else program,
                args=server.command[1:],
                env=server.resolved_env() or None,
                cwd=server.cwd,
            )
            async with stdio_client(parameters) as streams:
                yield streams
            return
        auth = _CustomerHeader(server.customer_header) if server.customer_header else None
        http = bounded_http_client(server.resolved_headers(), auth)
        async with http, streamable_http_client(server.url, http_client=http) as streams:
            yield streams


def result_text(result: types.CallToolResult) -> str:
    """A tool's result as the model reads it: its text, or its structured content as JSON."""
    parts: list[str] = []
    for block in result.content:
        if isinstance(block, types.TextContent):
            parts.append(block.text)
        else:  # images, audio, resources: the model on a phone line cannot use them
            parts.append(f"[{block.type}]")
    if not any(part.strip() for part in parts) and result.structured_content is not None:
        return json.dumps(result.structured_content, separators=(",", ":"), default=str)
    return "\n".join(parts)


class _CustomerHeader(httpx2.Auth):
    """Sends the caller's number, carried in a ``tools/call``'s ``_meta``, as a header.

    The number has to travel with its own request: one session (and one HTTP client) serves
    every customer's calls, so it cannot be a header of the client.
    """

    requires_request_body = True

    def __init__(self, header: str) -> None:
        self._header = header

    def auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response]:
        customer = _customer_of(request.content)
        if customer is not None:
            request.headers[self._header] = customer
        yield request


def _customer_of(body: bytes) -> str | None:
    if CUSTOMER_META.encode() not in body:  # the cheap test first: most requests are not calls
        return None
    try:
        message = json.loads(body)
    except ValueError:
        return None
    params = message.get("params") if isinstance(message, dict) else None
    meta = params.get("_meta") if isinstance(params, dict) else None
    value = meta.get(CUSTOMER_META) if isinstance(meta, dict) else None
    return value if isinstance(value, str) else None


def _kind(exc: BaseException) -> str:
    """A failure's kind for the logs: its type, or the first one inside an exception group."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, MCPError):
        return f"MCPError {exc.code}"
    return type(exc).__name__
