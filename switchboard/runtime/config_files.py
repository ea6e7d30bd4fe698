"""Reading a configuration file a person wrote: TOML or JSON, one top-level table."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any


class ConfigFileError(ValueError):
    """The file is not a TOML or JSON table; the message says why, without the file's name."""


def parse_table(path: Path, text: str, expected: str) -> dict[str, Any]:
    """``text`` (the content of ``path``) as a table, by the file's suffix.

    ``expected`` names the key the table should hold, for the message when JSON is not an
    object.

    Raises:
        ConfigFileError: not valid TOML or JSON, not an object, or another suffix.
    """
    try:
        if path.suffix == ".toml":
            return tomllib.loads(text)
        if path.suffix == ".json":
            data = json.loads(text)
            if not isinstance(data, dict):
                raise ConfigFileError(f"expected an object with {expected!r}")
            return data
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ConfigFileError(f"not valid {path.suffix[1:]}: {exc}") from exc
    raise ConfigFileError("use a .toml or .json file")
