"""Duration parsing and the ``Settings`` that depend on it."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from switchboard.runtime.config import SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN, Settings
from switchboard.runtime.durations import parse_duration

ACCOUNT_SID = "AC" + "a" * 32
AUTH_TOKEN = "super-secret-auth-token-1234"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("10m", timedelta(minutes=10)),
        ("1h", timedelta(hours=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1.5s", timedelta(seconds=1.5)),
        ("250ms", timedelta(milliseconds=250)),
        ("2d", timedelta(days=2)),
        ("3600", timedelta(hours=1)),
        ("0", timedelta(0)),
        (" 1H 30M ", timedelta(hours=1, minutes=30)),
        (3600, timedelta(hours=1)),
        (1.5, timedelta(seconds=1.5)),
    ],
)
def test_parse_duration(value: str | float, expected: timedelta) -> None:
    assert parse_duration(value) == expected


def test_timedelta_passes_through() -> None:
    value = timedelta(minutes=7)
    assert parse_duration(value) is value


@pytest.mark.parametrize("value", ["", "   ", "abc", "10x", "-5", "1h-3m", "h", "1h 30", -1])
def test_parse_duration_rejects(value: str | int) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)


@pytest.mark.parametrize("value", ["inf", "1000000000d", "1e400"])
def test_parse_duration_rejects_out_of_range_with_value_error(value: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)


# --- Settings ---------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No variable from the developer's shell may leak into these Settings."""
    fields = set(Settings.model_fields)
    for name in list(os.environ):
        if name.upper().startswith(("TWILIO_", "LLM_")) or name.lower() in fields:
            monkeypatch.delenv(name, raising=False)


def make_settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


def test_settings_need_no_arguments() -> None:
    settings = make_settings()
    assert settings.conversation_idle_timeout == timedelta(hours=1)
    assert settings.message_batch_window == timedelta(seconds=1.5)


def test_settings_parse_durations() -> None:
    settings = make_settings(conversation_idle_timeout="1h30m", message_batch_window="250ms")
    assert settings.conversation_idle_timeout == timedelta(hours=1, minutes=30)
    assert settings.message_batch_window == timedelta(milliseconds=250)


def test_settings_read_durations_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVERSATION_IDLE_TIMEOUT", "10m")
    assert make_settings().conversation_idle_timeout == timedelta(minutes=10)


def test_settings_reject_a_bad_duration() -> None:
    with pytest.raises(ValidationError):
        make_settings(conversation_idle_timeout="soon")


def test_settings_reject_an_infinite_duration() -> None:
    with pytest.raises(ValidationError):
        make_settings(conversation_idle_timeout="inf")


@pytest.mark.parametrize(
    "values", [{"twilio_account_sid": ACCOUNT_SID}, {"twilio_auth_token": AUTH_TOKEN}]
)
def test_settings_need_both_twilio_credentials_or_neither(values: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        make_settings(**values)


def test_handoff_webhook_needs_its_own_secret() -> None:
    url = "https://crm.example.com/handoff"
    with pytest.raises(ValidationError, match="HANDOFF_WEBHOOK_SECRET"):
        make_settings(handoff_webhook_url=url)
    # The operator key no longer signs handoffs: a receiver would hold full /api access.
    with pytest.raises(ValidationError, match="HANDOFF_WEBHOOK_SECRET"):
        make_settings(handoff_webhook_url=url, gateway_api_key="k")
    with pytest.raises(ValidationError, match="must differ from GATEWAY_API_KEY"):
        make_settings(handoff_webhook_url=url, gateway_api_key="k", handoff_webhook_secret="k")
    settings = make_settings(handoff_webhook_url=url, handoff_webhook_secret="s")
    assert settings.handoff_webhook_url == url
    assert settings.handoff_webhook_secret is not None
    assert settings.handoff_webhook_secret.get_secret_value() == "s"


def test_sandbox_mode() -> None:
    settings = make_settings(public_base_url="https://abc.ngrok.app/")
    assert settings.sandbox is True
    assert settings.account_sid == SANDBOX_ACCOUNT_SID
    assert settings.auth_token == SANDBOX_AUTH_TOKEN
    assert settings.public_base_url == "https://abc.ngrok.app"
    assert settings.twilio_rest_base_url == "https://abc.ngrok.app/sandbox/twilio"


def test_sandbox_rest_base_url_can_be_overridden() -> None:
    settings = make_settings(twilio_api_base_url="http://127.0.0.1:9999/")
    assert settings.sandbox is True
    assert settings.twilio_rest_base_url == "http://127.0.0.1:9999"


def test_credentials_mode() -> None:
    settings = make_settings(twilio_account_sid=ACCOUNT_SID, twilio_auth_token=AUTH_TOKEN)
    assert settings.sandbox is False
    assert settings.account_sid == ACCOUNT_SID
    assert settings.auth_token == AUTH_TOKEN
    assert settings.twilio_rest_base_url == "https://api.twilio.com"


def test_credentials_mode_rest_base_url_can_be_overridden() -> None:
    settings = make_settings(
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_api_base_url="http://fake-twilio.local/",
    )
    assert settings.twilio_rest_base_url == "http://fake-twilio.local"


def test_credentials_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    settings = make_settings()
    assert settings.sandbox is False
    assert settings.auth_token == AUTH_TOKEN


def test_secrets_never_appear_in_repr_or_summary() -> None:
    settings = make_settings(
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        llm_api_key="sk-very-secret-llm-key",
        gateway_api_key="gateway-secret-key",
    )
    for text in (repr(settings), str(settings), repr(settings.safe_summary())):
        assert AUTH_TOKEN not in text
        assert "sk-very-secret-llm-key" not in text
        assert "gateway-secret-key" not in text
    assert settings.safe_summary()["sandbox"] is False
