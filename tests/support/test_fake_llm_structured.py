"""Self-tests of the fake OpenAI server's structured outputs (``response_format`` json_schema)."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from jsonschema import Draft202012Validator
from openai.types.chat import ChatCompletionMessageParam
from openai.types.shared_params import ResponseFormatJSONSchema

from tests.support.fake_llm import FakeLLM, FakeReply, Messages
from tests.support.schema_instances import minimal_instance
from tests.support.server import serve

MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "rate this"}]

SCHEMAS: list[dict[str, Any]] = [
    {
        "type": "object",
        "properties": {
            "label": {"type": "string", "enum": ["positive", "negative"]},
            "score": {"type": "number", "minimum": -1, "maximum": 1},
            "count": {"type": "integer", "minimum": 3},
            "ratio": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
            "ok": {"type": "boolean"},
            "name": {"type": "string", "minLength": 2},
            "tags": {"type": "array", "items": {"type": "string"}},
            "pairs": {
                "type": "array",
                "minItems": 2,
                "items": {
                    "type": "object",
                    "properties": {"k": {"type": "string"}, "v": {"type": ["integer", "null"]}},
                    "required": ["k", "v"],
                    "additionalProperties": False,
                },
            },
            "optional": {"type": "string"},
        },
        "required": ["label", "score", "count", "ratio", "ok", "name", "tags", "pairs"],
        "additionalProperties": False,
    },
    {
        "type": "object",
        "$defs": {"Item": {"type": "object", "properties": {"n": {"const": 7}}, "required": ["n"]}},
        "properties": {
            "item": {"$ref": "#/$defs/Item"},
            "either": {"anyOf": [{"type": "null"}, {"type": "string"}]},
            "below": {"type": "integer", "maximum": -2},
        },
        "required": ["item", "either", "below"],
    },
]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_minimal_instances_are_valid(schema: dict[str, Any]) -> None:
    instance = minimal_instance(schema)
    assert list(Draft202012Validator(schema).iter_errors(instance)) == []


def test_minimal_instance_values() -> None:
    assert minimal_instance(SCHEMAS[0]) == {
        "label": "positive",
        "score": 0,
        "count": 3,
        "ratio": 0.5,
        "ok": False,
        "name": "xx",
        "tags": [],
        "pairs": [{"k": "", "v": 0}, {"k": "", "v": 0}],
    }
    assert minimal_instance(SCHEMAS[1]) == {"item": {"n": 7}, "either": None, "below": -2}


def _response_format(name: str, schema: dict[str, Any]) -> ResponseFormatJSONSchema:
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}


async def test_structured_requests_over_http() -> None:
    fake = FakeLLM(api_key="k")
    async with serve(fake.app) as url:
        client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="k", max_retries=0)
        schema = SCHEMAS[0]
        completion = await client.chat.completions.create(
            model="m",
            messages=MESSAGES,
            response_format=_response_format("rating", schema),
        )
        answer = json.loads(completion.choices[0].message.content or "")
        assert answer == minimal_instance(schema)
        assert completion.usage is not None and completion.usage.total_tokens > 0

        seen: list[tuple[str, Messages]] = []

        def scripted(name: str, messages: Messages) -> dict[str, Any] | FakeReply:
            seen.append((name, messages))
            if len(seen) == 2:
                return FakeReply(text="not json at all")
            return {"label": "negative"}

        fake.structured = scripted
        for expected in ({"label": "negative"}, None):
            completion = await client.chat.completions.create(
                model="m",
                messages=MESSAGES,
                response_format=_response_format("rating", schema),
            )
            content = completion.choices[0].message.content
            if expected is None:
                assert content == "not json at all"
            else:
                assert json.loads(content or "") == expected
        assert [name for name, _ in seen] == ["rating", "rating"]
        assert seen[0][1] == [{"role": "user", "content": "rate this"}]

        async def failing(name: str, messages: Messages) -> FakeReply:
            return FakeReply(status=500)

        fake.structured = failing
        with pytest.raises(openai.InternalServerError):
            await client.chat.completions.create(
                model="m",
                messages=MESSAGES,
                response_format=_response_format("rating", schema),
            )

        # Requests without a json_schema format still go to the responder, unchanged.
        plain = await client.chat.completions.create(model="m", messages=MESSAGES)
        assert plain.choices[0].message.content == "echo: rate this"
        text_format = await client.chat.completions.create(
            model="m", messages=MESSAGES, response_format={"type": "json_object"}
        )
        assert text_format.choices[0].message.content == "echo: rate this"
        assert fake.structured_requests[0]["response_format"]["json_schema"]["name"] == "rating"

        fake.reset()
        assert fake.structured is None
        await client.close()
