"""An HTTP tool's response body, read up to a byte cap and turned into text for the model.

The model sees at most ``MAX_RESULT_CHARS`` of a result, so reading a whole body first would
let a tool server that answers with hundreds of megabytes exhaust the worker's memory. The
body is streamed instead, and reading stops (and the connection is closed) once
``MAX_RESPONSE_BYTES`` decoded bytes have arrived. Tools ask for an uncompressed body; one
compressed anyway (gzip, deflate) is inflated with the same cap, so a small compressed body
cannot expand without bound either.
"""

from __future__ import annotations

import codecs
import json
import zlib
from dataclasses import dataclass
from typing import Protocol

import httpx

from switchboard.agent.context import MAX_RESULT_CHARS

MAX_RESPONSE_BYTES = 64 * 1024
"""How much of a body is read. Above ``MAX_RESULT_CHARS`` so JSON compaction has room."""

MAX_ERROR_BYTES = 4 * 1024
"""How much of a failed request's body is read: only its start reaches the message."""

CUT = f"… [cut: the response is longer than {MAX_RESPONSE_BYTES:,} bytes]"


class UnreadableBody(Exception):
    """The body is compressed in a way that cannot be decoded here, or corrupt."""


@dataclass(frozen=True)
class Body:
    """The bytes read (decoded from any content encoding), and whether there was more."""

    data: bytes
    truncated: bool


class _Decoder(Protocol):
    def decode(self, data: bytes, room: int) -> bytes:
        """At most ``room`` (> 0) bytes of decoded output for ``data``."""


class _Identity:
    def decode(self, data: bytes, room: int) -> bytes:
        return data[:room]


class _Inflate:
    """gzip or zlib-wrapped deflate, never producing more than it is given room for."""

    def __init__(self) -> None:
        self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 32)  # detects the gzip/zlib header

    def decode(self, data: bytes, room: int) -> bytes:
        try:
            return self._zlib.decompress(data, room)
        except zlib.error as exc:
            raise UnreadableBody("the response is not valid compressed data") from exc


def _decoder(encoding: str) -> _Decoder:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return _Identity()
    if encoding in ("gzip", "x-gzip", "deflate"):
        return _Inflate()
    raise UnreadableBody(f"unsupported response encoding {encoding!r}")


async def read_body(response: httpx.Response, limit: int = MAX_RESPONSE_BYTES) -> Body:
    """Read at most ``limit`` decoded bytes of a streamed response; stop there.

    The caller closes the response (``httpx.AsyncClient.stream``'s block does), which drops
    the connection when the body was not read to its end.

    Raises:
        UnreadableBody: an unsupported or corrupt content encoding.
        httpx.TransportError: the connection failed while reading.
    """
    decoder = _decoder(response.headers.get("content-encoding", ""))
    data = bytearray()
    async for chunk in response.aiter_raw():
        # One byte more than the limit tells a body of exactly ``limit`` bytes from a longer one.
        data += decoder.decode(chunk, limit + 1 - len(data))
        if len(data) > limit:
            return Body(bytes(data[:limit]), truncated=True)
    return Body(bytes(data), truncated=False)


def body_text(response: httpx.Response, body: Body) -> str:
    """The body as text, in the response's charset (UTF-8 when it names none or a bad one)."""
    encoding = response.charset_encoding or "utf-8"
    try:
        codecs.lookup(encoding)
    except LookupError:
        encoding = "utf-8"
    # ``replace``: a cut body may end inside a multi-byte character.
    return body.data.decode(encoding, errors="replace")


def result_content(response: httpx.Response, body: Body) -> str:
    """A successful body as the model gets it: JSON compacted, other text as is, or cut."""
    if not body.data:
        return f"OK (HTTP {response.status_code}, no content)"
    text = body_text(response, body)
    if body.truncated:
        # Said here rather than by the activity's cut, which would count only what was read.
        return text[: MAX_RESULT_CHARS - len(CUT)] + CUT
    if "json" in response.headers.get("content-type", ""):
        try:
            return json.dumps(json.loads(text), ensure_ascii=False, separators=(",", ":"))
        except ValueError:
            pass  # mislabelled: hand over the text
    return text
