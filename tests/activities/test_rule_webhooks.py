"""A fired rule's webhook against a fake receiver that checks signatures on its own; and the
do-not-contact trait the analysis writes for a rule that asks for it.

Every request crosses a real socket; attempts run the way Temporal would run them
(``ActivityEnvironment``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.intelligence import IntelligenceActivities
from activities.rule_webhooks import RuleWebhooks
from switchboard.contract import errors
from switchboard.contract.intelligence import DO_NOT_CONTACT_TRAIT, OperatorTrigger
from switchboard.contract.rules import IntelligenceRule, RuleWebhookBody, RuleWebhookRequest
from switchboard.intelligence import Analyzer, builtin_operators
from switchboard.memory.setup import open_memory
from switchboard.runtime.config import Settings
from switchboard.runtime.webhooks import verify_signature
from tests.intelligence.helpers import CUSTOMER, customer, request
from tests.support.fake_webhook import WEBHOOK_PATH, FakeWebhook
from tests.support.server import free_port, serve

SECRET = "rule-hook-secret"
KEY = "run-1:rule-angry-turn-2-webhook-0"


@pytest.fixture
async def hook() -> AsyncIterator[tuple[FakeWebhook, str]]:
    fake = FakeWebhook(SECRET)
    async with serve(fake.app) as url:
        yield fake, f"{url}{WEBHOOK_PATH}"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


def delivery(url: str) -> RuleWebhookRequest:
    return RuleWebhookRequest(
        url=url,
        idempotency_key=KEY,
        body=RuleWebhookBody(
            rule="angry",
            conversation_id=f"conv-{CUSTOMER}",
            customer=CUSTOMER,
            operator="sentiment",
            trigger="turn",
            turns=(1, 2),
            result={"label": "negative", "score": -0.6},
            at=datetime(2025, 1, 6, 9, 0, tzinfo=UTC),
        ),
    )


async def failure(webhooks: RuleWebhooks, url: str) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(webhooks.post_rule_webhook, delivery(url))
    return caught.value


async def test_the_body_is_posted_signed_with_the_delivery_key(
    hook: tuple[FakeWebhook, str], http: httpx.AsyncClient
) -> None:
    fake, url = hook
    status = await ActivityEnvironment().run(
        RuleWebhooks(http, SECRET).post_rule_webhook, delivery(url)
    )
    assert status == 200
    [got] = fake.deliveries
    assert got["event"] == "intelligence_rule" and got["idempotency_key"] == KEY
    assert got["body"] == {
        "rule": "angry",
        "conversation_id": f"conv-{CUSTOMER}",
        "customer": CUSTOMER,
        "operator": "sentiment",
        "trigger": "turn",
        "turns": [1, 2],
        "result": {"label": "negative", "score": -0.6},
        "at": "2025-01-06T09:00:00Z",
    }
    headers = got["headers"]
    assert verify_signature(
        got["raw"], headers["x-switchboard-signature"], SECRET,
        event="intelligence_rule", idempotency_key=KEY,
    )  # fmt: skip


async def test_5xx_and_no_answer_are_retried_4xx_is_final(
    hook: tuple[FakeWebhook, str], http: httpx.AsyncClient
) -> None:
    fake, url = hook
    webhooks = RuleWebhooks(http, SECRET)
    fake.fail_next(1, status=503)
    error = await failure(webhooks, url)
    assert error.type == errors.RULE_WEBHOOK_UNAVAILABLE and not error.non_retryable
    fake.fail_next(1, status=429)
    assert not (await failure(webhooks, url)).non_retryable
    fake.fail_next(1, status=404)
    error = await failure(webhooks, url)
    assert error.type == errors.RULE_WEBHOOK_REJECTED and error.non_retryable
    assert "404" in str(error)
    gone = await failure(webhooks, f"http://127.0.0.1:{free_port()}/hook")
    assert gone.type == errors.RULE_WEBHOOK_UNAVAILABLE and not gone.non_retryable
    assert not fake.deliveries
    # The retry that finally gets through carries the same key: the receiver dedupes on it.
    await ActivityEnvironment().run(webhooks.post_rule_webhook, delivery(url))
    assert [d["idempotency_key"] for d in fake.deliveries] == [KEY]


async def test_a_wrong_secret_is_refused_and_not_retried(
    hook: tuple[FakeWebhook, str], http: httpx.AsyncClient
) -> None:
    fake, url = hook
    error = await failure(RuleWebhooks(http, "another-secret"), url)
    assert error.type == errors.RULE_WEBHOOK_REJECTED  # the receiver's 401
    assert fake.requests[-1]["signature_valid"] is False
    unsigned = await failure(RuleWebhooks(http, ""), url)
    assert unsigned.non_retryable and "INTELLIGENCE_WEBHOOK_SECRET" in str(unsigned)
    assert len(fake.requests) == 1  # nothing unsigned ever leaves


async def test_a_rule_with_do_not_contact_writes_the_trait(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, memory_database_url=f"sqlite:///{tmp_path / 'm.db'}")
    store = await open_memory(settings)
    try:
        activities = IntelligenceActivities(Analyzer(builtin_operators({}), None, None), store)
        said = customer("This is bad, I'm really unhappy with the delay.")
        stop = IntelligenceRule.model_validate(
            {
                "name": "negative_stop",
                "operator": "sentiment",
                "when": {"field": "label", "equals": "negative"},
                "actions": ["do_not_contact"],
            }
        )
        plain = request(*said, operators=["sentiment"])
        await ActivityEnvironment().run(activities.analyze_conversation, plain)
        profile = await store.get_profile(CUSTOMER)
        assert profile is None or DO_NOT_CONTACT_TRAIT not in profile.traits
        closing = request(*said, operators=["sentiment"], trigger=OperatorTrigger.CLOSE)
        on_turns = stop.model_copy(update={"on": ["turn"]})
        await ActivityEnvironment().run(
            activities.analyze_conversation, closing.model_copy(update={"rules": [on_turns]})
        )
        profile = await store.get_profile(CUSTOMER)
        assert profile is None or DO_NOT_CONTACT_TRAIT not in profile.traits  # not its trigger
        ruled = plain.model_copy(update={"rules": [stop]})
        await ActivityEnvironment().run(activities.analyze_conversation, ruled)
        profile = await store.get_profile(CUSTOMER)
        assert profile is not None and profile.traits[DO_NOT_CONTACT_TRAIT] is True
    finally:
        await store.close()
