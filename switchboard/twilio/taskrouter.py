"""A small async client for the TaskRouter calls a handoff makes: create, find, fetch, cancel.

TaskRouter (``{TWILIO_TASKROUTER_BASE_URL}/v1/Workspaces/{WS}/Tasks``) is what Flex routes
to its agents. Like the Messages client it goes through ``httpx`` with HTTP Basic auth and
no retries of its own: Temporal owns every retry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from switchboard.twilio.rest import TwilioError, check_response

MAX_TASK_TIMEOUT_S = 1_209_600
"""TaskRouter's ceiling on a task's ``Timeout`` (two weeks)."""
CANCELABLE_STATUSES = frozenset({"pending", "reserved"})
"""Only a task nobody has accepted yet can be canceled."""


class TaskRouterError(TwilioError):
    """A non-2xx answer from TaskRouter, with its HTTP status and Twilio error code."""

    def __str__(self) -> str:
        return f"TaskRouter {self.http_status} (code {self.code}): {self.message}"


@dataclass(frozen=True)
class TaskResource:
    """The fields of a Task resource we use."""

    sid: str
    assignment_status: str
    reason: str | None
    attributes: dict[str, Any]


def _parse_task(data: dict[str, Any]) -> TaskResource:
    raw = data.get("attributes")
    try:
        # A JSON string; lists of tasks leave it null (only a fetch returns it).
        attributes = json.loads(raw) if isinstance(raw, str) else {}
    except ValueError:
        attributes = {}
    return TaskResource(
        sid=str(data["sid"]),
        assignment_status=str(data.get("assignment_status") or "pending"),
        reason=data.get("reason"),
        attributes=attributes if isinstance(attributes, dict) else {},
    )


class TaskRouterClient:
    """Task calls against ``{base_url}/v1/Workspaces/{workspace_sid}/Tasks``."""

    def __init__(self, http: httpx.AsyncClient, base_url: str, account_sid: str, token: str):
        self._http = http
        self._base = f"{base_url.rstrip('/')}/v1/Workspaces"
        self._auth = httpx.BasicAuth(account_sid, token)

    def _tasks(self, workspace_sid: str) -> str:
        return f"{self._base}/{workspace_sid}/Tasks"

    async def create_task(
        self,
        workspace_sid: str,
        workflow_sid: str,
        attributes: dict[str, Any],
        task_channel: str,
        timeout_s: int,
    ) -> str:
        """Create a task routed by ``workflow_sid``; returns its SID (``WT…``).

        Raises:
            TaskRouterError: TaskRouter answered with an error status.
            httpx.TransportError: the request did not complete.
        """
        form = {
            "WorkflowSid": workflow_sid,
            "Attributes": json.dumps(attributes),
            "TaskChannel": task_channel,
            "Timeout": str(max(1, min(timeout_s, MAX_TASK_TIMEOUT_S))),
        }
        response = await self._http.post(self._tasks(workspace_sid), data=form, auth=self._auth)
        return _parse_task(check_response(response, TaskRouterError)).sid

    async def find_task(self, workspace_sid: str, attribute: str, value: str) -> str | None:
        """The SID of a task whose attribute ``attribute`` equals ``value``, if one exists.

        Uses ``EvaluateTaskAttributes`` (a TaskRouter expression), so an attempt whose
        outcome we never saw can tell whether its task was created. ``value`` is written as
        a double-quoted string literal.

        Raises:
            TaskRouterError: TaskRouter answered with an error status.
            httpx.TransportError: the request did not complete.
        """
        params = {"EvaluateTaskAttributes": f"{attribute} == {json.dumps(value)}"}
        response = await self._http.get(self._tasks(workspace_sid), params=params, auth=self._auth)
        tasks = check_response(response, TaskRouterError).get("tasks") or []
        return str(tasks[0]["sid"]) if tasks else None

    async def fetch_task(self, workspace_sid: str, task_sid: str) -> TaskResource | None:
        """The task, or None when TaskRouter no longer knows it.

        TaskRouter forgets canceled and completed tasks a few minutes after they end.

        Raises:
            TaskRouterError: TaskRouter answered with an error status other than 404.
            httpx.TransportError: the request did not complete.
        """
        response = await self._http.get(f"{self._tasks(workspace_sid)}/{task_sid}", auth=self._auth)
        if response.status_code == 404:
            return None
        return _parse_task(check_response(response, TaskRouterError))

    async def cancel_task(self, workspace_sid: str, task_sid: str, reason: str) -> TaskResource:
        """Cancel a pending or reserved task (``AssignmentStatus=canceled``, ``Reason``).

        Raises:
            TaskRouterError: TaskRouter answered with an error status (404 when the task is
                gone, 400 when it can no longer be canceled).
            httpx.TransportError: the request did not complete.
        """
        form = {"AssignmentStatus": "canceled", "Reason": reason}
        response = await self._http.post(
            f"{self._tasks(workspace_sid)}/{task_sid}", data=form, auth=self._auth
        )
        return _parse_task(check_response(response, TaskRouterError))
