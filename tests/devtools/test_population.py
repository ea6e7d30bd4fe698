"""Population mode: a seeded plan, played against the real stack, fills ``GET /api/insights``.

Real gateway, worker and dev server, no model: the demo responder answers and the offline
operators run, so the angry customers are handed off by the default escalation rule.
"""

from __future__ import annotations

import pytest

from switchboard.devtools.population import Gateway, populate
from switchboard.devtools.population_plan import Kind, Mood, mix, plan
from tests.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    BUSINESS_NUMBER,
    OPERATOR_KEY,
    Stack,
)

API_KEY = OPERATOR_KEY
SEED = 7


def test_a_plan_is_deterministic_for_a_seed() -> None:
    assert plan(20, SEED) == plan(20, SEED)
    assert plan(20, SEED) != plan(20, SEED + 1)
    assert len({c.number for c in plan(50, SEED)}) == 50


def test_a_plan_covers_every_kind_and_angry_customers_ask_for_a_manager() -> None:
    customers = plan(40, SEED)
    assert set(mix(customers)["kind"]) == {k.value for k in Kind}
    assert set(mix(plan(5, 1))["kind"]) == {k.value for k in Kind}
    assert set(mix(plan(5, 1))["channel"]) == {"sms", "whatsapp", "voice"}
    for customer in customers:
        assert (customer.mood is Mood.ANGRY) == (customer.kind is Kind.HANDOFF)
        assert len(customer.messages) == (1 if customer.kind is Kind.ABANDONED else 2)
        if customer.kind is Kind.HANDOFF:
            assert "manager" in customer.messages[-1]
    assert sum(mix(customers)["channel"].values()) == 40
    with pytest.raises(ValueError):
        plan(10_000, SEED)


async def test_a_population_fills_the_insights(offline: Stack) -> None:
    n = 8
    gateway = Gateway(
        url=offline.gateway_url,
        auth_token=AUTH_TOKEN,
        account_sid=ACCOUNT_SID,
        business=BUSINESS_NUMBER,
        api_key=API_KEY,
    )
    lines: list[str] = []
    report = await populate(gateway, n, seed=SEED, concurrency=5, wait=20, out=lines.append)

    planned = plan(n, SEED)
    assert report.customers == planned
    assert not report.failed, [p.error for p in report.failed]
    assert report.mix == mix(planned)
    assert len(lines) == n
    assert report.closed == n
    handoffs = mix(planned)["kind"][Kind.HANDOFF]
    assert report.handed_off == handoffs
    assert report.insights is not None
    totals = report.insights["totals"]
    assert totals["conversations"] == n
    assert totals["handed_off"] == handoffs
    assert totals["handoff_rate"] > 0
    assert totals["abandoned"] >= mix(planned)["kind"][Kind.ABANDONED]
    assert f"{n} customers" in report.summary()
