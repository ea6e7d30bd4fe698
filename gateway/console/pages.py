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

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from gateway.dashboard import asset_response, shell_response, temporal_ui
from gateway.dependencies import SettingsDep

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


def _page(ui: str, namespace: str, sandbox: bool) -> str:
    template = (STATIC / "console.html").read_text(encoding="utf-8")
    return (
        template.replace("{{temporal_ui}}", html.escape(ui))
        .replace("{{namespace}}", html.escape(namespace))
        .replace("{{sandbox}}", "true" if sandbox else "false")
    )


@router.get("/console", response_class=HTMLResponse)
async def console_page(request: Request, settings: SettingsDep) -> HTMLResponse:
    """The console; without valid operator credentials the status says so (401/403)."""
    body = _page(temporal_ui(settings), settings.temporal_namespace, settings.sandbox)
    return await shell_response(request, settings, body)


@router.get("/console/assets/{name}")
async def console_asset(name: str) -> Response:
    """One of the page's own files (404 for anything else)."""
    return asset_response(STATIC, ASSETS, name)
