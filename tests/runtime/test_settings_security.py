"""Settings that could fail open: empty values count as unset, half configurations refuse.

Compose's ``${VAR}`` pass-through, an ``.env`` line left as ``KEY=``, or a shell's
``export KEY=`` give the process empty strings; none of them may become an empty key.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from gateway.__main__ import is_loopback, refusals
from switchboard.runtime.config import SANDBOX_AUTH_TOKEN, Settings

ACCOUNT_SID = "AC" + "b" * 32


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No variable from the developer's shell may leak into these Settings."""
    fields = set(Settings.model_fields)
    for name in list(os.environ):
        if name.upper().startswith(("TWILIO_", "LLM_")) or name.lower() in fields:
            monkeypatch.delenv(name, raising=False)


def from_env(monkeypatch: pytest.MonkeyPatch, **variables: str) -> Settings:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return Settings(_env_file=None)


@pytest.mark.parametrize("value", ["", "   "])
def test_an_empty_gateway_api_key_is_unset(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    assert from_env(monkeypatch, GATEWAY_API_KEY=value).gateway_api_key is None
    assert Settings(_env_file=None, gateway_api_key=value).gateway_api_key is None


def test_empty_twilio_credentials_are_sandbox_mode_not_an_empty_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = from_env(monkeypatch, TWILIO_ACCOUNT_SID="", TWILIO_AUTH_TOKEN="")
    assert settings.sandbox
    assert settings.twilio_auth_token is None
    assert settings.auth_token == SANDBOX_AUTH_TOKEN


@pytest.mark.parametrize(
    "variables",
    [
        {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": ""},
        {"TWILIO_ACCOUNT_SID": "", "TWILIO_AUTH_TOKEN": "token"},
        {"TWILIO_ACCOUNT_SID": ACCOUNT_SID},
        {"TWILIO_AUTH_TOKEN": "token"},
    ],
)
def test_only_one_twilio_credential_is_an_error(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str]
) -> None:
    with pytest.raises(ValidationError, match="TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"):
        from_env(monkeypatch, **variables)


def test_an_empty_handoff_webhook_secret_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="HANDOFF_WEBHOOK_SECRET"):
        from_env(
            monkeypatch,
            HANDOFF_WEBHOOK_URL="https://crm.example.com/hook",
            HANDOFF_WEBHOOK_SECRET="",
            GATEWAY_API_KEY="operator-key",
        )
    # An empty URL is no webhook at all.
    assert from_env(monkeypatch, HANDOFF_WEBHOOK_URL="").handoff_webhook_url is None


def test_every_optional_setting_treats_empty_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    optional = [name for name, field in Settings.model_fields.items() if field.default is None]
    settings = from_env(monkeypatch, **{name.upper(): "" for name in optional})
    assert all(getattr(settings, name) is None for name in optional)


def test_empty_values_take_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = from_env(
        monkeypatch,
        GATEWAY_HOST="",
        PUBLIC_BASE_URL="",
        TWILIO_VALIDATE_SIGNATURES="",
        TEMPORAL_ADDRESS="",
    )
    assert settings.gateway_host == "127.0.0.1"  # never "all interfaces"
    assert settings.public_base_url == "http://localhost:8000"
    assert settings.twilio_validate_signatures is True
    assert settings.temporal_address == "localhost:7233"


def test_an_empty_greeting_still_means_no_greeting(monkeypatch: pytest.MonkeyPatch) -> None:
    # Documented as "(empty: none)": a spoken text, not a secret or an address.
    assert from_env(monkeypatch, VOICE_WELCOME_GREETING="").voice_welcome_greeting == ""


def test_empty_lines_in_an_env_file_are_unset(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("GATEWAY_API_KEY=\nTWILIO_ACCOUNT_SID=\nTWILIO_AUTH_TOKEN=\n")
    settings = Settings(_env_file=env_file)
    assert settings.gateway_api_key is None and settings.sandbox


# --- what may face the network (python -m gateway) ----------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "10.0.0.5", "gateway.example.com"])
def test_hosts_that_face_the_network(host: str) -> None:
    assert not is_loopback(host)


def secure(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "gateway_host": "0.0.0.0",
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": "token",
        "gateway_api_key": "operator-key",
        **overrides,
    }
    return Settings(_env_file=None, **values)


def test_a_secure_configuration_may_face_the_network() -> None:
    assert refusals(secure()) == []


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"twilio_validate_signatures": False}, "TWILIO_VALIDATE_SIGNATURES=false"),
        ({"twilio_account_sid": None, "twilio_auth_token": None}, "sandbox mode"),
        ({"gateway_api_key": None}, "GATEWAY_API_KEY"),
        ({"gateway_api_key": ""}, "GATEWAY_API_KEY"),
    ],
)
def test_insecure_settings_are_refused_off_loopback(overrides: dict[str, Any], named: str) -> None:
    [problem] = refusals(secure(**overrides))
    assert named in problem and "0.0.0.0" in problem
    assert refusals(secure(gateway_host="127.0.0.1", **overrides)) == []
