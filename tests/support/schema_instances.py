"""The smallest JSON value valid against a JSON Schema: the fake model's Structured Outputs."""

from __future__ import annotations

import math
from typing import Any


def minimal_instance(schema: dict[str, Any], root: dict[str, Any] | None = None) -> Any:
    """The smallest value valid against ``schema``, the way a terse model would answer.

    The first of ``enum``/``anyOf``/``oneOf``/types, ``const`` as given; objects with their
    required properties; ``[]`` unless ``minItems`` (then that many minimal items); ``""``
    unless ``minLength``; 0 moved into ``minimum``/``maximum``; false; null. ``$ref`` into
    the root schema's ``$defs`` is followed.
    """
    root = schema if root is None else root
    if "$ref" in schema:
        target: Any = root
        for part in str(schema["$ref"]).removeprefix("#/").split("/"):
            target = target[part]
        return minimal_instance(target, root)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            return minimal_instance(schema[key][0], root)
    if schema.get("allOf"):
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            merged |= part
        return minimal_instance(merged, root)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "null"
    if kind == "object":
        properties = schema.get("properties", {})
        return {
            name: minimal_instance(properties.get(name, {}), root)
            for name in schema.get("required", [])
        }
    if kind == "array":
        item = minimal_instance(schema.get("items", {}), root)
        return [item for _ in range(int(schema.get("minItems", 0)))]
    if kind == "string":
        return "x" * int(schema.get("minLength", 0))
    if kind in ("number", "integer"):
        return _number_within(schema, integer=kind == "integer")
    if kind == "boolean":
        return False
    return None


def _number_within(schema: dict[str, Any], *, integer: bool) -> int | float:
    """0, or the nearest value the bounds allow."""
    value: int | float = 0
    step = 1 if integer else 0.5
    if "minimum" in schema and value < schema["minimum"]:
        value = schema["minimum"]
    if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
        value = schema["exclusiveMinimum"] + step
    if "maximum" in schema and value > schema["maximum"]:
        value = schema["maximum"]
    if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
        value = schema["exclusiveMaximum"] - step
    return math.ceil(value) if integer else value
