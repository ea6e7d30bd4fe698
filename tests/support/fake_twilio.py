"""Fake of the Twilio REST APIs we call: Messages, Calls and TaskRouter Tasks.

``/2010-04-01/Accounts/{sid}/Messages.json`` and ``…/Calls.json`` (create, list), and
TaskRouter's ``/v1/Workspaces/{WS}/Tasks`` (create, list with ``EvaluateTaskAttributes``,
fetch, update) on the same app: tests point both ``TWILIO_API_BASE_URL`` and
``TWILIO_TASKROUTER_BASE_URL`` at it.

Speaks the real wire protocol: form-encoded POSTs with HTTP Basic auth, JSON resources and
Twilio-style JSON error bodies. Records everything for assertions and supports fault
injection (transient 5xx/429, permanent per-recipient errors, latency, an answer held back
after the message was accepted).

The Messages list filters like the real API: ``To``, ``From`` and ``DateSent``/``DateSent<``/
``DateSent>`` (a day, inclusive) on ``date_sent``, which stays empty while a message is
queued, so a date filter never lists a queued message. A template send (``ContentSid``) is
given a body rendered from its variables, as Twilio renders the template's text.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.support.waiting import Changes

API_VERSION = "2010-04-01"
Api = Literal["messages", "calls", "tasks"]
TASK_STATUSES = ("pending", "reserved", "assigned", "wrapping", "completed", "canceled")
_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "canceled": ("pending", "reserved"),
    "wrapping": ("assigned",),
    "completed": ("assigned", "wrapping"),
}
_CLAUSE = re.compile(r"""\s*([A-Za-z_][\w.]*)\s*==\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)')\s*""")

MAX_BODY_CHARS = 1600
"""The longest ``Body`` the Messages API takes, on every channel (21617 beyond it)."""

_ERROR_MESSAGES: dict[int, str] = {
    20001: "Invalid parameter",
    20003: "Authenticate",
    20404: "The requested resource was not found",
    21201: "No 'To' number is specified",
    21205: "Url parameter is required.",
    21213: "No 'From' number is specified",
    20429: "Too Many Requests",
    20500: "An internal server error has occurred",
    21211: "The 'To' number is not a valid phone number.",
    21602: "Message body is required.",
    21604: "A 'To' phone number is required.",
    21610: "Attempt to send to unsubscribed recipient",
    21617: "The concatenated message body exceeds the 1600 character limit.",
    63016: "Failed to send freeform message because you are outside the allowed window.",
}


@dataclass
class _Failure:
    """One pending injected failure (see :meth:`FakeTwilio.fail_next`)."""

    status: int
    code: int
    accept: bool


