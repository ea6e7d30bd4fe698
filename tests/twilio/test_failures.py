"""The one classifier of Twilio failures: each rule, and the shape workflows read."""

from __future__ import annotations

import httpx
import pytest

from switchboard.contract import errors
from switchboard.twilio.failures import (
    RECIPIENT_CODES,
    classify_twilio_error,
    is_transient_status,
    outbox_note,
    taskrouter_unreachable,
    twilio_unreachable,
)
from switchboard.twilio.rest import TwilioError
from switchboard.twilio.taskrouter import TaskRouterError

TRANSIENT = [408, 429, 500, 502, 503, 504]
AUTH = [401, 403]
OTHER_4XX = [400, 404, 405, 409, 410, 413, 422]


def test_recipient_codes_are_the_contract_codes() -> None:
    named = [errors.TWILIO_OPTED_OUT, errors.TWILIO_INVALID_NUMBER, errors.TWILIO_WHATSAPP_WINDOW]
    assert set(named) == RECIPIENT_CODES


@pytest.mark.parametrize(
    ("status", "transient"),
    [(400, False), (404, False), (407, False), (408, True), (409, False), (428, False),
     (429, True), (499, False), (500, True), (503, True), (599, True)],
)  # fmt: skip
def test_transient_statuses(status: int, transient: bool) -> None:
    assert is_transient_status(status) is transient


# --- rule 1: a code naming the recipient is permanent, whatever the status -----------------


@pytest.mark.parametrize("code", sorted(RECIPIENT_CODES))
@pytest.mark.parametrize("status", [400, *AUTH, 404, *TRANSIENT])
def test_a_recipient_code_is_permanent_whatever_the_status(code: int, status: int) -> None:
    error = classify_twilio_error(TwilioError(status, code, "refused"))
    assert error.type == errors.TWILIO_PERMANENT_ERROR and error.non_retryable
    assert error.details == (code,)  # where the workflow reads 21610 (opted out)


# --- rule 2: 408, 429 and 5xx are retryable -------------------------------------------------


@pytest.mark.parametrize("status", TRANSIENT)
@pytest.mark.parametrize("code", [20429, 20500, None])
def test_408_429_and_5xx_are_retryable(status: int, code: int | None) -> None:
    error = classify_twilio_error(TwilioError(status, code, "busy"))
    assert error.type == errors.TWILIO_UNAVAILABLE and not error.non_retryable
    assert error.details == (code,)


# --- rule 3: other 401 and 403 are auth errors ----------------------------------------------


@pytest.mark.parametrize("status", AUTH)
@pytest.mark.parametrize("code", [20003, 20403, None])
def test_401_and_403_are_auth_errors(status: int, code: int | None) -> None:
    error = classify_twilio_error(TwilioError(status, code, "Authenticate"))
    assert error.type == errors.TWILIO_AUTH_ERROR and error.non_retryable
    assert error.details == (code,)


# --- rule 4: any other status is permanent --------------------------------------------------


@pytest.mark.parametrize("status", [*OTHER_4XX, 302])
@pytest.mark.parametrize("code", [21602, 21604, None])
def test_other_refusals_are_permanent(status: int, code: int | None) -> None:
    error = classify_twilio_error(TwilioError(status, code, "bad request"))
    assert error.type == errors.TWILIO_PERMANENT_ERROR and error.non_retryable
    assert error.details == (code,)


def test_the_message_is_twilios() -> None:
    exc = TwilioError(400, 21211, "The 'To' number is not a valid phone number.")
    assert classify_twilio_error(exc).message == str(exc)


# --- TaskRouter ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", TRANSIENT)
def test_taskrouter_408_429_and_5xx_are_retryable(status: int) -> None:
    error = classify_twilio_error(TaskRouterError(status, 20500, "busy"))
    assert error.type == errors.TASKROUTER_UNAVAILABLE and not error.non_retryable
    assert error.details == (20500,)


@pytest.mark.parametrize("status", [*AUTH, *OTHER_4XX])
def test_every_other_taskrouter_refusal_is_rejected(status: int) -> None:
    error = classify_twilio_error(TaskRouterError(status, 20001, "Invalid parameter"))
    assert error.type == errors.TASKROUTER_REJECTED and error.non_retryable
    assert error.details == (20001,)
    assert error.message.startswith(f"TaskRouter {status}")


# --- no answer at all -----------------------------------------------------------------------


NO_ANSWER = [httpx.ConnectError("no"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("x")]


@pytest.mark.parametrize("exc", NO_ANSWER)
def test_no_answer_is_retryable(exc: httpx.TransportError) -> None:
    twilio = twilio_unreachable(exc)
    assert twilio.type == errors.TWILIO_UNAVAILABLE and not twilio.non_retryable
    assert twilio.message == f"Twilio unreachable: {type(exc).__name__}"
    taskrouter = taskrouter_unreachable(exc)
    assert taskrouter.type == errors.TASKROUTER_UNAVAILABLE and not taskrouter.non_retryable
    assert taskrouter.message == f"TaskRouter unreachable: {type(exc).__name__}"


# --- what the outbox records ----------------------------------------------------------------


def test_outbox_note_names_the_code_else_the_status() -> None:
    assert outbox_note(TwilioError(400, 21610, "opted out")) == "error 21610"
    assert outbox_note(TwilioError(403, None, "Forbidden")) == "error 403"
    assert outbox_note(TaskRouterError(400, 20001, "Invalid parameter")) == "error 20001"
