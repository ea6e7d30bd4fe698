"""A lean HTTP/1.1 load client for the benchmarks.

``httpx`` spends more CPU per request than the gateway does to answer it once hundreds of
requests are in flight, so the load generator, not the system, became the bottleneck.
This client keeps a fixed pool of keep-alive connections and writes pre-built requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from urllib.parse import urlencode, urlsplit


class RawHttpPool:
    """``connections`` keep-alive HTTP/1.1 connections to one server."""

    def __init__(self, base_url: str, connections: int = 32) -> None:
        parts = urlsplit(base_url)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self._size = connections
        self._idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            asyncio.Queue()
        )

    async def open(self) -> None:
        """Open every connection."""
        for _ in range(self._size):
            self._idle.put_nowait(await asyncio.open_connection(self._host, self._port))

    async def close(self) -> None:
        """Close every idle connection."""
        while not self._idle.empty():
            _, writer = self._idle.get_nowait()
            writer.close()

    def form_post(self, path: str, form: Mapping[str, str], headers: Mapping[str, str]) -> bytes:
        """The bytes of a form-encoded POST."""
        body = urlencode(form).encode()
        head = [f"POST {path} HTTP/1.1", f"Host: {self._host}:{self._port}",
                "Content-Type: application/x-www-form-urlencoded",
                f"Content-Length: {len(body)}"]  # fmt: skip
        head += [f"{name}: {value}" for name, value in headers.items()]
        return ("\r\n".join(head) + "\r\n\r\n").encode() + body

    async def send(self, request: bytes) -> int:
        """Send one request on an idle connection; returns the response status code.

        A connection the server closed while idle (keep-alive timeout) is replaced and the
        request sent again: nothing was read from it, so the server never saw the request.
        """
        reader, writer = await self._idle.get()
        try:
            return await self._exchange(reader, writer, request)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            if isinstance(exc, asyncio.IncompleteReadError) and exc.partial:
                raise
            writer.close()
            reader, writer = await asyncio.open_connection(self._host, self._port)
            return await self._exchange(reader, writer, request)
        finally:
            self._idle.put_nowait((reader, writer))

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
    ) -> int:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        if length:
            await reader.readexactly(length)
        return status
