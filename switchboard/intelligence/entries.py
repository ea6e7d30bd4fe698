"""What an ``INTELLIGENCE_FILE`` entry may say: one pydantic model per kind, plus built-ins.

Every model forbids unknown keys, so a typo is a start-up error naming it. ``build`` makes
the operator, whose own checks (placeholders, labels, patterns, schema) run then.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from switchboard.intelligence.custom import (
    ClassificationOperator,
    JsonOperator,
    Parameter,
    TextOperator,
)
from switchboard.intelligence.matching import DEFAULT_FUZZY, PhraseOperator, RegexOperator
from switchboard.intelligence.operator import DEFAULT_TIMEOUT, Operator
from switchboard.intelligence.pii import PII_TYPES, PiiOperator
from switchboard.intelligence.transcript import CUSTOMER

KINDS = ("text", "classification", "json", "phrases", "fuzzy", "regex", "pii")
"""The ``kind`` values of operators declared in the file."""


class Entry(BaseModel):
    """What every declared operator may say: its name, when it runs, its version."""

    model_config = ConfigDict(extra="forbid")
    name: str
    on: str | list[str] = "close"
    every: int = 1
    wants_memory: bool = False
    wants_knowledge: bool = False
    version: str = ""
    timeout: float = DEFAULT_TIMEOUT
    enabled: bool = True

    def common(self) -> dict[str, Any]:
        """The keywords every operator takes (``enabled`` is the loader's)."""
        return self.model_dump(exclude={"kind", "enabled"}, include=set(Entry.model_fields))


class PromptEntry(Entry):
    """A prompt with ``{name}`` placeholders and the parameters that fill them."""

    prompt: str
    parameters: dict[str, Parameter] = Field(default_factory=dict)


class TextEntry(PromptEntry):
    """``kind = "text"``: a ``TextOperator``."""

    kind: Literal["text"]

    def build(self) -> Operator:
        """The operator."""
        return TextOperator(**self.common(), prompt=self.prompt, parameters=self.parameters)


class ClassificationEntry(PromptEntry):
    """``kind = "classification"``: a ``ClassificationOperator`` over ``labels``."""

    kind: Literal["classification"]
    labels: list[str]

    def build(self) -> Operator:
        """The operator."""
        return ClassificationOperator(
            **self.common(), prompt=self.prompt, parameters=self.parameters, labels=self.labels
        )


class JsonEntry(PromptEntry):
    """``kind = "json"``: a ``JsonOperator`` answering ``schema`` (a JSON Schema table)."""

    kind: Literal["json"]
    output_schema: dict[str, Any] = Field(alias="schema")  # ``schema`` is BaseModel's

    def build(self) -> Operator:
        """The operator."""
        return JsonOperator(
            **self.common(), prompt=self.prompt, parameters=self.parameters,
            schema=self.output_schema,
        )  # fmt: skip


class PhrasesEntry(Entry):
    """``kind = "phrases"`` (``fuzzy`` true or a similarity) or ``"fuzzy"``: phrase matching."""

    kind: Literal["phrases", "fuzzy"]
    phrases: list[str]
    fuzzy: bool | float = False
    roles: list[str] = Field(default_factory=lambda: [CUSTOMER])

    def build(self) -> Operator:
        """The operator (``fuzzy = true`` and kind ``fuzzy`` mean the default similarity)."""
        fuzzy: float | None = None if isinstance(self.fuzzy, bool) else self.fuzzy
        if isinstance(self.fuzzy, bool) and (self.fuzzy or self.kind == "fuzzy"):
            fuzzy = DEFAULT_FUZZY
        return PhraseOperator(**self.common(), phrases=self.phrases, fuzzy=fuzzy, roles=self.roles)


class RegexEntry(Entry):
    """``kind = "regex"``: ``pattern`` and/or ``patterns``, Python regular expressions."""

    kind: Literal["regex"]
    patterns: list[str] = Field(default_factory=list)
    pattern: str | None = None
    ignore_case: bool = True
    roles: list[str] = Field(default_factory=lambda: [CUSTOMER])

    def build(self) -> Operator:
        """The operator."""
        patterns = [*self.patterns, *([self.pattern] if self.pattern else [])]
        return RegexOperator(
            **self.common(), patterns=patterns, ignore_case=self.ignore_case, roles=self.roles
        )


class PiiEntry(Entry):
    """``kind = "pii"``: pattern PII detection of ``types`` with redaction."""

    kind: Literal["pii"]
    types: list[str] = Field(default_factory=lambda: list(PII_TYPES))
    roles: list[str] = Field(default_factory=list)

    def build(self) -> Operator:
        """The operator."""
        return PiiOperator(**self.common(), types=self.types, roles=self.roles)


class BuiltinEntry(BaseModel):
    """A built-in's settings; which of the specific ones it takes is checked against OPTIONS."""

    model_config = ConfigDict(extra="forbid")
    name: str
    enabled: bool | None = None
    on: str | list[str] | None = None
    every: int | None = None
    version: str | None = None
    timeout: float | None = None
    labels: list[str] | None = None
    script: str | None = None
    phrases: list[str] | None = None


CUSTOM_ENTRY: TypeAdapter[
    TextEntry | ClassificationEntry | JsonEntry | PhrasesEntry | RegexEntry | PiiEntry
] = TypeAdapter(  # the kind picks the model, so errors name that kind's fields only
    Annotated[
        TextEntry | ClassificationEntry | JsonEntry | PhrasesEntry | RegexEntry | PiiEntry,
        Field(discriminator="kind"),
    ]
)
