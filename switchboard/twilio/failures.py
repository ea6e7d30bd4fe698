"""How a failed Twilio request becomes the ``ApplicationError`` a workflow branches on.

One classifier for every activity that calls Twilio (Messages, Calls, TaskRouter), so the
same answer from Twilio fails a send, a call and a task the same way. The types are the
stable strings of :mod:`switchboard.contract.errors`; the Twilio error code (or None) is
always ``details[0]``, where workflows read it (21610 marks the customer opted out).

Twilio (Messages, Calls), first matching rule wins:

1. an error code that names the recipient as the problem (21610 opted out, 21211 invalid
   number, 63016 WhatsApp window closed): ``TwilioPermanentError``, whatever the status;
2. 408, 429 or 5xx: ``TwilioUnavailable``, retryable;
3. 401 or 403: ``TwilioAuthError``, non-retryable;
4. any other status (other 4xx): ``TwilioPermanentError``, non-retryable.

TaskRouter follows rule 2 and classes everything else ``TaskRouterRejected``. A request
that got no answer at all (``httpx.TransportError``) is ``TwilioUnavailable`` or
``TaskRouterUnavailable``.

Every retryable failure is safe to retry: each caller claims its request in the outbox
first, and an attempt that finds an earlier one begun without an answer asks Twilio
(``find_message``, ``find_call``, ``find_task``) before it sends again, so a retry never
duplicates. A non-retryable one is recorded in the outbox with :func:`outbox_note`.
"""

from __future__ import annotations

import httpx
from temporalio.exceptions import ApplicationError

from switchboard.contract import errors
from switchboard.twilio.rest import TwilioError
from switchboard.twilio.taskrouter import TaskRouterError

RECIPIENT_CODES = frozenset(
    {errors.TWILIO_OPTED_OUT, errors.TWILIO_INVALID_NUMBER, errors.TWILIO_WHATSAPP_WINDOW}
)
"""Twilio error codes that say the recipient, not the request or our account, is the problem."""


def is_transient_status(http_status: int) -> bool:
    """Whether an HTTP answer may turn into a success if the same request is sent later.

    408 (the request timed out on the way), 429 (rate limited: Temporal's backoff is the
    wait) and 5xx (the other side's fault) may; any other 4xx will not.
    """
    return http_status in (408, 429) or http_status >= 500


def classify_twilio_error(exc: TwilioError) -> ApplicationError:
    """The ``ApplicationError`` for an error answer from Twilio (rules in the module doc).

    A :class:`TaskRouterError` gets the TaskRouter types; any other gets the Twilio ones.
    ``details`` is always ``(exc.code,)``.
    """
    if isinstance(exc, TaskRouterError):
        return _classify_taskrouter(exc)
    if exc.code in RECIPIENT_CODES:
        # The code is more precise than the status: it says no retry can help, and why
        # (the workflow stops replying to an opted-out customer on 21610). Whatever status
        # it came with, a 403 must not read as our credentials being wrong, nor a 5xx be
        # retried into the same refusal.
        return _permanent(exc, errors.TWILIO_PERMANENT_ERROR)
    if is_transient_status(exc.http_status):
        # Twilio (or the way to it) is slow, busy or down: the same request may succeed
        # later, and the outbox makes the retry look before it sends.
        return ApplicationError(str(exc), exc.code, type=errors.TWILIO_UNAVAILABLE)
    if exc.http_status in (401, 403):
        # Our account SID, token or permissions: wrong for every request until an operator
        # fixes the configuration. Its own type, so nobody mistakes it for a bad recipient.
        return _permanent(exc, errors.TWILIO_AUTH_ERROR)
    # Any other refusal is about the request itself (a bad parameter, a number we may not
    # use): sending it again gets the same answer.
    return _permanent(exc, errors.TWILIO_PERMANENT_ERROR)


def _classify_taskrouter(exc: TaskRouterError) -> ApplicationError:
    if is_transient_status(exc.http_status):
        # As for Twilio: the retry looks the task up by its handoff key before creating it.
        return ApplicationError(str(exc), exc.code, type=errors.TASKROUTER_UNAVAILABLE)
    # Auth included: a handoff treats every refusing target alike (the webhook may still
    # take it) and an operator reads the code and message, so one type is enough.
    return _permanent(exc, errors.TASKROUTER_REJECTED)


def _permanent(exc: TwilioError, kind: str) -> ApplicationError:
    return ApplicationError(str(exc), exc.code, type=kind, non_retryable=True)


def twilio_unreachable(exc: httpx.TransportError) -> ApplicationError:
    """Retryable ``TwilioUnavailable`` for a Messages or Calls request that got no answer.

    The request may still have reached Twilio: the outbox's look-up settles that on retry.
    """
    return ApplicationError(
        f"Twilio unreachable: {type(exc).__name__}", type=errors.TWILIO_UNAVAILABLE
    )


def taskrouter_unreachable(exc: httpx.TransportError) -> ApplicationError:
    """Retryable ``TaskRouterUnavailable`` for a TaskRouter request that got no answer."""
    return ApplicationError(
        f"TaskRouter unreachable: {type(exc).__name__}", type=errors.TASKROUTER_UNAVAILABLE
    )


def outbox_note(exc: TwilioError) -> str:
    """What the outbox records for a request refused for good: the Twilio code, else the status."""
    return f"error {exc.code or exc.http_status}"
