"""Sandbox mode: local stand-ins for Twilio's Messages and Calls APIs, and the outbox to read.

When no Twilio credentials are configured the worker's delivery activity sends to
``{PUBLIC_BASE_URL}/sandbox/twilio/2010-04-01/Accounts/{sid}/Messages.json`` — the very
same REST call it makes to Twilio — and the message lands here instead of on a phone. The
simulator (``python -m switchboard.devtools.simulator``) reads replies from
``GET /sandbox/messages``.
Outbound calls (``…/Calls.json``) are recorded the same way; no phone rings.
Only loopback clients may use these routes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from gateway.dependencies import SettingsDep
from switchboard.runtime.config import Settings


class SandboxOutbox:
    """Messages "sent" in sandbox mode, kept in memory and appended to a JSON-lines file."""

    def __init__(self, path: Path | None = None) -> None:
        self._messages: list[dict[str, Any]] = []
        self.calls: list[dict[str, Any]] = []
        self._changed = asyncio.Condition()
        self._path = path
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    async def add(self, form: Mapping[str, str], account_sid: str) -> dict[str, Any]:
        """Record a message from a Messages.json form; returns the Message resource."""
        now = datetime.now(UTC)
        message: dict[str, Any] = {
            "sid": "SM" + secrets.token_hex(16),
            "account_sid": account_sid,
            "to": form.get("To", ""),
            "from": form.get("From", ""),
            "body": form.get("Body", ""),
            "status": "queued",
            "direction": "outbound-api",
            "date_created": format_datetime(now),
            "date_updated": format_datetime(now),
            "num_segments": "1",
            "num_media": "0",
            "error_code": None,
            "error_message": None,
            "api_version": "2010-04-01",
        }
        async with self._changed:
            message["seq"] = len(self._messages) + 1
            self._messages.append(message)
            self._changed.notify_all()
        if self._path is not None:
            with self._path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(message) + "\n")
        return message

    async def add_call(self, form: Mapping[str, str], account_sid: str) -> dict[str, Any]:
        """Record an outbound call from a Calls.json form; returns the Call resource."""
        now = format_datetime(datetime.now(UTC))
        call: dict[str, Any] = {
            "sid": "CA" + secrets.token_hex(16),
            "account_sid": account_sid,
            "to": form.get("To", ""),
            "from": form.get("From", ""),
            "status": "queued",
            "direction": "outbound-api",
            "date_created": now,
            "date_updated": now,
            "start_time": None,
            "end_time": None,
            "duration": None,
            "api_version": "2010-04-01",
        }
        self.calls.append(call)
        if self._path is not None:
            with self._path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps({**call, "twiml": form.get("Twiml")}) + "\n")
        return call

    def find_calls(self, to: str | None = None, from_: str | None = None) -> list[dict[str, Any]]:
        """Calls, newest first, optionally filtered by address."""
        return [
            c
            for c in reversed(self.calls)
            if (to is None or c["to"] == to) and (from_ is None or c["from"] == from_)
        ]

    def find(self, to: str | None = None, from_: str | None = None) -> list[dict[str, Any]]:
        """Messages, newest first, optionally filtered by address."""
        return [
            m
            for m in reversed(self._messages)
            if (to is None or m["to"] == to) and (from_ is None or m["from"] == from_)
        ]

    async def wait_after(
        self, seq: int, to: str | None, wait_seconds: float
    ) -> list[dict[str, Any]]:
        """Messages newer than ``seq`` (oldest first), waiting up to ``wait_seconds`` for one."""

        def newer() -> list[dict[str, Any]]:
            return [m for m in self._messages if m["seq"] > seq and (to is None or m["to"] == to)]

        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait_for(lambda: bool(newer())), wait_seconds)
            return newer()


async def _loopback_only(request: Request) -> None:
    host = request.client.host if request.client else ""
    if host not in ("127.0.0.1", "::1", "localhost", "testclient"):
        raise HTTPException(status_code=403, detail="the sandbox answers loopback clients only")


async def _outbox(request: Request) -> SandboxOutbox:
    outbox = request.app.state.sandbox_outbox
    assert isinstance(outbox, SandboxOutbox)
    return outbox


OutboxDep = Annotated[SandboxOutbox, Depends(_outbox)]
router = APIRouter(prefix="/sandbox", dependencies=[Depends(_loopback_only)], tags=["sandbox"])
_MESSAGES = "/twilio/2010-04-01/Accounts/{account_sid}/Messages.json"
_CALLS = "/twilio/2010-04-01/Accounts/{account_sid}/Calls.json"


def _twilio_error(code: int, message: str) -> JSONResponse:
    """A 400 with Twilio's error body, as the real API answers a request it refuses."""
    return JSONResponse({"code": code, "message": message, "status": 400}, status_code=400)


def _check_account(account_sid: str, settings: Settings) -> None:
    if account_sid != settings.account_sid:
        raise HTTPException(status_code=404, detail="unknown account")


@router.post(_MESSAGES, status_code=201)
async def create_message(
    account_sid: str, request: Request, outbox: OutboxDep, settings: SettingsDep
) -> JSONResponse:
    """Twilio's "create Message", answered locally."""
    _check_account(account_sid, settings)
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    if not form.get("To") or not (form.get("Body") or form.get("ContentSid")):
        return _twilio_error(21602, "Message body is required.")
    return JSONResponse(await outbox.add(form, account_sid), status_code=201)


@router.get(_MESSAGES)
async def list_messages(
    account_sid: str,
    outbox: OutboxDep,
    settings: SettingsDep,
    to: Annotated[str | None, Query(alias="To")] = None,
    from_: Annotated[str | None, Query(alias="From")] = None,
) -> JSONResponse:
    """Twilio's "list Messages", answered locally."""
    _check_account(account_sid, settings)
    return JSONResponse({"messages": outbox.find(to, from_), "next_page_uri": None})


@router.post(_CALLS, status_code=201)
async def create_call(
    account_sid: str, request: Request, outbox: OutboxDep, settings: SettingsDep
) -> JSONResponse:
    """Twilio's "create Call", answered locally: the call is recorded, nothing rings."""
    _check_account(account_sid, settings)
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    if not form.get("To"):
        return _twilio_error(21201, "No 'To' number is specified")
    if not form.get("From"):
        return _twilio_error(21213, "No 'From' number is specified")
    if not (form.get("Twiml") or form.get("Url") or form.get("ApplicationSid")):
        return _twilio_error(21205, "Url parameter is required.")
    return JSONResponse(await outbox.add_call(form, account_sid), status_code=201)


@router.get(_CALLS)
async def list_calls(
    account_sid: str,
    outbox: OutboxDep,
    settings: SettingsDep,
    to: Annotated[str | None, Query(alias="To")] = None,
    from_: Annotated[str | None, Query(alias="From")] = None,
) -> JSONResponse:
    """Twilio's "list Calls", answered locally."""
    _check_account(account_sid, settings)
    return JSONResponse({"calls": outbox.find_calls(to, from_), "next_page_uri": None})


@router.get("/messages")
async def poll_messages(
    outbox: OutboxDep,
    to: str | None = None,
    after: int = 0,
    wait: Annotated[float, Query(ge=0, le=30)] = 0,
) -> JSONResponse:
    """Messages newer than ``after`` (optionally to one address), long-polling up to ``wait`` s."""
    return JSONResponse({"messages": await outbox.wait_after(after, to, wait)})
