"""Re-analysis end to end: operators run again over 1,000 stored conversations.

Real gateway, worker (its intelligence queue runs ``ReanalysisWorkflow``) and dev server; the
built-in operators run offline. The stored conversations are written the way closing
conversations write them (``save_conversation``); the re-analysis is started, followed and
cancelled through the operator API and the CLI's follower.
"""

from __future__ import annotations

import io
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from switchboard.contract.addresses import Channel
from switchboard.contract.reanalysis import ReanalysisStatus
from switchboard.devtools.reanalyze import follow
from switchboard.memory import open_store
from switchboard.memory.models import ConversationRecord, TranscriptLine
from tests.conftest import Stack
from workflows.reanalysis_control import Reanalyses

T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
SAID = [
    ("customer", "My invoice charged me twice, this is terrible."),
    ("assistant", "I'm sorry, I can refund the double charge."),
    ("customer", "Thanks, that's great, much appreciated."),
]
API = "/api/intelligence/reanalyses"


def customer(i: int) -> str:
    return f"+1415555{i:04d}"


async def store_conversations(stack: Stack, n: int) -> None:
    store = open_store(stack.settings.memory_database_url)
    await store.migrate()
    try:
        for i in range(n):
            closed = T0 + timedelta(minutes=i)
            await store.save_conversation(
                ConversationRecord(
                    customer=customer(i),
                    conversation_id=f"conv-{customer(i)}",
                    run_id=f"run-{i:05d}",
                    closed_at=closed,
                    transcript=[
                        TranscriptLine(role=role, text=text, channel=Channel.SMS, at=closed)
                        for role, text in SAID
                    ],
                )
            )
    finally:
        await store.close()


@pytest.fixture
async def stored(offline: Stack) -> AsyncIterator[Stack]:
    await store_conversations(offline, 1000)
    yield offline


def reanalysed_rows(stack: Stack) -> list[tuple[str, str, int]]:
    """(run, operator, rows) of every re-analysis result in the store."""
    path = Path(stack.settings.memory_database_url.removeprefix("sqlite:///"))
    with sqlite3.connect(path) as db:
        return list(
            db.execute(
                "SELECT run_id, operator, count(*) FROM operator_results "
                "WHERE trigger = 'reanalysis' GROUP BY run_id, operator"
            )
        )


async def start(stack: Stack, body: dict[str, Any]) -> str:
    response = await stack.http.post(stack.gateway_url + API, json=body)
    assert response.status_code == 202, response.text
    assert response.headers["location"] == f"{API}/{response.json()['id']}"
    reanalysis_id: str = response.json()["id"]
    return reanalysis_id


async def finished(stack: Stack, reanalysis_id: str, timeout: float = 120) -> dict[str, Any]:
    async def done() -> dict[str, Any]:
        response = await stack.http.get(f"{stack.gateway_url}{API}/{reanalysis_id}")
        assert response.status_code == 200, response.text
        progress: dict[str, Any] = response.json()
        return progress if progress["status"] != "running" else {}

    return await stack.eventually(done, timeout=timeout)


async def test_a_thousand_stored_conversations_reanalysed_once_each(stored: Stack) -> None:
    reanalysis_id = await start(stored, {"operators": ["sentiment", "topic"], "concurrency": 4})
    progress = await finished(stored, reanalysis_id)
    assert progress["status"] == "completed"
    assert progress["total"] == progress["done"] == progress["analysed"] == 1000
    assert progress["results"] == 2000 and progress["failed"] == 0
    assert progress["rate"] > 0
    rows = reanalysed_rows(stored)
    assert len(rows) == 2000 and {n for *_, n in rows} == {1}

    # Results under the conversation, marked as a re-analysis, with the operator's verdict.
    response = await stored.http.get(
        f"{stored.gateway_url}/api/conversations/conv-{customer(7)}/intelligence"
    )
    results = response.json()["results"]
    assert {r["operator"] for r in results} == {"sentiment", "topic"}
    assert {r["trigger"] for r in results} == {"reanalysis"}
    assert all(r["turns"] == [1, 2] for r in results)
    assert next(r for r in results if r["operator"] == "topic")["result"]["label"] == "billing"

    # The same request again: every run holds the current versions, so nothing runs twice.
    again = await finished(stored, await start(stored, {"operators": ["sentiment", "topic"]}))
    assert again["status"] == "completed"
    assert again["skipped"] == 1000 and again["analysed"] == 0 and again["results"] == 0
    assert len(reanalysed_rows(stored)) == 2000


async def test_cancelled_then_started_again_resumes(stored: Stack) -> None:
    body = {"operators": ["sentiment"], "concurrency": 1, "batch": 5}
    first = await start(stored, body)

    async def partway() -> bool:
        response = await stored.http.get(f"{stored.gateway_url}{API}/{first}")
        return bool(response.json()["done"] >= 50)

    await stored.eventually(partway, timeout=60)
    response = await stored.http.post(f"{stored.gateway_url}{API}/{first}/cancel")
    assert response.status_code == 202
    stopped = await finished(stored, first)
    assert stopped["status"] == "cancelled"
    assert 50 <= stopped["done"] < 1000
    response = await stored.http.post(f"{stored.gateway_url}{API}/{first}/cancel")
    assert response.status_code == 404  # nothing runs under that id any more

    second = await start(stored, {**body, "concurrency": 4, "batch": 25})
    resumed = await finished(stored, second)
    assert resumed["status"] == "completed"
    assert resumed["skipped"] >= stopped["analysed"]
    assert resumed["analysed"] + resumed["skipped"] == 1000
    rows = reanalysed_rows(stored)
    assert len(rows) == 1000 and {n for *_, n in rows} == {1}


async def test_the_cli_follows_a_selection_to_the_end(stored: Stack) -> None:
    reanalyses = Reanalyses(stored.client, stored.settings.analysis_task_queue)
    body = {
        "operators": ["outcome"],
        "from": (T0 + timedelta(minutes=100)).isoformat(),
        "to": (T0 + timedelta(minutes=300)).isoformat(),
    }
    reanalysis_id = await start(stored, body)
    out = io.StringIO()
    progress = await follow(reanalyses, reanalysis_id, out, interval=0.1)
    assert progress is not None and progress.status is ReanalysisStatus.COMPLETED
    assert progress.total == progress.analysed == 200
    last = out.getvalue().splitlines()[-1]
    assert "200/200" in last and "100%" in last and "results 200" in last
    assert await follow(reanalyses, "nosuchone", io.StringIO()) is None


async def test_bad_requests_change_nothing(stored: Stack) -> None:
    url = stored.gateway_url + API
    assert (await stored.http.post(url, json={"operators": ["nope"]})).status_code == 422
    assert (await stored.http.post(url, json={"operators": []})).status_code == 422
    assert (
        await stored.http.post(url, json={"operators": ["topic"], "batch": 0})
    ).status_code == 422
    assert (
        await stored.http.post(url, json={"operators": ["topic"], "customer": "not a number"})
    ).status_code == 422
    assert (await stored.http.get(f"{url}/nosuchone")).status_code == 404
    assert (await stored.http.get(f"{url}/bad%2Fid")).status_code == 404
    anonymous = await stored.http.post(
        url, json={"operators": ["topic"]}, headers={"Authorization": ""}
    )
    assert anonymous.status_code == 401
    assert reanalysed_rows(stored) == []
