"""Python tools: ``@tool`` turns a typed function into a tool the model can call.

The function's signature is the single declaration: its parameters become a pydantic model
(defaults and ``Annotated[..., Field(...)]`` constraints kept), that model gives the JSON
schema the model sees and validates what the model sends, and the docstring gives the
descriptions. Parameters annotated ``ToolContext`` are filled in when the tool runs::

    @tool(timeout=5, retries=1)
    async def check_order_status(order_id: str, ctx: ToolContext) -> str:
        '''Look up where an order is.

Args:
            order_id: the order number, e.g. A1001
        '''
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Annotated, Any, overload

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic.fields import FieldInfo

from switchboard.agent.context import BoundCall, ToolContext
from switchboard.agent.docstrings import parse as parse_docstring
from switchboard.agent.schema import (
    check_name,
    describe,
    function_schema,
    json_object,
    without_titles,
)
from switchboard.contract.addresses import Channel

DEFAULT_TIMEOUT = 10.0
"""Seconds one attempt of a tool may take (``ToolPolicy.timeout_seconds``)."""
DEFAULT_RETRIES = 2
"""Attempts after the first when a tool fails; make tools idempotent, or set 0."""
ALL_CHANNELS = (Channel.SMS, Channel.WHATSAPP, Channel.VOICE)


@dataclass(frozen=True)
class FunctionTool:
    """A Python function the model can call. Make one with ``@tool``."""

    name: str
    description: str
    function: Callable[..., Any]
    """The decorated function, unchanged (call it directly in tests)."""
    arguments: type[BaseModel]
    """The model of the arguments the model chooses (context parameters excluded)."""
    parameters: dict[str, str]
    """Field name in ``arguments`` → the function's parameter name."""
    context_parameters: tuple[str, ...] = ()
    timeout: float = DEFAULT_TIMEOUT
    retries: int = DEFAULT_RETRIES
    channels: tuple[Channel, ...] = ALL_CHANNELS
    _schema: dict[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_name(self.name)
        if self.timeout <= 0 or self.retries < 0:
            raise ValueError(f"tool {self.name!r}: timeout must be > 0 and retries >= 0")
        parameters = without_titles(self.arguments.model_json_schema())
        parameters.pop("description", None)
        # Computed once: voice turns build their request on the caller's critical path.
        object.__setattr__(
            self, "_schema", function_schema(self.name, self.description, parameters)
        )

    def schema(self) -> dict[str, Any]:
        """The OpenAI function-tool schema (shared: do not modify it)."""
        return self._schema

    def bind(self, arguments: str) -> BoundCall:
        """Validate the model's JSON arguments; the result runs the function with a context.

        Raises:
            InvalidToolArguments: not a JSON object, or not what the signature accepts.
        """
        try:
            parsed = self.arguments.model_validate(json_object(self.name, arguments))
        except ValidationError as exc:
            raise describe(self.name, exc) from exc
        # Attributes, not ``model_dump``: nested models reach the function as models.
        kwargs = {param: getattr(parsed, name) for name, param in self.parameters.items()}

        async def call(context: ToolContext) -> object:
            full = kwargs | dict.fromkeys(self.context_parameters, context)
            if inspect.iscoroutinefunction(self.function):
                return await self.function(**full)
            # A blocking function must not stall the worker's event loop.
            return await asyncio.to_thread(functools.partial(self.function, **full))

        return call


@overload
def tool(function: Callable[..., Any], /) -> FunctionTool: ...


@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    retries: int = DEFAULT_RETRIES,
    channels: Iterable[Channel | str] | None = None,
) -> Callable[[Callable[..., Any]], FunctionTool]: ...


