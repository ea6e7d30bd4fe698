"""The settings parser, fuzzed through the environment: a ``Settings`` or a clear refusal.

Whatever the environment holds, reading it either gives settings that keep their promises
(no empty secret, no secret in the summary that is logged or in a ``repr``) or refuses: a
``ValidationError`` that ``python -m gateway`` turns into its refusal message, or a
``PayloadKeyError`` for malformed encryption keys (raised as is, so that it quotes no key,
which it must not); nothing else.
"""

from __future__ import annotations

import os
from typing import Any
from unittest import mock

from hypothesis import event, given
from hypothesis import strategies as st
from pydantic import SecretStr, ValidationError

from gateway.__main__ import _described, refusals
from switchboard.runtime.config import Settings
from switchboard.runtime.durations import parse_duration
from switchboard.runtime.payload_keys import VARIABLE as KEYS
from switchboard.runtime.payload_keys import PayloadKeyError
from tests.fuzz.strategies import any_text, number_text

# What an environment variable can hold: no NUL, no lone surrogate.
env_text = any_text.filter(lambda value: "\x00" not in value)
SECRETS = sorted(
    name for name, field in Settings.model_fields.items() if "SecretStr" in str(field.annotation)
)
VALUES: dict[str, st.SearchStrategy[str]] = {
    "bool": st.sampled_from(["true", "false", "1", "0", "yes", "no", "on", "off", "TRUE", "maybe"]),
    "int": number_text,
    "duration": st.sampled_from(
        ["90s", "10m", "1h30m", "1.5s", "250ms", "0s", "-1s", "1e400", "3600"]
    )
    | env_text,
    "url": st.sampled_from(
        ["http://localhost:8000", "https://x.example/", "sqlite:///x.db", "", "::"]
    )
    | env_text,
    "secret": st.sampled_from(["", "  "])
    | st.text("0123456789abcdef", min_size=16, max_size=32).map(lambda hex: "secret-" + hex),
    "text": env_text,
}


def kind_of(name: str) -> str:
    """Which kind of value a setting takes, by its annotation and name."""
    annotation = str(Settings.model_fields[name].annotation)
    if name in SECRETS:
        return "secret"
    if "bool" in annotation:
        return "bool"
    if "int" in annotation:
        return "int"
    if "timedelta" in annotation:
        return "duration"
    if name.endswith(("_url", "_address", "_host")):
        return "url"
    return "text"


@st.composite
def environments(draw: st.DrawFn) -> dict[str, str]:
    """Some settings, each set to a value of its kind or to anything at all."""
    names = draw(st.lists(st.sampled_from(sorted(Settings.model_fields)), max_size=10, unique=True))
    env = {}
    for name in names:
        values = VALUES[kind_of(name)]
        env[name.upper()] = draw(st.one_of(values, values, env_text))
    return env


@given(env=environments())
def test_any_environment_gives_settings_or_a_clear_refusal(env: dict[str, str]) -> None:
    with mock.patch.dict(os.environ, env, clear=True):
        try:
            settings = Settings(_env_file=None)
        except ValidationError as exc:
            event("refused")
            assert all(_described(error) for error in exc.errors())
            return
        except PayloadKeyError as exc:
            event("refused: encryption keys")
            if env[KEYS].startswith("secret-"):  # distinctive enough not to turn up by chance
                assert env[KEYS] not in str(exc)
            return
    event("read")
    secrets: list[Any] = [getattr(settings, name) for name in SECRETS]
    for secret in secrets:
        assert secret is None or (
            isinstance(secret, SecretStr) and secret.get_secret_value().strip()
        )
    shown = f"{settings!r} {settings.safe_summary()}"
    for secret in secrets:  # the distinctive ones (a "0" would turn up by chance)
        if secret is not None and secret.get_secret_value().startswith("secret-"):
            assert secret.get_secret_value() not in shown
    assert all(isinstance(problem, str) for problem in refusals(settings))


@given(text=any_text)
def test_a_duration_is_a_non_negative_timedelta_or_a_value_error(text: str) -> None:
    try:
        duration = parse_duration(text)
    except ValueError:
        return
    assert duration.total_seconds() >= 0
