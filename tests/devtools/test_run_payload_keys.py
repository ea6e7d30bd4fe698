"""``make run`` encrypts payloads without being told: a local key made once, the UI's codec."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from switchboard.devtools.devserver import DevServer
from switchboard.devtools.run import local_payload_keys
from switchboard.runtime.payload_keys import PayloadKeyError, parse_keys


def test_the_local_key_is_made_once_and_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "payload-keys"
    first = local_payload_keys(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert local_payload_keys(path) == first
    keys = parse_keys(first)
    assert keys is not None and keys.ids == ["local1"]


def test_a_damaged_key_file_is_an_error_that_does_not_echo_it(tmp_path: Path) -> None:
    path = tmp_path / "payload-keys"
    path.write_text("local1:c2VjcmV0")
    with pytest.raises(PayloadKeyError) as raised:
        local_payload_keys(path)
    assert "c2VjcmV0" not in str(raised.value)


def test_the_dev_servers_ui_decodes_through_the_gateway() -> None:
    server = DevServer(ui_port=8233, ui_codec_endpoint="http://127.0.0.1:8000/codec")
    command = server.command()
    assert command[command.index("--ui-codec-endpoint") + 1] == "http://127.0.0.1:8000/codec"
    assert "--ui-codec-endpoint" not in DevServer(ui_port=None).command()
