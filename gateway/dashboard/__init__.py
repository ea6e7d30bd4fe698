"""The insights dashboard: ``GET /insights``, a static page that reads the operator API.

The page is plain HTML, CSS and an ES module shipped in this package (no build step, no
CDN). It holds no data: everything it shows it fetches from ``GET /api/insights`` and
``GET /api/conversations`` with the operator's credentials, so the page itself is only a
shell. ``/insights`` applies the same operator authentication as ``/api``: a request
without valid credentials is answered with that status (401 with ``WWW-Authenticate:
Bearer``, or 403) and the shell, whose script then asks for the key, keeps it in
``sessionStorage`` for the tab and sends it as ``Authorization: Bearer`` to ``/api``. The
page's assets are public (they are the same for everyone) and served with a strict
Content-Security-Policy: no inline script or style, no other origin.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import HTMLResponse

from gateway.dependencies import SettingsDep, operator_auth
from switchboard.runtime.config import Settings

router = APIRouter(tags=["dashboard"], include_in_schema=False)

STATIC: Final = Path(__file__).parent / "static"
TEMPORAL_UI_DEFAULT: Final = "http://localhost:8233"
"""The Temporal Web UI of ``make run``; a ``temporal_ui_url`` setting overrides it."""

CONTENT_SECURITY_POLICY: Final = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
ASSETS: Final = {
    "insights.js": "text/javascript; charset=utf-8",
    "insights.css": "text/css; charset=utf-8",
}
"""The files ``/insights/assets/`` serves, by name, with their content types."""


def temporal_ui(settings: Settings) -> str:
    """The Temporal Web UI's address the pages link to (no trailing slash)."""
    return str(getattr(settings, "temporal_ui_url", None) or TEMPORAL_UI_DEFAULT).rstrip("/")


async def shell_response(request: Request, settings: Settings, body: str) -> HTMLResponse:
    """A page's shell, answered with the operator authentication's status (200, 401, 403).

    The body is the same shell either way (it carries no data), so a browser, which cannot
    send a bearer token when it navigates, shows the page that asks for the key.
    """
    status, extra = 200, {}
    try:
        await operator_auth(request, settings)
    except HTTPException as exc:
        status, extra = exc.status_code, dict(exc.headers or {})
    return HTMLResponse(
        body, status_code=status, headers={**SECURITY_HEADERS, "Cache-Control": "no-store", **extra}
    )


def asset_response(static: Path, assets: Mapping[str, str], name: str) -> Response:
    """One of a page's own files from ``static`` if ``assets`` lists it (404 otherwise)."""
    media_type = assets.get(name)
    if media_type is None:
        raise HTTPException(status_code=404, detail=f"no asset {name!r}")
    return Response(
        (static / name).read_bytes(),
        media_type=media_type,
        headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"},
    )


def _page(ui: str, namespace: str) -> str:
    template = (STATIC / "insights.html").read_text(encoding="utf-8")
    return template.replace("{{temporal_ui}}", html.escape(ui)).replace(
        "{{namespace}}", html.escape(namespace)
    )


@router.get("/insights", response_class=HTMLResponse)
async def insights_page(request: Request, settings: SettingsDep) -> HTMLResponse:
    """The dashboard; without valid operator credentials the status says so (401/403)."""
    body = _page(temporal_ui(settings), settings.temporal_namespace)
    return await shell_response(request, settings, body)


@router.get("/insights/assets/{name}")
async def insights_asset(name: str) -> Response:
    """One of the page's own files (404 for anything else)."""
    return asset_response(STATIC, ASSETS, name)
