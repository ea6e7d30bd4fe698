"""An operator reads the insights dashboard (``GET /insights``) in a browser.

The real stack (gateway, worker, dev server; no model, so the offline operators run) handles
a few customers whose conversations are then closed; the dashboard, loaded in a headless
Chromium with the operator key in its URL fragment, must show the numbers
``GET /api/insights`` answers and list the conversations. The page itself is a shell behind
the operator authentication of ``/api``: without credentials it answers 401.

Chromium comes from the system, driven as in ``test_temporal_ui``; without it the browser
test skips, unless ``SWITCHBOARD_REQUIRE_CHROMIUM=1`` makes that a failure.
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
from pathlib import Path
from typing import Any

import httpx

from switchboard.contract.addresses import conversation_id
from tests.conftest import OPERATOR_KEY, Stack, unique_customer
from tests.support.browser import Browser

API_KEY = OPERATOR_KEY
AUTH = {"Authorization": f"Bearer {API_KEY}"}
PAGE_TIMEOUT = 60.0
RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"

RATES = (
    "containment_rate",
    "handoff_rate",
    "resolution_rate",
    "abandonment_rate",
    "repeat_contact_rate",
    "interruption_rate",
    "tool_success_rate",
)


async def insights(stack: Stack) -> dict[str, Any]:
    response = await stack.http.get(f"{stack.gateway_url}/api/insights", headers=AUTH)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def wait_for(browser: Browser, expression: str, what: str) -> Any:
    """The value of ``expression`` in the tab, once it is truthy."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PAGE_TIMEOUT
    while loop.time() < deadline:
        value = await browser.evaluate(expression)
        if value:
            return value
        await asyncio.sleep(0.2)
    state = await browser.evaluate("document.body ? document.body.dataset.state : null")
    raise AssertionError(
        f"{what} not within {PAGE_TIMEOUT}s (state {state!r}):\n{await browser.text()}"
    )


async def screenshot(browser: Browser, path: Path) -> None:
    """The whole page as a PNG, at a laptop's width."""
    size = {"width": 1280, "deviceScaleFactor": 1, "mobile": False}
    await browser.call("Emulation.setDeviceMetricsOverride", height=800, **size)
    await asyncio.sleep(0.3)  # let the layout settle at that width before measuring it
    height = int(await browser.evaluate("document.documentElement.scrollHeight"))
    await browser.call("Emulation.setDeviceMetricsOverride", height=max(height, 800), **size)
    await asyncio.sleep(0.3)
    shot = await browser.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    path.write_bytes(base64.b64decode(shot["data"]))


