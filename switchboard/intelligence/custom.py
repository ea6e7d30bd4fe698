"""Custom generative operators: a prompt of your own, answered as text, a label or JSON.

The prompt may hold ``{name}`` placeholders filled from ``parameters``, so one prompt serves
several operators. Each kind's result::

    TextOperator            {"text": "..."}
    ClassificationOperator  {"label": "<one of labels>"}
    JsonOperator            the object your schema (a pydantic model or a JSON Schema) describes

Their default version hashes the definition (prompt, parameters, labels or schema): change
the prompt and the results are a new version, never mixed with the old ones.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import BaseModel, ValidationError

from switchboard.intelligence.generative import Found, GenerativeOperator
from switchboard.intelligence.model import strict_schema, with_evidence
from switchboard.intelligence.operator import OperatorContext

_PLACEHOLDER = re.compile(r"\{([a-zA-Z_][a-zA-Z0-9_]*)\}")

Parameter = str | int | float | bool


@dataclass(frozen=True, kw_only=True)
class PromptOperator(GenerativeOperator):
    """A generative operator with a prompt of its own (see the kinds below).

    Raises:
        ValueError: an empty prompt, a placeholder without a parameter, or a parameter
            the prompt does not use.
    """

    prompt: str
    parameters: Mapping[str, Parameter] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.prompt.strip():
            raise ValueError(f"operator {self.name!r}: the prompt is empty")
        used = set(_PLACEHOLDER.findall(self.prompt))
        if missing := sorted(used - set(self.parameters)):
            raise ValueError(f"operator {self.name!r}: no parameter for {{{missing[0]}}}")
        if unused := sorted(set(self.parameters) - used):
            raise ValueError(
                f"operator {self.name!r}: parameter {unused[0]!r} is not in the prompt"
            )
        object.__setattr__(self, "parameters", dict(self.parameters))
        super().__post_init__()

    def instructions(self) -> str:
        """The prompt with its placeholders filled."""
        return _PLACEHOLDER.sub(lambda m: str(self.parameters[m.group(1)]), self.prompt)

    def definition(self) -> dict[str, Any]:
        """Kind, prompt and parameters (subclasses add what they answer)."""
        return {"kind": type(self).__name__, "prompt": self.prompt, "parameters": self.parameters}


@dataclass(frozen=True, kw_only=True)
class TextOperator(PromptOperator):
    """Answers free text: ``{"text": "..."}``."""

    def instructions(self) -> str:
        """The prompt, then where the answer goes."""
        return f"{super().instructions()}\n\nPut your answer in `text`."

    def answer_schema(self) -> dict[str, Any]:
        """``{"text", "evidence"}``."""
        return with_evidence(
            {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}
        )


@dataclass(frozen=True, kw_only=True)
class ClassificationOperator(PromptOperator):
    """Answers one of ``labels``: ``{"label": "..."}``.

    Raises:
        ValueError: no labels, or a label given twice.
    """

    labels: Sequence[str]

    def __post_init__(self) -> None:
        labels = tuple(self.labels)
        if not labels or any(not label.strip() for label in labels):
            raise ValueError(f"operator {self.name!r}: a classification needs labels")
        if len(set(labels)) != len(labels):
            raise ValueError(f"operator {self.name!r}: a label is given twice")
        object.__setattr__(self, "labels", labels)
        super().__post_init__()

    def instructions(self) -> str:
        """The prompt, then the labels to choose from."""
        choices = ", ".join(self.labels)
        return f"{super().instructions()}\n\nChoose exactly one label for `label`: {choices}."

    def answer_schema(self) -> dict[str, Any]:
        """``{"label": <enum>, "evidence"}``."""
        label = {"type": "string", "enum": list(self.labels)}
        return with_evidence({"type": "object", "properties": {"label": label}})

    def definition(self) -> dict[str, Any]:
        """The prompt's definition and the labels."""
        return {**super().definition(), "labels": list(self.labels)}


@dataclass(frozen=True, kw_only=True)
class JsonOperator(PromptOperator):
    """Answers the object ``schema`` describes: a pydantic model or a JSON Schema (an object).

    The schema is made strict (closed objects, every property required, ``title`` and
    ``default`` dropped) and the answer validated against it; with a pydantic model the
    answer is also validated by the model and stored as its JSON dump. Strict mode wants
    every object's properties declared: a free-form ``dict`` field is refused by the model.

    Raises:
        ValueError: the schema is not a valid JSON Schema of an object with properties.
    """

    schema: type[BaseModel] | Mapping[str, Any]

    def __post_init__(self) -> None:
        schema = self._schema
        if schema.get("type") != "object" or not isinstance(schema.get("properties"), dict):
            raise ValueError(f"operator {self.name!r}: the schema must be an object's")
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            raise ValueError(f"operator {self.name!r}: invalid schema: {exc.message}") from exc
        super().__post_init__()

    @cached_property
    def _schema(self) -> dict[str, Any]:
        if isinstance(self.schema, type) and issubclass(self.schema, BaseModel):
            return strict_schema(self.schema.model_json_schema())
        return strict_schema(dict(self.schema))

    def instructions(self) -> str:
        """The prompt, then the shape of the answer."""
        return f"{super().instructions()}\n\nAnswer with the object the schema describes."

    def answer_schema(self) -> dict[str, Any]:
        """The strict version of ``schema`` (no evidence: the schema is the user's own)."""
        return self._schema

    def read(self, answer: dict[str, Any], context: OperatorContext) -> Found:
        """The answer, validated by the pydantic model when the schema is one.

        Raises:
            ValueError: the model refuses the answer.
        """
        if isinstance(self.schema, type) and issubclass(self.schema, BaseModel):
            try:
                return self.schema.model_validate(answer).model_dump(mode="json"), []
            except ValidationError as exc:
                problems = (
                    f"{'.'.join(str(p) for p in e['loc']) or 'answer'}: {e['msg']}"
                    for e in exc.errors(include_url=False)[:3]
                )
                raise ValueError("; ".join(problems)) from exc
        return answer, []

    def definition(self) -> dict[str, Any]:
        """The prompt's definition and the strict schema."""
        return {**super().definition(), "schema": self._schema}
