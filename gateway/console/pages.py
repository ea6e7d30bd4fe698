"""The console's page: ``GET /console`` (the shell) and ``GET /console/assets/{name}``.

Like the insights dashboard (``gateway.dashboard``), the page is plain HTML, CSS and ES
modules shipped in ``static/`` (no build step, no CDN) and holds no data: everything it
shows it reads from the operator API with the operator's key, which the page keeps in
``sessionStorage`` and sends as ``Authorization: Bearer``. ``/console`` applies the
operator authentication of ``/api`` and answers its status (401 with ``WWW-Authenticate:
Bearer``, or 403) with the same shell, whose script then asks for the key. The assets are
public and served with the dashboard's strict Content-Security-Policy (no inline script or
style, no other origin).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Final

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import HTMLResponse

from gateway.dashboard import SECURITY_HEADERS, TEMPORAL_UI_DEFAULT
from gateway.dependencies import SettingsDep, operator_auth

router = APIRouter(tags=["console"], include_in_schema=False)

STATIC: Final = Path(__file__).parent / "static"
_JS: Final = "text/javascript; charset=utf-8"
ASSETS: Final = {
    "console.css": "text/css; charset=utf-8",
    "app.js": _JS,
    "api.js": _JS,
    "dom.js": _JS,
    "playground.js": _JS,
    "inbox.js": _JS,
    "conversation.js": _JS,
    "knowledge.js": _JS,
}
"""The files ``/console/assets/`` serves, by name, with their content types."""


def _page(temporal_ui: str, namespace: str, sandbox: bool) -> str:
    template = (STATIC / "console.html").read_text(encoding="utf-8")
    return (
        template.replace("{{temporal_ui}}", html.escape(temporal_ui.rstrip("/")))
        .replace("{{namespace}}", html.escape(namespace))
        .replace("{{sandbox}}", "true" if sandbox else "false")
    )


@router.get("/console", response_class=HTMLResponse)
async def console_page(request: Request, settings: SettingsDep) -> HTMLResponse:
    """The console; without valid operator credentials the status says so (401/403).

    The body is the same shell either way (it carries no data), so a browser, which cannot
    send a bearer token when it navigates, shows the page that asks for the key.
    """
    status, extra = 200, {}
    try:
        await operator_auth(request, settings)
    except HTTPException as exc:
        status, extra = exc.status_code, dict(exc.headers or {})
    temporal_ui = str(getattr(settings, "temporal_ui_url", None) or TEMPORAL_UI_DEFAULT)
    return HTMLResponse(
        _page(temporal_ui, settings.temporal_namespace, settings.sandbox),
        status_code=status,
        headers={**SECURITY_HEADERS, "Cache-Control": "no-store", **extra},
    )


@router.get("/console/assets/{name}")
async def console_asset(name: str) -> Response:
    """One of the page's own files (404 for anything else)."""
    media_type = ASSETS.get(name)
    if media_type is None:
        raise HTTPException(status_code=404, detail=f"no asset {name!r}")
    return Response(
        (STATIC / name).read_bytes(),
        media_type=media_type,
        headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"},
    )
