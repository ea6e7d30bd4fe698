"""A fake OpenAI-compatible server per test, served over real HTTP, and a client for it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import openai
import pytest

from tests.support.fake_llm import FakeLLM
from tests.support.server import serve

LLM_KEY = "sk-intelligence"
MODEL = "test-model"


@dataclass
class Model:
    """The fake and a client pointed at it."""

    fake: FakeLLM
    client: openai.AsyncOpenAI


@pytest.fixture
async def llm() -> AsyncIterator[Model]:
    fake = FakeLLM(LLM_KEY)
    async with serve(fake.app) as url:
        client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=LLM_KEY, max_retries=0)
        yield Model(fake=fake, client=client)
        await client.close()
