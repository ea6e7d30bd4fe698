"""Asking the model for JSON: Chat Completions with a strict ``json_schema`` response format.

The answer is read from the message content and validated against the same schema the
model was given (``jsonschema``): a strict-mode endpoint should never break it, but many
OpenAI-compatible servers ignore ``response_format`` or honour it loosely. A bad answer is
asked again, with what was wrong, a bounded number of times; so is a transient failure
(429, 5xx, no connection). Anything else, or running out of attempts, is an
``OperatorError`` — an operator result, never an exception out of the analysis.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import openai
from jsonschema import Draft202012Validator
from openai.types.chat import ChatCompletion

from switchboard.intelligence.operator import OperatorError

DEFAULT_RETRIES = 2
"""Attempts after the first when the answer is invalid or the model briefly unavailable."""
TRANSIENT_BACKOFF = 0.25
"""Seconds before a retry after a transient failure, times the attempt number."""

_MAX_PROBLEMS = 3
_DROPPED_KEYWORDS = frozenset({"title", "default"})
"""Keywords pydantic adds that strict mode refuses or that are noise in every prompt."""

EVIDENCE_SCHEMA: dict[str, Any] = {
    "type": "array",
    "description": "the transcript lines the answer rests on: their [index] and exact words",
    "items": {
        "type": "object",
        "properties": {"index": {"type": "integer"}, "quote": {"type": "string"}},
        "required": ["index", "quote"],
        "additionalProperties": False,
    },
}


@dataclass(frozen=True)
class Answer:
    """A valid answer: the JSON object, the model that gave it, and the tokens spent."""

    data: dict[str, Any]
    model: str
    tokens: int


@dataclass(frozen=True)
class StructuredModel:
    """The configured model, asked for schema-shaped JSON."""

    client: openai.AsyncOpenAI
    name: str
    retries: int = DEFAULT_RETRIES

    async def ask(
        self, *, schema_name: str, schema: dict[str, Any], system: str, user: str
    ) -> Answer:
        """Ask until the answer validates against ``schema`` (``retries`` more times at most).

        Raises:
            OperatorError: the model refused the request, or no valid answer came in time.
        """
        validator = Draft202012Validator(schema)
        messages: list[dict[str, str]] = [
            {"role": "system", "content": system},
            {"role": "user", "content": user},
        ]
        response_format = {
            "type": "json_schema",
            "json_schema": {"name": schema_name, "schema": schema, "strict": True},
        }
        model, tokens, problem = self.name, 0, ""
        for attempt in range(self.retries + 1):
            body = {"model": self.name, "messages": messages, "response_format": response_format}
            try:
                # The client's request path without the typed-params walk, as activities/llm.
                completion = await self.client.post(
                    "/chat/completions", body=body, cast_to=ChatCompletion
                )
            except openai.APIStatusError as exc:
                if exc.status_code != 429 and exc.status_code < 500:
                    raise OperatorError(
                        f"the model refused the request: HTTP {exc.status_code}",
                        model=model,
                        tokens=tokens,
                    ) from exc
                problem = f"the model is unavailable: HTTP {exc.status_code}"
                await asyncio.sleep(TRANSIENT_BACKOFF * (attempt + 1))
                continue
            except openai.APIError as exc:  # no connection, a timeout
                problem = f"the model is unavailable: {type(exc).__name__}"
                await asyncio.sleep(TRANSIENT_BACKOFF * (attempt + 1))
                continue
            model = completion.model or model
            tokens += completion.usage.total_tokens if completion.usage else 0
            content, problem = _read(completion, validator)
            if not problem:
                return Answer(data=json.loads(content), model=model, tokens=tokens)
            messages = [
                *messages,
                {"role": "assistant", "content": content},
                {
                    "role": "user",
                    "content": f"That answer is not valid: {problem}. "
                    "Answer again with only a JSON object that matches the schema.",
                },
            ]
        attempts = self.retries + 1
        raise OperatorError(
            f"no valid answer in {attempts} attempts: {problem}", model=model, tokens=tokens
        )


def _read(completion: ChatCompletion, validator: Draft202012Validator) -> tuple[str, str]:
    """The answer's content, and what is wrong with it ("" when it is valid)."""
    if not completion.choices:
        return "", "no choices in the answer"
    message = completion.choices[0].message
    if message.refusal:
        return "", f"the model refused: {message.refusal[:200]}"
    content = (message.content or "").strip()
    try:
        data = json.loads(content)
    except json.JSONDecodeError:
        return content, "the answer is not JSON"
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.path))
    if errors:
        return content, "; ".join(
            f"{'.'.join(str(p) for p in e.path) or 'answer'}: {e.message}"
            for e in errors[:_MAX_PROBLEMS]
        )
    if not isinstance(data, dict):  # only possible with a schema that allows non-objects
        return content, "the answer is not a JSON object"
    return content, ""


def strict_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON Schema as strict mode wants it: closed objects, every property required.

    ``title`` and ``default`` keywords go (strict mode refuses ``default``); an object
    that declares properties gets ``additionalProperties: false`` and all of them required.
    Other keywords are kept, so the answer is validated against all the constraints given.
    """
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DROPPED_KEYWORDS:  # keywords only: a property's name is a key one level down
            continue
        if key in ("properties", "$defs", "definitions", "patternProperties"):
            out[key] = {name: strict_schema(sub) for name, sub in value.items()}
        elif key in ("anyOf", "oneOf", "allOf", "prefixItems") and isinstance(value, list):
            out[key] = [strict_schema(sub) for sub in value]
        elif isinstance(value, dict) and key in ("items", "additionalProperties", "not"):
            out[key] = strict_schema(value)
        else:
            out[key] = value
    if "properties" in out:
        out["required"] = list(out["properties"])
        out["additionalProperties"] = False
    return out


def with_evidence(schema: dict[str, Any]) -> dict[str, Any]:
    """An object schema with an ``evidence`` property added (cited lines)."""
    properties = {**schema["properties"], "evidence": EVIDENCE_SCHEMA}
    return {**schema, "properties": properties, "required": list(properties)}