def twilio_error(code: int, status: int, message: str | None = None) -> JSONResponse:
    """A Twilio-style JSON error response."""
    body = {
        "code": code,
        "message": message or _ERROR_MESSAGES.get(code, f"Error {code}"),
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return JSONResponse(body, status_code=status)


class FakeTwilio:
    """In-process Twilio Messages, Calls and TaskRouter APIs. Serve ``.app`` with
    ``tests.support.server.serve``.

    State:
        messages: accepted Message resources (oldest first), each with the original
            form under ``"form"``.
        requests: every Messages POST attempt as ``{"method", "form", "status", "sid"}``.
        lookups: every GET request (Messages and Calls lists, TaskRouter reads) as
            ``{"method", "path", "query", "status"}``.
        calls: accepted Call resources (oldest first), the form under ``"form"``.
        call_requests: every Calls POST attempt as ``{"method", "form", "status", "sid"}``.
        tasks: created TaskRouter tasks (oldest first), current state, with the create form
            under ``"form"`` and the parsed ``Attributes`` under ``"parsed_attributes"``.
        task_requests: every TaskRouter POST as ``{"method", "path", "form", "status"}``.
    """

    def __init__(self, account_sid: str, auth_token: str) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.messages: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.lookups: list[dict[str, Any]] = []
        self.calls: list[dict[str, Any]] = []
        self.call_requests: list[dict[str, Any]] = []
        self.tasks: list[dict[str, Any]] = []
        self.task_requests: list[dict[str, Any]] = []
        self._failures: dict[str, list[_Failure]] = {"messages": [], "calls": [], "tasks": []}
        self._rejections: dict[str, tuple[int, int]] = {}
        self._delay = 0.0
        self._answer_delay = 0.0
        self._changes = Changes()
        self.on_accept: Callable[[dict[str, Any]], None] | None = None  # benchmarks time arrivals
        self.app = self._build_app()

    # ----------------------------------------------------------------- helpers
    def fail_next(
        self,
        count: int,
        status: int = 500,
        code: int | None = None,
        accept: bool = False,
        api: Api = "messages",
    ) -> None:
        """Make the next ``count`` POSTs to ``api`` answer ``status`` with a Twilio error body.

        ``api`` is ``messages`` (Messages.json), ``calls`` (Calls.json) or ``tasks`` (any
        TaskRouter POST). ``code`` defaults to 20429 for 429 and 20500 otherwise. With
        ``accept=True`` the request is still carried out (Twilio processed it, the response
        was lost).
        """
        default = 20429 if status == 429 else 20500
        self._failures[api].extend(_Failure(status, code or default, accept) for _ in range(count))

    def reject_to(self, to: str, code: int, status: int = 400) -> None:
        """Answer every message or call POST to ``to`` with a permanent error ``code``."""
        self._rejections[to] = (code, status)

    def delay(self, seconds: float) -> None:
        """Add ``seconds`` of latency before answering each POST."""
        self._delay = seconds

    def hold_answers(self, seconds: float) -> None:
        """Accept each message POST at once but wait ``seconds`` before answering it.

        The message exists at Twilio (``messages``, ``wait_for_messages``) while its sender is
        still waiting for the answer: what a sender that dies then never learns.
        """
        self._answer_delay = seconds

    def set_message_status(self, sid: str, status: str) -> None:
        """Move a message on, as Twilio does; from ``sending`` on it has a ``date_sent``."""
        message = next(m for m in self.messages if m["sid"] == sid)
        now = format_datetime(datetime.now(UTC))
        message.update(status=status, date_updated=now)
        if status in ("sending", "sent", "delivered", "undelivered", "read"):
            message["date_sent"] = message["date_sent"] or now
        self._changes.notify()

    def messages_to(self, to: str) -> list[dict[str, Any]]:
        """Accepted messages addressed to ``to`` (oldest first)."""
        return [m for m in self.messages if m["to"] == to]

    async def wait_for_messages(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Return ``messages`` once at least ``count`` were accepted, else AssertionError."""

        def what() -> str:
            seen = [(m["to"], m["body"]) for m in self.messages]
            attempts = [(r["form"].get("To"), r["status"]) for r in self.requests]
            return f": {seen}; POST attempts (To, status): {attempts}"

        return await self._wait_for("Twilio messages", self.messages, count, timeout, what)

    async def wait_for_calls(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Return ``calls`` once at least ``count`` were accepted, else AssertionError."""

        def what() -> str:
            attempts = [(r["form"].get("To"), r["status"]) for r in self.call_requests]
            return f"; POST attempts (To, status): {attempts}"

        return await self._wait_for("Twilio calls", self.calls, count, timeout, what)

    async def wait_for_tasks(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Return ``tasks`` once at least ``count`` were created, else AssertionError."""

        def what() -> str:
            attempts = [(r["path"], r["status"]) for r in self.task_requests]
            return f"; POST attempts (path, status): {attempts}"

        return await self._wait_for("TaskRouter tasks", self.tasks, count, timeout, what)

    async def _wait_for(
        self,
        noun: str,
        items: list[dict[str, Any]],
        count: int,
        timeout: float,
        seen: Callable[[], str],
    ) -> list[dict[str, Any]]:
        """``items`` once it holds ``count``; else AssertionError saying what was seen."""
        if await self._changes.wait_until(lambda: len(items) >= count, timeout):
            return list(items)
        raise AssertionError(
            f"expected >= {count} {noun} within {timeout}s, got {len(items)}{seen()}"
        )

    def task(self, sid: str) -> dict[str, Any]:
        """The recorded task ``sid`` (KeyError if there is none)."""
        for task in self.tasks:
            if task["sid"] == sid:
                return task
        raise KeyError(sid)

    def set_task_status(self, sid: str, status: str, reason: str | None = None) -> None:
        """Move a task to ``status`` as TaskRouter would (an agent accepts, completes, ...)."""
        assert status in TASK_STATUSES, status
        task = self.task(sid)
        task.update(assignment_status=status, date_updated=_iso_now())
        if reason is not None:
            task["reason"] = reason
        self._changes.notify()

    def forget_task(self, sid: str) -> None:
        """Delete a task, as TaskRouter does some minutes after it ended (then 404)."""
        self.tasks.remove(self.task(sid))
        self._changes.notify()

    def reset(self) -> None:
        """Forget all recorded state and injected faults."""
        self.messages.clear()
        self.requests.clear()
        self.lookups.clear()
        self.calls.clear()
        self.call_requests.clear()
        self.tasks.clear()
        self.task_requests.clear()
        for failures in self._failures.values():
            failures.clear()
        self._rejections.clear()
        self._delay = 0.0
        self._answer_delay = 0.0
        self._changes.notify()

    # ---------------------------------------------------------------- internals
    def _authorized(self, request: Request, account_sid: str | None = None) -> bool:
        """Basic auth with our credentials; ``account_sid`` (from the path) must be ours."""
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return (
            secrets.compare_digest(user, self.account_sid)
            and secrets.compare_digest(password, self.auth_token)
            and account_sid in (None, self.account_sid)
        )

    def _accept(self, form: dict[str, str], num_media: int) -> dict[str, Any]:
        sid = "SM" + secrets.token_hex(16)
        now = format_datetime(datetime.now(UTC))
        message: dict[str, Any] = {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": form.get("To", ""),
            "from": form.get("From"),
            "body": _rendered_body(form),
            "status": "queued",
            "direction": "outbound-api",
            "date_created": now,
            "date_updated": now,
            "date_sent": None,
            "num_segments": "1",
            "num_media": str(num_media),
            "error_code": None,
            "error_message": None,
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "price": None,
            "price_unit": "USD",
            "api_version": API_VERSION,
            "uri": f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}.json",
            "form": form,
        }
        self.messages.append(message)
        if self.on_accept is not None:
            self.on_accept(message)
        self._changes.notify()
        return message

    def _matches(self, message: dict[str, Any], query: dict[str, str]) -> bool:
        if "To" in query and message["to"] != query["To"]:
            return False
        if "From" in query and message["from"] != query["From"]:
            return False
        filters = [k for k in ("DateSent>", "DateSent<", "DateSent") if k in query]
        if not filters:
            return True
        if message["date_sent"] is None:  # queued: no date to compare, never listed by one
            return False
        sent = parsedate_to_datetime(message["date_sent"]).date()
        checks = {"DateSent>": sent.__ge__, "DateSent<": sent.__le__, "DateSent": sent.__eq__}
        return all(checks[k](date.fromisoformat(query[k])) for k in filters)

    def _build_app(self) -> FastAPI:
        app = FastAPI(title="fake-twilio")
        base = f"/{API_VERSION}/Accounts/{{account_sid}}/Messages.json"

        @app.post(base)
        async def create_message(account_sid: str, request: Request) -> JSONResponse:
            raw = await request.form()
            form = {k: str(v) for k, v in raw.items()}
            record: dict[str, Any] = {"method": "POST", "form": form, "status": 0, "sid": None}
            self.requests.append(record)
            response = await self._handle_post(
                account_sid, request, form, len(raw.getlist("MediaUrl"))
            )
            record["status"] = response.status_code
            if self.messages and self.messages[-1]["form"] is form:
                record["sid"] = self.messages[-1]["sid"]
            self._changes.notify()
            return response

        @app.get(base)
        async def list_messages(account_sid: str, request: Request) -> JSONResponse:
            query = dict(request.query_params)
            record: dict[str, Any] = {
                "method": "GET", "path": request.url.path, "query": query, "status": 401,
            }  # fmt: skip
            self.lookups.append(record)
            if not self._authorized(request, account_sid):
                return twilio_error(20003, 401)
            try:
                page_size = int(query.get("PageSize", "50"))
                found = [m for m in reversed(self.messages) if self._matches(m, query)]
            except ValueError as exc:
                record["status"] = 400
                return twilio_error(20001, 400, f"Invalid parameter: {exc}")
            record["status"] = 200
            uri = (
                f"{request.url.path}?{request.url.query}" if request.url.query else request.url.path
            )
            page = [{k: v for k, v in m.items() if k != "form"} for m in found[:page_size]]
            return JSONResponse(
                {
                    "messages": page,
                    "page": 0,
                    "page_size": page_size,
                    "start": 0,
                    "end": max(len(page) - 1, 0),
                    "uri": uri,
                    "first_page_uri": uri,
                    "next_page_uri": None,
                    "previous_page_uri": None,
                }
            )

        self._add_calls(app)
        self._add_taskrouter(app)
        return app

    async def _handle_post(
        self, account_sid: str, request: Request, form: dict[str, str], num_media: int
    ) -> JSONResponse:
        if not self._authorized(request, account_sid):
            return twilio_error(20003, 401)
        if self._delay:
            await asyncio.sleep(self._delay)
        to = form.get("To", "")
        rejection = self._rejections.get(to)
        if self._failures["messages"]:
            failure = self._failures["messages"].pop(0)
            if failure.accept and rejection is None:
                self._accept(form, num_media)
            return twilio_error(failure.code, failure.status)
        if rejection is not None:
            return twilio_error(*rejection)
        if not to:
            return twilio_error(21604, 400)
        if not form.get("Body") and not num_media and "ContentSid" not in form:
            return twilio_error(21602, 400)
        if len(form.get("Body", "")) > MAX_BODY_CHARS:
            return twilio_error(21617, 400)
        message = self._accept(form, num_media)
        if self._answer_delay:
            await asyncio.sleep(self._answer_delay)
        return JSONResponse({k: v for k, v in message.items() if k != "form"}, status_code=201)

    # -------------------------------------------------------------------- calls
    def _accept_call(self, form: dict[str, str]) -> dict[str, Any]:
        sid = "CA" + secrets.token_hex(16)
        now = format_datetime(datetime.now(UTC))
        call: dict[str, Any] = {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": form.get("To", ""),
            "to_formatted": form.get("To", ""),
            "from": form.get("From", ""),
            "from_formatted": form.get("From", ""),
            "status": "queued",
            "direction": "outbound-api",
            "date_created": now,
            "date_updated": now,
            "start_time": None,  # empty until the call is dialed
            "end_time": None,
            "duration": None,
            "price": None,
            "price_unit": "USD",
            "parent_call_sid": None,
            "answered_by": None,
            "caller_name": None,
            "forwarded_from": None,
            "queue_time": "0",
            "trunk_sid": None,
            "phone_number_sid": None,
            "group_sid": None,
            "api_version": API_VERSION,
            "uri": f"/{API_VERSION}/Accounts/{self.account_sid}/Calls/{sid}.json",
            "form": form,
        }
        self.calls.append(call)
        return call

    async def _create_call(self, account_sid: str, request: Request) -> JSONResponse:
        form = {k: str(v) for k, v in (await request.form()).items()}
        record: dict[str, Any] = {"method": "POST", "form": form, "status": 0, "sid": None}
        self.call_requests.append(record)
        response, call = await self._handle_call(account_sid, request, form)
        record["status"] = response.status_code
        record["sid"] = call["sid"] if call else None
        self._changes.notify()
        return response

    async def _handle_call(
        self, account_sid: str, request: Request, form: dict[str, str]
    ) -> tuple[JSONResponse, dict[str, Any] | None]:
        if not self._authorized(request, account_sid):
            return twilio_error(20003, 401), None
        if self._delay:
            await asyncio.sleep(self._delay)
        rejection = self._rejections.get(form.get("To", ""))
        if self._failures["calls"]:
            failure = self._failures["calls"].pop(0)
            accepted = self._accept_call(form) if failure.accept and rejection is None else None
            return twilio_error(failure.code, failure.status), accepted
        if rejection is not None:
            return twilio_error(*rejection), None
        if not form.get("To"):
            return twilio_error(21201, 400), None
        if not form.get("From"):
            return twilio_error(21213, 400), None
        if not any(form.get(k) for k in ("Url", "Twiml", "ApplicationSid")):
            return twilio_error(21205, 400), None
        call = self._accept_call(form)
        return JSONResponse(_public(call), status_code=201), call

    def _add_calls(self, app: FastAPI) -> None:
        path = f"/{API_VERSION}/Accounts/{{account_sid}}/Calls.json"

        @app.post(path)
        async def create_call(account_sid: str, request: Request) -> JSONResponse:
            return await self._create_call(account_sid, request)

        @app.get(path)
        async def list_calls(account_sid: str, request: Request) -> JSONResponse:
            query = dict(request.query_params)
            record: dict[str, Any] = {
                "method": "GET", "path": request.url.path, "query": query, "status": 401,
            }  # fmt: skip
            self.lookups.append(record)
            if not self._authorized(request, account_sid):
                return twilio_error(20003, 401)
            page_size = int(query.get("PageSize", "50"))
            found = [
                c
                for c in reversed(self.calls)
                if all(query[k] == c[f] for k, f in _CALL_FILTERS.items() if k in query)
            ]
            record["status"] = 200
            page = [_public(c) for c in found[:page_size]]
            return JSONResponse(
                {"calls": page, "page": 0, "page_size": page_size, "next_page_uri": None,
                 "uri": str(request.url.path)}
            )  # fmt: skip

    # --------------------------------------------------------------- taskrouter
    def _new_task(self, workspace_sid: str, form: dict[str, str]) -> dict[str, Any]:
        sid = "WT" + secrets.token_hex(16)
        now = _iso_now()
        url = f"https://taskrouter.twilio.com/v1/Workspaces/{workspace_sid}/Tasks/{sid}"
        channel = form.get("TaskChannel") or "default"
        task: dict[str, Any] = {
            "sid": sid,
            "account_sid": self.account_sid,
            "workspace_sid": workspace_sid,
            "workflow_sid": form.get("WorkflowSid"),
            "workflow_friendly_name": "Fake workflow",
            "assignment_status": "pending",
            "attributes": form.get("Attributes") or "{}",
            "task_channel_unique_name": channel,
            "task_channel_sid": "TC" + secrets.token_hex(16),
            "task_queue_sid": "WQ" + "0" * 32,
            "task_queue_friendly_name": "Fake queue",
            "priority": int(form.get("Priority") or 0),
            "timeout": int(form.get("Timeout") or 86400),
            "age": 0,
            "reason": None,
            "addons": "{}",
            "date_created": now,
            "date_updated": now,
            "task_queue_entered_date": now,
            "url": url,
            "links": {"reservations": f"{url}/Reservations"},
            "form": form,
            "parsed_attributes": json.loads(form.get("Attributes") or "{}"),
        }
        self.tasks.append(task)
        return task

    def _find_task(self, workspace_sid: str, sid: str) -> dict[str, Any] | None:
        return next(
            (t for t in self.tasks if t["sid"] == sid and t["workspace_sid"] == workspace_sid),
            None,
        )

    async def _task_post(
        self, request: Request, handler: Callable[[dict[str, str]], JSONResponse]
    ) -> JSONResponse:
        form = {k: str(v) for k, v in (await request.form()).items()}
        record = {"method": "POST", "path": request.url.path, "form": form, "status": 401}
        self.task_requests.append(record)
        if not self._authorized(request):
            response = twilio_error(20003, 401)
        else:
            if self._delay:
                await asyncio.sleep(self._delay)
            if self._failures["tasks"]:
                failure = self._failures["tasks"].pop(0)
                if failure.accept:
                    handler(form)
                response = twilio_error(failure.code, failure.status)
            else:
                response = handler(form)
        record["status"] = response.status_code
        self._changes.notify()
        return response

    def _create_task(self, workspace_sid: str, form: dict[str, str]) -> JSONResponse:
        if not form.get("WorkflowSid"):
            return twilio_error(
                20001, 400, "Missing required parameter WorkflowSid in the post body"
            )
        try:
            attributes = json.loads(form.get("Attributes") or "{}")
        except ValueError:
            attributes = None
        if not isinstance(attributes, dict):
            return twilio_error(20001, 400, "Attributes must be a valid JSON object")
        return JSONResponse(_public(self._new_task(workspace_sid, form)), status_code=201)

    def _update_task(self, workspace_sid: str, sid: str, form: dict[str, str]) -> JSONResponse:
        task = self._find_task(workspace_sid, sid)
        if task is None:
            return twilio_error(20404, 404)
        status = form.get("AssignmentStatus")
        if status is not None:
            if task["assignment_status"] not in _TRANSITIONS.get(status, ()):
                return twilio_error(
                    20001, 400,
                    f"Cannot change the task's status from {task['assignment_status']} to {status}",
                )  # fmt: skip
            task["assignment_status"] = status
        if "Reason" in form:
            task["reason"] = form["Reason"]
        if "Attributes" in form:
            task["attributes"] = form["Attributes"]
            task["parsed_attributes"] = json.loads(form["Attributes"])
        task["date_updated"] = _iso_now()
        return JSONResponse(_public(task))

    def _add_taskrouter(self, app: FastAPI) -> None:
        tasks = "/v1/Workspaces/{workspace_sid}/Tasks"

        @app.post(tasks)
        async def create_task(workspace_sid: str, request: Request) -> JSONResponse:
            return await self._task_post(request, lambda f: self._create_task(workspace_sid, f))

        @app.post(tasks + "/{sid}")
        async def update_task(workspace_sid: str, sid: str, request: Request) -> JSONResponse:
            return await self._task_post(
                request, lambda f: self._update_task(workspace_sid, sid, f)
            )

        @app.get(tasks)
        async def list_tasks(workspace_sid: str, request: Request) -> JSONResponse:
            query = dict(request.query_params)
            record = {"method": "GET", "path": request.url.path, "query": query, "status": 401}
            self.lookups.append(record)
            if not self._authorized(request):
                return twilio_error(20003, 401)
            expression = query.get("EvaluateTaskAttributes")
            clauses = _parse_expression(expression) if expression else []
            if clauses is None:
                record["status"] = 400
                return twilio_error(20001, 400, f"Invalid expression: {expression}")
            statuses = set(filter(None, query.get("AssignmentStatus", "").split(",")))
            found = [
                t
                for t in self.tasks
                if t["workspace_sid"] == workspace_sid
                and (not statuses or t["assignment_status"] in statuses)
                and all(t["parsed_attributes"].get(k) == v for k, v in clauses)
            ]
            record["status"] = 200
            # Like TaskRouter, a list leaves ``attributes`` out (only a fetch returns it).
            page = [{**_public(t), "attributes": None} for t in found]
            return JSONResponse(
                {"tasks": page, "meta": {"page": 0, "page_size": 50, "key": "tasks"}}
            )

        @app.get(tasks + "/{sid}")
        async def fetch_task(workspace_sid: str, sid: str, request: Request) -> JSONResponse:
            record = {"method": "GET", "path": request.url.path, "query": {}, "status": 401}
            self.lookups.append(record)
            if not self._authorized(request):
                return twilio_error(20003, 401)
            task = self._find_task(workspace_sid, sid)
            record["status"] = 200 if task else 404
            return JSONResponse(_public(task)) if task else twilio_error(20404, 404)


_CALL_FILTERS = {"To": "to", "From": "from", "Status": "status"}


def _rendered_body(form: dict[str, str]) -> str:
    """The body Twilio reports: the text sent, or for a template its rendered text.

    The fake has no templates: it renders one as its SID and its variables' values, which is
    never what the sender wrote, as with a real template.
    """
    content_sid = form.get("ContentSid")
    if not content_sid:
        return form.get("Body", "")
    variables = json.loads(form.get("ContentVariables") or "{}")
    return " ".join([f"Template {content_sid}:", *(str(v) for v in variables.values())])


def _public(resource: dict[str, Any]) -> dict[str, Any]:
    """A recorded resource as the API answers it (without the fake's own bookkeeping)."""
    return {k: v for k, v in resource.items() if k not in ("form", "parsed_attributes")}


def _iso_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_expression(expression: str) -> list[tuple[str, str]] | None:
    """``a == "x" AND b == 'y'`` as pairs; None for anything this fake does not understand."""
    pairs = []
    for clause in re.split(r"\s+(?:AND|and)\s+", expression):
        match = _CLAUSE.fullmatch(clause)
        if match is None:
            return None
        name, double, single = match.groups()
        pairs.append((name, json.loads(f'"{double}"') if double is not None else single))
    return pairs
