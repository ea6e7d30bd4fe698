"""HTTP tools: an endpoint described in configuration becomes a tool the model can call.

The model's arguments are checked against the configured JSON schema (with ``jsonschema``,
so what is validated is exactly what the model was shown), then sent as query parameters
(``GET``) or as a JSON body (other methods). ``{name}`` placeholders in the URL take the
argument of that name. The response comes back to the model as text (JSON compacted).

Failures: a timeout, a connection error, 429 or 5xx is a retryable ``ToolError``; any other
non-2xx answer is a non-retryable one carrying the status and the start of the body, so the
model can tell the customer (an unknown order number, say). The secret of the auth header
is read from an environment variable when the call is made; it is never configured inline.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import field
from functools import cached_property
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlsplit

import httpx
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import BeforeValidator, ConfigDict
from pydantic.dataclasses import dataclass

from switchboard.agent.builtins import InvalidToolArguments
from switchboard.agent.context import BoundCall, ToolContext, ToolError
from switchboard.agent.function_tool import ALL_CHANNELS, DEFAULT_RETRIES, DEFAULT_TIMEOUT
from switchboard.agent.schema import check_name, function_schema, json_object
from switchboard.contract.addresses import Channel

_PLACEHOLDER = re.compile(r"\{([a-zA-Z_][a-zA-Z0-9_]*)\}")
_ERROR_BODY_CHARS = 300
_MAX_ERRORS = 5

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
    value).
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
        for name in _PLACEHOLDER.findall(self.url):
            if name not in properties or name not in required:
                raise ValueError(
                    f"tool {self.name!r}: url placeholder {{{name}}} must be a required parameter"
                )

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
            InvalidToolArguments: not a JSON object, or not valid against ``parameters``.
        """
        values = json_object(self.name, arguments)
        errors = sorted(self._validator.iter_errors(values), key=lambda e: list(e.path))
        if errors:
            problems = [
                f"{'.'.join(str(p) for p in e.path) or 'arguments'}: {e.message}"
                for e in errors[:_MAX_ERRORS]
            ]
            raise InvalidToolArguments(f"{self.name}: {'; '.join(problems)}")

        async def call(context: ToolContext) -> object:
            return await self.request(context.http, values)

        return call

    async def request(self, http: httpx.AsyncClient, values: dict[str, Any]) -> str:
        """Call the endpoint with validated arguments; the response as text for the model.

        Raises:
            ToolError: the endpoint failed (retryable unless it refused the request).
        """
        filled, rest = self._fill_url(values)
        url = httpx.URL(filled)
        body: dict[str, Any] | None = rest
        if self.method == "GET":
            # Merged by hand: httpx's ``params`` would replace a query the URL already has.
            url, body = url.copy_merge_params(_query(rest)), None
        try:
            response = await http.request(
                self.method,
                url,
                json=body,
                headers=self._headers(),
                timeout=self.timeout,
            )
        except httpx.TimeoutException as exc:
            raise ToolError(f"no answer within {self.timeout:g}s") from exc
        except httpx.TransportError as exc:
            raise ToolError(f"could not reach the service ({type(exc).__name__})") from exc
        if response.is_success:
            return _content(response)
        status = response.status_code
        detail = response.text[:_ERROR_BODY_CHARS].strip()
        raise ToolError(
            f"HTTP {status}" + (f": {detail}" if detail else ""),
            non_retryable=not (status == 429 or status >= 500),
        )

    def _fill_url(self, values: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The URL with its placeholders filled (each value escaped), and the other arguments."""
        used = set(_PLACEHOLDER.findall(self.url))
        url = _PLACEHOLDER.sub(lambda m: quote(str(values[m.group(1)]), safe=""), self.url)
        return url, {k: v for k, v in values.items() if k not in used}

    def _headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.auth_env:
            secret = os.environ.get(self.auth_env)
            if not secret:
                raise ToolError(f"{self.auth_env} is not set", non_retryable=True)
            headers[self.auth_header] = f"{self.auth_scheme} {secret}".strip()
        return headers


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


def _content(response: httpx.Response) -> str:
    """The body as the model gets it: JSON re-encoded compactly, anything else as text."""
    if not response.content:
        return f"OK (HTTP {response.status_code}, no content)"
    if "json" in response.headers.get("content-type", ""):
        try:
            return json.dumps(response.json(), ensure_ascii=False, separators=(",", ":"))
        except ValueError:
            pass  # mislabelled: hand over the text
    return response.text
