"""Python function operators: your own code over the transcript, answering a dict.

The function takes the transcript (a list of ``AnalysisLine``), or the transcript and the
``OperatorContext`` (the request, recalled memory and knowledge), and returns a JSON-able
dict — or an ``OperatorOutput`` to give evidence too. It may be async; a sync function runs
in a thread, so a slow one never stalls the worker's event loop::

    @function_operator(on="close")
    def message_count(transcript: list[AnalysisLine]) -> dict[str, int]:
        return {"customer_messages": sum(1 for line in transcript if line.role == "customer")}
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, overload

from pydantic import JsonValue, TypeAdapter, ValidationError

from switchboard.intelligence.operator import (
    DEFAULT_TIMEOUT,
    Operator,
    OperatorContext,
    OperatorError,
    OperatorOutput,
    Triggers,
)

_RESULT = TypeAdapter(dict[str, JsonValue])


@dataclass(frozen=True, kw_only=True)
class FunctionOperator(Operator):
    """An operator that is a Python function (see the module docstring).

    Raises:
        TypeError: ``function`` is not callable or takes no positional argument.
    """

    function: Callable[..., Any]

    def __post_init__(self) -> None:
        if not callable(self.function):
            raise TypeError(f"operator {self.name!r}: function must be callable")
        if _positional(self.function) < 1:
            raise TypeError(f"operator {self.name!r}: the function must take the transcript")
        super().__post_init__()

    def definition(self) -> dict[str, Any]:
        """The function's qualified name and a hash of its source, when it can be read."""
        try:
            source = inspect.getsource(self.function)
        except (OSError, TypeError):  # built in, or defined where no source is kept
            source = ""
        return {
            "kind": "function",
            "function": f"{self.function.__module__}.{self.function.__qualname__}",
            "source": hashlib.sha256(source.encode()).hexdigest(),
        }

    async def run(self, context: OperatorContext) -> OperatorOutput:
        """Call the function and check what it answers.

        Raises:
            OperatorError: it answered something other than a JSON-able dict.
        """
        args: tuple[Any, ...] = (context.transcript,)
        if _positional(self.function) >= 2:
            args = (context.transcript, context)
        if inspect.iscoroutinefunction(self.function):
            value = await self.function(*args)
        else:
            value = await asyncio.to_thread(functools.partial(self.function, *args))
            if inspect.isawaitable(value):
                value = await value
        if isinstance(value, OperatorOutput):
            return value
        try:
            return OperatorOutput(result=_RESULT.validate_python(value))
        except ValidationError as exc:
            what = "a dict that is not JSON" if isinstance(value, dict) else type(value).__name__
            message = f"{self.name} returned {what}: operators answer JSON dicts"
            raise OperatorError(message) from exc


@overload
def function_operator(function: Callable[..., Any], /) -> FunctionOperator: ...


@overload
def function_operator(
    *,
    name: str | None = None,
    on: Triggers = "close",
    every: int = 1,
    wants_memory: bool = False,
    wants_knowledge: bool = False,
    version: str = "",
    timeout: float = DEFAULT_TIMEOUT,
) -> Callable[[Callable[..., Any]], FunctionOperator]: ...


def function_operator(
    function: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    on: Triggers = "close",
    every: int = 1,
    wants_memory: bool = False,
    wants_knowledge: bool = False,
    version: str = "",
    timeout: float = DEFAULT_TIMEOUT,
) -> FunctionOperator | Callable[[Callable[..., Any]], FunctionOperator]:
    """Turn a function into a ``FunctionOperator``, bare (``@function_operator``) or with options.

    Args:
        function: the function, when used bare.
        name: the operator's name; the function's name by default.
        on: ``"turn"``, ``"close"`` or both.
        every: on turns, every N customer turns.
        wants_memory: recall what memory knows of the customer into the context.
        wants_knowledge: recall knowledge passages into the context.
        version: the result version; by default a hash of the function's source.
        timeout: seconds one run may take.

    Raises:
        TypeError: not a function of the transcript.
        ValueError: an invalid name, trigger, ``every`` or ``timeout``.
    """

    def decorate(function: Callable[..., Any]) -> FunctionOperator:
        return FunctionOperator(
            name=name or function.__name__,
            function=function,
            on=on,
            every=every,
            wants_memory=wants_memory,
            wants_knowledge=wants_knowledge,
            version=version,
            timeout=timeout,
        )

    return decorate(function) if function is not None else decorate


def _positional(function: Callable[..., Any]) -> int:
    """How many positional arguments the function takes (2 means: all it can be given)."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):  # no signature to read: assume the transcript alone
        return 1
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters):
        return 2
    return sum(1 for p in parameters if p.kind in kinds)