def tool(
    function: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    retries: int = DEFAULT_RETRIES,
    channels: Iterable[Channel | str] | None = None,
) -> FunctionTool | Callable[[Callable[..., Any]], FunctionTool]:
    """Turn a typed function (async, or sync to run in a thread) into a ``FunctionTool``.

    Use it bare (``@tool``) or with options (``@tool(timeout=5, retries=1)``).

    Args:
        function: the function, when used bare.
        name: the name the model sees; the function's name by default.
        description: what the tool is for; the docstring's first paragraph by default.
        timeout: seconds one attempt may take.
        retries: attempts after a failed first one (0: never retried).
        channels: the channels whose turns may offer the tool; all by default.

    Raises:
        TypeError: a parameter without a type (or with one that cannot be resolved),
            ``*args``/``**kwargs``, positional-only parameters, or no description.
        ValueError: an invalid name, timeout, retries or channel.
    """

    def decorate(function: Callable[..., Any]) -> FunctionTool:
        return _build(
            function,
            name=name,
            description=description,
            timeout=timeout,
            retries=retries,
            channels=tuple(Channel(c) for c in channels) if channels is not None else ALL_CHANNELS,
        )

    return decorate(function) if function is not None else decorate


def _build(
    function: Callable[..., Any],
    *,
    name: str | None,
    description: str | None,
    timeout: float,
    retries: int,
    channels: tuple[Channel, ...],
) -> FunctionTool:
    tool_name = name or function.__name__
    doc = parse_docstring(inspect.getdoc(function))
    summary = description or doc.summary
    if not summary:
        raise TypeError(
            f"tool {tool_name!r} needs a docstring or a description: the model reads it"
        )
    try:
        hints = typing.get_type_hints(function, include_extras=True)
    except NameError as exc:  # e.g. a type defined inside a function, under lazy annotations
        raise TypeError(
            f"tool {tool_name!r}: cannot resolve its annotations ({exc}); "
            "define the types it uses at module level"
        ) from exc
    fields: dict[str, Any] = {}
    parameters: dict[str, str] = {}
    context: list[str] = []
    for param in inspect.signature(function).parameters.values():
        if param.kind not in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
            raise TypeError(
                f"tool {tool_name!r}: parameter {param.name!r} must be passable by name"
            )
        if param.name not in hints:
            raise TypeError(f"tool {tool_name!r}: parameter {param.name!r} needs a type annotation")
        hint = hints[param.name]
        if _is_context(hint):
            context.append(param.name)
            continue
        # Fields get neutral names and the parameter's name as alias, so a parameter may be
        # called ``json``, ``schema`` or ``model_id`` without clashing with BaseModel.
        field_name = f"p{len(fields)}"
        fields[field_name] = _field(hint, param, doc.arguments.get(param.name))
        parameters[field_name] = param.name
    arguments = create_model(
        f"{_camel(tool_name)}Arguments",
        __config__=ConfigDict(extra="forbid"),
        **fields,
    )
    return FunctionTool(
        name=tool_name,
        description=summary,
        function=function,
        arguments=arguments,
        parameters=parameters,
        context_parameters=tuple(context),
        timeout=timeout,
        retries=retries,
        channels=channels,
    )


def _field(hint: Any, param: inspect.Parameter, doc: str | None) -> tuple[Any, Any]:
    """A ``create_model`` field: the annotation (with alias and docstring text) and default.

    Ours goes first among the ``Annotated`` metadata, so a description or alias the author
    wrote in ``Field(...)`` wins over the docstring's.
    """
    base, metadata = hint, ()
    if typing.get_origin(hint) is Annotated:
        base, *rest = typing.get_args(hint)
        metadata = tuple(rest)
    ours = Field(alias=param.name, description=doc) if doc else Field(alias=param.name)
    annotated = Annotated.__class_getitem__((base, ours, *metadata))  # type: ignore[attr-defined]
    if isinstance(param.default, FieldInfo):
        return annotated, param.default
    return annotated, ... if param.default is param.empty else param.default


def _is_context(hint: Any) -> bool:
    """``ToolContext``, or ``ToolContext | None`` (a function that also runs without one)."""
    if hint is ToolContext:
        return True
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return ToolContext in typing.get_args(hint)
    return False


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.replace("-", "_").split("_"))