async def test_the_page_and_its_assets_need_no_more_than_the_api_does(offline: Stack) -> None:
    url = offline.gateway_url
    async with httpx.AsyncClient(timeout=10) as bare:
        response = await bare.get(f"{url}/insights")
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        # The body is only the shell that asks for the key: no figures in it.
        assert "text/html" in response.headers["content-type"]
        assert 'data-metric="' not in response.text

        wrong = await bare.get(f"{url}/insights", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert (await bare.get(f"{url}/api/insights")).status_code == 401

        page = await bare.get(f"{url}/insights", headers=AUTH)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        policy = page.headers["content-security-policy"]
        assert "default-src 'none'" in policy
        assert "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert page.headers["x-content-type-options"] == "nosniff"
        assert "<script>" not in page.text  # no inline script: the CSP would block it anyway
        assert 'src="/insights/assets/insights.js"' in page.text
        assert 'content="http://localhost:8233"' in page.text

        js = await bare.get(f"{url}/insights/assets/insights.js")
        assert js.status_code == 200
        assert js.headers["content-type"].startswith("text/javascript")
        assert "Authorization" in js.text
        css = await bare.get(f"{url}/insights/assets/insights.css")
        assert css.status_code == 200
        assert css.headers["content-type"].startswith("text/css")
        for missing in ("insights.html", "..%2F__init__.py", "nothing.js"):
            assert (await bare.get(f"{url}/insights/assets/{missing}")).status_code == 404


async def test_the_dashboard_shows_what_the_api_answers(
    offline: Stack, browser: Browser, tmp_path: Path
) -> None:
    messages = {
        unique_customer(): "Thanks, that was great, my invoice question is sorted!",
        unique_customer(): "Hi, my parcel is late, where is my order?",
        unique_customer(): "This is ridiculous and useless, I'm furious. Get me a manager now!",
    }
    still_open = unique_customer()
    customers = [*messages, still_open]
    assert len(set(customers)) == len(customers)
    for customer, text in messages.items():
        await offline.text(customer, text)
    await offline.text(still_open, "Hello there")
    await offline.twilio.wait_for_messages(len(customers), timeout=30)
    for customer in messages:
        response = await offline.http.post(
            f"{offline.gateway_url}/api/conversations/{conversation_id(customer)}/close",
            json={},
            headers=AUTH,
        )
        assert response.status_code == 202, response.text

    async def all_counted() -> dict[str, Any]:
        body = await insights(offline)
        return body if body["totals"]["conversations"] == len(messages) else {}

    await offline.eventually(all_counted, timeout=30)

    async def all_listed() -> bool:
        listed: set[str] = set()
        for query in ("", "?status=closed"):
            response = await offline.http.get(
                f"{offline.gateway_url}/api/conversations{query}", headers=AUTH
            )
            listed |= {c["id"] for c in response.json()["conversations"]}
        return {conversation_id(c) for c in customers} <= listed

    await offline.eventually(all_listed, timeout=30)
    expected = await insights(offline)
    totals = expected["totals"]

    # The key travels in the fragment (never sent to the server); the page keeps it.
    await browser.blank()
    assert await browser.navigate(f"{offline.gateway_url}/insights#key={API_KEY}") is None
    await wait_for(browser, "document.body?.dataset.state === 'ready'", "the dashboard")
    assert await browser.evaluate("sessionStorage.getItem('switchboard.operatorKey')") == API_KEY
    assert await browser.evaluate("location.hash") == ""

    shown = await browser.evaluate(
        "Object.fromEntries([...document.querySelectorAll('[data-metric]')]"
        ".map(e => [e.dataset.metric, {text: e.textContent, value: JSON.parse(e.dataset.value)}]))"
    )
    assert shown["conversations"]["text"] == str(totals["conversations"])
    assert shown["conversations"]["value"] == totals["conversations"]
    for rate in RATES:
        assert shown[rate]["value"] == totals[rate], rate
        assert shown[rate]["text"] == f"{totals[rate] * 100:.1f}%", rate
    for percentile in ("p50", "p95"):
        value = totals["first_response_ms"][percentile]
        assert shown[f"first_response_ms.{percentile}"]["value"] == value
    assert shown["average_handle_seconds"]["value"] == totals["average_handle_seconds"]

    async def breakdown(name: str) -> dict[str, int]:
        found = await browser.evaluate(
            "Object.fromEntries([...document.querySelectorAll("
            f"'[data-breakdown={name}] li[data-label]')]"
            ".map(li => [li.dataset.label, Number(li.querySelector('.count').dataset.count)]))"
        )
        return dict(found)

    assert await breakdown("sentiment") == totals["sentiment"]
    assert sum(totals["sentiment"].values()) >= 1  # the offline operators did label them
    assert await breakdown("topics") == totals["topics"]
    assert await breakdown("handoff_reasons") == totals["handoff_reasons"]

    # One chart per selected metric, one bar or point per bucket of the series.
    charts = await browser.evaluate(
        "[...document.querySelectorAll('[data-chart]')].map(f => [f.dataset.chart,"
        " f.querySelectorAll('.point').length])"
    )
    assert dict(charts) == {
        "conversations": len(expected["series"]),
        "containment_rate": len(expected["series"]),
        "resolution_rate": len(expected["series"]),
    }

    rows = await browser.evaluate(
        "Object.fromEntries([...document.querySelectorAll('#recent tr[data-conversation]')]"
        ".map(tr => [tr.dataset.conversation, {status: tr.querySelector('.badge').textContent,"
        " temporal: tr.querySelector('[data-temporal]').href,"
        " intelligence: tr.querySelector('[data-intelligence]').getAttribute('href')}]))"
    )
    for customer in customers:
        cid = conversation_id(customer)
        encoded = cid.replace("+", "%2B")
        assert rows[cid]["temporal"] == (
            f"http://localhost:8233/namespaces/default/workflows/{encoded}"
        )
        assert rows[cid]["intelligence"] == f"/api/conversations/{encoded}/intelligence"
        assert rows[cid]["status"] == ("ai" if customer == still_open else "closed")

    # The intelligence link fetches the JSON with the key and shows it on the page.
    closed = conversation_id(next(iter(messages)))
    await browser.evaluate(f"document.querySelector('[data-intelligence=\"{closed}\"]').click()")
    raw = await wait_for(
        browser,
        "(t => t.startsWith('{') ? t : '')(document.getElementById('detail-json').textContent)",
        "the intelligence JSON",
    )
    detail = json.loads(raw)
    assert detail["conversation_id"] == closed
    assert {"summary", "outcome"} <= {r["operator"] for r in detail["results"]}

    shot = tmp_path / "insights-dashboard.png"
    await browser.evaluate("document.getElementById('detail').hidden = true; window.scrollTo(0, 0)")
    await screenshot(browser, shot)
    assert shot.read_bytes().startswith(b"\x89PNG")
    RESULTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, RESULTS / "insights-dashboard.png")

    # Without the key the page asks for it, and works once it is given.
    await browser.evaluate("sessionStorage.clear()")
    await browser.blank()
    assert await browser.navigate(f"{offline.gateway_url}/insights") is None
    await wait_for(browser, "document.body?.dataset.state === 'signin'", "the sign-in form")
    assert await browser.evaluate("document.getElementById('signin').hidden") is False
    await browser.evaluate(
        f"document.getElementById('key').value = {json.dumps(API_KEY)};"
        "document.getElementById('signin-form').requestSubmit()"
    )
    await wait_for(
        browser, "document.body?.dataset.state === 'ready'", "the dashboard after sign-in"
    )
    assert await browser.evaluate(
        "document.querySelector('[data-metric=conversations]').textContent"
    ) == str(totals["conversations"])
