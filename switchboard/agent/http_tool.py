"""HTTP tools: an endpoint described in configuration becomes a tool the model can call.

The model's arguments are checked against the configured JSON schema (with ``jsonschema``,
so what is validated is exactly what the model was shown), then sent as query parameters
(``GET``) or as a JSON body (other methods). ``{name}`` placeholders in the URL take the
argument of that name; in the path each is exactly one segment (escaped, and never ``.``,
``..``, empty or holding a separator, even percent-encoded), so an argument cannot walk the
request up to another endpoint. The response comes back to the model as text (JSON
compacted), read only up to a byte cap (``http_body``).

Whose call it is comes from the conversation, never from the model: the reserved
``{customer}`` placeholder and the ``customer_header`` option carry the caller's E.164
number, and no argument may be called ``customer``.

Failures: a timeout, a connection error, 429 or 5xx is a retryable ``ToolError``; any other
non-2xx answer is a non-retryable one carrying the status and the start of the body, so the
model can tell the customer (an unknown order number, say). The secret of the auth header
is read from an environment variable when the call is made; it is never configured inline.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from dataclasses import field
from functools import cached_property
from typing import Annotated, Any, Literal
from urllib.parse import quote, unquote, urlsplit

import httpx
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import BeforeValidator, ConfigDict
from pydantic.dataclasses import dataclass

from switchboard.agent.builtins import InvalidToolArguments
from switchboard.agent.context import BoundCall, ToolContext, ToolError
from switchboard.agent.function_tool import ALL_CHANNELS, DEFAULT_RETRIES, DEFAULT_TIMEOUT
from switchboard.agent.http_body import (
    MAX_ERROR_BYTES,
    Body,
    UnreadableBody,
    body_text,
    read_body,
    result_content,
)
from switchboard.agent.schema import check_name, check_schema, function_schema, json_object
from switchboard.contract.addresses import Channel

CUSTOMER = "customer"
"""The reserved placeholder (``{customer}``): the caller's E.164 number, set by the runtime."""

_PLACEHOLDER = re.compile(r"\{([a-zA-Z_][a-zA-Z0-9_]*)\}")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an RFC 9110 token
_ERROR_BODY_CHARS = 300
_NOT_A_SEGMENT = (
    "must be one path segment: not empty, '.' or '..', and without '/' or '\\' "
    "(nor their percent-encoded forms)"
)

Method = Annotated[
    Literal["GET", "POST", "PUT", "PATCH", "DELETE"],
    BeforeValidator(lambda value: value.upper() if isinstance(value, str) else value),
]


def _empty_object() -> dict[str, Any]:
    return {"type": "object", "properties": {}}


@dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class HttpTool:
    """An HTTP endpoint the model can call, declared in code or in ``TOOLS_FILE``.

    ``parameters`` is the JSON schema of the arguments (an object); without
    ``additionalProperties`` it gets ``false``, so the model cannot send the endpoint
    arguments nobody declared. With ``auth_env`` set, each request carries the header
    ``auth_header: "<auth_scheme> <value of $auth_env>"`` (``auth_scheme`` "" for the bare
    value). ``{customer}`` in the URL and ``customer_header`` (a header name) carry the
    caller's E.164 number, so the endpoint can scope what it answers to that customer.
    """

    name: str
    description: str
    url: str
    method: Method = "GET"
    parameters: dict[str, Any] = field(default_factory=_empty_object)
    headers: dict[str, str] = field(default_factory=dict)
    auth_env: str | None = None
    auth_header: str = "Authorization"
    auth_scheme: str = "Bearer"
    customer_header: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    retries: int = DEFAULT_RETRIES
    channels: tuple[Channel, ...] = ALL_CHANNELS

    def __post_init__(self) -> None:
        check_name(self.name)
        if urlsplit(self.url).scheme not in ("http", "https"):
            raise ValueError(f"tool {self.name!r}: url must be http:// or https://")
        if self.timeout <= 0 or self.retries < 0:
            raise ValueError(f"tool {self.name!r}: timeout must be > 0 and retries >= 0")
        if self.parameters.get("type") != "object":
            raise ValueError(f"tool {self.name!r}: parameters must be a JSON schema of type object")
        try:
            Draft202012Validator.check_schema(self.parameters)
        except SchemaError as exc:
            raise ValueError(
                f"tool {self.name!r}: invalid parameters schema: {exc.message}"
            ) from exc
        properties = self.parameters.get("properties", {})
        required = self.parameters.get("required", [])
        if CUSTOMER in properties:
            raise ValueError(
                f"tool {self.name!r}: the parameter name {CUSTOMER!r} is reserved: the "
                "conversation fills {customer} (and customer_header) with the caller's number"
            )
        for name in _PLACEHOLDER.findall(self.url):
            if name != CUSTOMER and (name not in properties or name not in required):
                raise ValueError(
                    f"tool {self.name!r}: url placeholder {{{name}}} must be a required parameter"
                )
        self._check_customer_header()

    def _check_customer_header(self) -> None:
        header = self.customer_header
        if header is None:
            return
        if not _HEADER_NAME.match(header):
            raise ValueError(f"tool {self.name!r}: customer_header must be a header name")
        taken = {name.lower() for name in self.headers}
        if self.auth_env:
            taken.add(self.auth_header.lower())
        if header.lower() in taken:
            raise ValueError(
                f"tool {self.name!r}: customer_header {header!r} is also set by headers "
                "or auth_header"
            )

    @cached_property
    def _segment_placeholders(self) -> frozenset[str]:
        """The placeholders before the query: each must stay one path segment."""
        head = re.split(r"[?#]", self.url, maxsplit=1)[0]
        return frozenset(_PLACEHOLDER.findall(head))

    @cached_property
    def _parameters(self) -> dict[str, Any]:
        return {"additionalProperties": False} | self.parameters

    @cached_property
    def _validator(self) -> Draft202012Validator:
        return Draft202012Validator(self._parameters)

    @cached_property
    def _schema(self) -> dict[str, Any]:
        return function_schema(self.name, self.description, self._parameters)

    def schema(self) -> dict[str, Any]:
        """The OpenAI function-tool schema (shared: do not modify it)."""
        return self._schema

    def bind(self, arguments: str) -> BoundCall:
        """Validate the model's JSON arguments; the result makes the request.

        Raises:
            InvalidToolArguments: not a JSON object, not valid against ``parameters``, an
                argument called ``customer``, or a path placeholder's value that is not one
                path segment.
        """
        values = json_object(self.name, arguments)
        if CUSTOMER in values:  # even with additionalProperties: only the runtime says who
            raise InvalidToolArguments(
                f"{self.name}: {CUSTOMER}: not an argument: the conversation sets it"
            )
        check_schema(self.name, self._validator, values)
        for name in sorted(self._segment_placeholders - {CUSTOMER}):
            if not is_one_segment(str(values[name])):
                raise InvalidToolArguments(f"{self.name}: {name}: {_NOT_A_SEGMENT}")

        async def call(context: ToolContext) -> object:
            return await self.request(context.http, values, customer=context.customer)

        return call

    async def request(
        self, http: httpx.AsyncClient, values: dict[str, Any], *, customer: str
    ) -> str:
        """Call the endpoint with validated arguments for ``customer`` (E.164); text for the model.

        Raises:
            ToolError: the endpoint failed (retryable unless it refused the request), or the
                customer's number cannot go in the path.
        """
        filled, rest = self._fill_url(values, customer)
        url = httpx.URL(filled)
        body: dict[str, Any] | None = rest
        if self.method == "GET":
            # Merged by hand: httpx's ``params`` would replace a query the URL already has.
            url, body = url.copy_merge_params(_query(rest)), None
        headers = self._headers(customer)
        try:
            # Streamed: only the start of the body is ever read (``http_body``).
            async with http.stream(
                self.method, url, json=body, headers=headers, timeout=self.timeout
            ) as response:
                if response.is_success:
                    return result_content(response, await read_body(response))
                error = _failure(response, await read_body(response, MAX_ERROR_BYTES))
        except httpx.TimeoutException as exc:
            raise ToolError(f"no answer within {self.timeout:g}s") from exc
        except httpx.TransportError as exc:
            raise ToolError(f"could not reach the service ({type(exc).__name__})") from exc
        except UnreadableBody as exc:
            raise ToolError(str(exc), non_retryable=True) from exc
        raise error

    def _fill_url(self, values: dict[str, Any], customer: str) -> tuple[str, dict[str, Any]]:
        """The URL with its placeholders filled (each value escaped), and the other arguments."""
        if CUSTOMER in self._segment_placeholders and not is_one_segment(customer):
            raise ToolError(f"{CUSTOMER} {_NOT_A_SEGMENT}", non_retryable=True)
        filled = values | {CUSTOMER: customer}
        used = set(_PLACEHOLDER.findall(self.url))
        # ``safe=""``: a "/" or "?" in a value is escaped, so it stays inside its placeholder.
        url = _PLACEHOLDER.sub(lambda m: quote(str(filled[m.group(1)]), safe=""), self.url)
        return url, {k: v for k, v in values.items() if k not in used and k != CUSTOMER}

    def _headers(self, customer: str) -> httpx.Headers:
        # Uncompressed unless the tool asks otherwise: the body is read up to a byte cap.
        # ``httpx.Headers``: names are replaced case-insensitively, never sent twice.
        headers = httpx.Headers({"Accept-Encoding": "identity"})
        headers.update(self.headers)
        if self.auth_env:
            secret = os.environ.get(self.auth_env)
            if not secret:
                raise ToolError(f"{self.auth_env} is not set", non_retryable=True)
            headers[self.auth_header] = f"{self.auth_scheme} {secret}".strip()
        if self.customer_header:
            headers[self.customer_header] = customer
        return headers


def is_one_segment(value: str) -> bool:
    r"""Whether ``value``, escaped, stays one path segment however a server decodes it.

    Refused: empty, ``.``, ``..``, and anything holding ``/`` or ``\``, checked after
    percent-decoding until nothing changes (``%252e`` is ``%2e`` is ``.`` to a server that
    decodes twice) and after NFKC normalisation (the fullwidth full stop and solidus become
    ``.`` and ``/`` on servers that normalise).
    """
    forms = {value}
    decoded = value
    for _ in range(4):
        decoded, previous = unquote(decoded), decoded
        forms.add(decoded)
        if decoded == previous:
            break
    else:
        return False  # still changing after four decodings: nobody needs that, refuse it
    forms |= {unicodedata.normalize("NFKC", form) for form in forms}
    return not any(form in ("", ".", "..") or "/" in form or "\\" in form for form in forms)


def _failure(response: httpx.Response, body: Body) -> ToolError:
    """A non-2xx answer: 429 and 5xx are worth retrying; the start of the body says why."""
    status = response.status_code
    detail = body_text(response, body)[:_ERROR_BODY_CHARS].strip()
    return ToolError(
        f"HTTP {status}" + (f": {detail}" if detail else ""),
        non_retryable=not (status == 429 or status >= 500),
    )


def _query(values: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """Query parameters: lists repeat the name, objects go as JSON, booleans as true/false."""
    pairs: list[tuple[str, str]] = []
    for name, value in values.items():
        for item in value if isinstance(value, list) else [value]:
            pairs.append((name, _query_value(item)))
    return tuple(pairs)


def _query_value(value: Any) -> str:
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)
