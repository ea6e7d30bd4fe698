"""``Analyzer``: runs the operators a request names, concurrently, one result each.

The worker makes one per process from ``load_operators`` and the model client; the
``analyze_conversation`` activity calls ``run`` and stores what it answers. An operator that
fails — the model unavailable or answering nonsense, a function raising, a timeout — gives a
result with ``error`` set; ``run`` itself raises only when it is cancelled.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

import openai
import structlog
from pydantic import ValidationError

from switchboard.contract.intelligence import (
    AnalysisRequest,
    OperatorPolicy,
    OperatorResult,
)
from switchboard.intelligence.model import StructuredModel
from switchboard.intelligence.operator import (
    Operator,
    OperatorContext,
    OperatorError,
    OperatorOutput,
)
from switchboard.intelligence.transcript import CUSTOMER
from switchboard.runtime.config import DEFAULT_LLM_MODEL

log = structlog.get_logger(__name__)

Recall = Callable[[str, str], Awaitable[tuple[str, str]]]
"""``recall(customer, query)`` → (what memory knows of the customer, knowledge passages)."""

MAX_CONCURRENT = 8
"""Operators of one request that run at once: enough for the built-ins, gentle on the model."""
_QUERY_LINES = 3


class Analyzer:
    """Runs operators over conversations (see the module docstring).

    Args:
        operators: every operator this process can run, by unique name.
        client: the model's client; None runs the built-ins offline.
        model: the model to ask (``LLM_MODEL``); None: the common default.
        recall: context for operators that want memory or knowledge.

    Raises:
        ValueError: two operators share a name.
    """

    def __init__(
        self,
        operators: Sequence[Operator],
        client: openai.AsyncOpenAI | None,
        model: str | None,
        recall: Recall | None = None,
    ) -> None:
        self._by_name: dict[str, Operator] = {}
        for operator in operators:
            if operator.name in self._by_name:
                raise ValueError(f"two operators are named {operator.name!r}")
            self._by_name[operator.name] = operator
        self._model = (
            StructuredModel(client, model or DEFAULT_LLM_MODEL) if client is not None else None
        )
        self._recall = recall

    @property
    def operators(self) -> list[Operator]:
        """The operators, in the order given."""
        return list(self._by_name.values())

    def policies(self) -> list[OperatorPolicy]:
        """When the workflow asks for each operator (``IntelligencePolicy.operators``)."""
        return [operator.policy() for operator in self._by_name.values()]

    async def run(self, request: AnalysisRequest) -> list[OperatorResult]:
        """One result per operator of ``request.operators``, in that order.

        The operators run concurrently; each result carries its version, latency, tokens,
        model (None offline) and evidence, or its ``error``.
        """
        chosen = [self._by_name.get(name) for name in request.operators]
        memory, knowledge = await self._context(request, [op for op in chosen if op])
        gate = asyncio.Semaphore(MAX_CONCURRENT)

        async def one(name: str, operator: Operator | None) -> OperatorResult:
            async with gate:
                if operator is None:
                    return _result(request, name, "", error=f"unknown operator {name!r}")
                context = OperatorContext(
                    request=request,
                    model=self._model,
                    memory=memory if operator.wants_memory else "",
                    knowledge=knowledge if operator.wants_knowledge else "",
                )
                return await _run(operator, context)

        runs = (one(name, op) for name, op in zip(request.operators, chosen, strict=True))
        return list(await asyncio.gather(*runs))

    async def _context(self, request: AnalysisRequest, chosen: list[Operator]) -> tuple[str, str]:
        """Memory and knowledge, looked up once for every operator that wants them."""
        if self._recall is None or not any(op.wants_memory or op.wants_knowledge for op in chosen):
            return "", ""
        said = [line.text for line in request.transcript if line.role == CUSTOMER]
        try:
            return await self._recall(request.customer, " ".join(said[-_QUERY_LINES:]))
        except Exception as exc:  # context helps; its absence must not fail the analysis
            log.warning("intelligence_recall_failed", error=f"{type(exc).__name__}: {exc}")
            return "", ""


async def _run(operator: Operator, context: OperatorContext) -> OperatorResult:
    request = context.request
    started = time.perf_counter()
    try:
        output = await asyncio.wait_for(operator.run(context), operator.timeout)
        return _result(request, operator.name, operator.version, output=output, started=started)
    except OperatorError as exc:
        error, model, tokens = str(exc), exc.model, exc.tokens
    except TimeoutError:
        error, model, tokens = f"no result within {operator.timeout:g}s", None, 0
    except ValidationError as exc:  # a result that is not JSON: the operator's bug
        error, model, tokens = f"the result is not JSON: {exc.errors()[0]['msg']}", None, 0
    except Exception as exc:
        log.exception("operator_crashed", operator=operator.name)
        error, model, tokens = f"{type(exc).__name__}: {exc}", None, 0
    log.warning(
        "operator_failed",
        operator=operator.name,
        conversation_id=request.conversation_id,
        error=error,
    )
    return _result(
        request, operator.name, operator.version,
        error=error, model=model, tokens=tokens, started=started,
    )  # fmt: skip


def _result(
    request: AnalysisRequest,
    name: str,
    version: str,
    *,
    output: OperatorOutput | None = None,
    error: str | None = None,
    model: str | None = None,
    tokens: int = 0,
    started: float | None = None,
) -> OperatorResult:
    latency = (time.perf_counter() - started) * 1000 if started is not None else 0.0
    return OperatorResult(
        conversation_id=request.conversation_id,
        run_id=request.run_id,
        customer=request.customer,
        operator=name,
        version=version,
        trigger=request.trigger,
        turns=request.turns,
        result=output.result if output else {},
        evidence=output.evidence if output else [],
        at=datetime.now(UTC),
        model=output.model if output else model,
        latency_ms=round(latency, 3),
        tokens=output.tokens if output else tokens,
        error=error,
    )
