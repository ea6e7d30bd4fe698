"""Master keys for payload encryption (``PAYLOAD_ENCRYPTION_KEYS``), and AES-256-GCM.

Master keys never encrypt a payload themselves: they wrap the data keys (one per customer,
``switchboard.runtime.data_keys``) that do. They sit behind ``MasterKeys``, so a KMS can
hold them later without anything else changing; ``EnvironmentKeys`` reads them from the
variable: comma-separated ``<key id>:<base64 of 32 random bytes>``, the first wraps new
data keys, every one unwraps.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VARIABLE = "PAYLOAD_ENCRYPTION_KEYS"
KEY_BYTES = 32
"""AES-256."""
NONCE_BYTES = 12
"""GCM's standard nonce; random per message (a key seals far fewer than 2**32 messages)."""
_KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class PayloadKeyError(Exception):
    """``PAYLOAD_ENCRYPTION_KEYS`` is malformed. The message names the variable, never a key.

    Not a ``ValueError`` on purpose: raised while the settings are read, a ``ValueError``
    would be wrapped by pydantic into an error that quotes the value it was given.
    """


class DecryptionError(Exception):
    """A ciphertext did not authenticate: wrong key, or tampered with."""


def seal(key: bytes, plaintext: bytes, associated: bytes) -> bytes:
    """AES-256-GCM: a random nonce, then the ciphertext and its tag."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, associated)


def unseal(key: bytes, sealed: bytes, associated: bytes) -> bytes:
    """The plaintext ``seal`` sealed with ``key`` and ``associated``.

    Raises:
        DecryptionError: ``sealed`` is not that (wrong key, other associated data, tampered).
    """
    if len(sealed) < NONCE_BYTES + 16:
        raise DecryptionError("ciphertext too short")
    try:
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], associated)
    except InvalidTag as exc:
        raise DecryptionError("ciphertext did not authenticate") from exc


class MasterKeys(Protocol):
    """Whoever holds the master keys: wraps and unwraps data keys, never shows a key."""

    @property
    def primary(self) -> str:
        """The id of the key that wraps new data keys."""

    def wrap(self, data_key: bytes, associated: bytes) -> tuple[str, bytes]:
        """``data_key`` sealed by the primary key: (its id, the wrapped bytes)."""

    def unwrap(self, key_id: str, wrapped: bytes, associated: bytes) -> bytes:
        """The data key ``wrap`` wrapped under ``key_id``.

        Raises:
            DecryptionError: no such key here, or the wrapped bytes do not authenticate.
        """


class EnvironmentKeys:
    """Master keys from ``PAYLOAD_ENCRYPTION_KEYS`` (see ``parse_keys``)."""

    def __init__(self, keys: dict[str, bytes], primary: str) -> None:
        self._keys = keys
        self._primary = primary

    @property
    def primary(self) -> str:
        """The first key's id."""
        return self._primary

    @property
    def ids(self) -> list[str]:
        """Every key id, the primary first."""
        return list(self._keys)

    def wrap(self, data_key: bytes, associated: bytes) -> tuple[str, bytes]:
        """``data_key`` sealed by the primary key."""
        return self._primary, seal(self._keys[self._primary], data_key, associated)

    def unwrap(self, key_id: str, wrapped: bytes, associated: bytes) -> bytes:
        """The data key wrapped under ``key_id`` (see ``MasterKeys.unwrap``)."""
        key = self._keys.get(key_id)
        if key is None:
            raise DecryptionError(f"master key {key_id!r} is not in {VARIABLE}")
        return unseal(key, wrapped, associated)

    def __repr__(self) -> str:
        return f"EnvironmentKeys(ids={self.ids!r})"


def parse_keys(value: str) -> EnvironmentKeys | None:
    """The master keys ``value`` lists; None when it is empty (encryption off).

    Raises:
        PayloadKeyError: an entry is not ``<key id>:<base64 of 32 bytes>``, or an id repeats.
            The message says which entry (by position) and why, never its value.
    """
    entries = [entry.strip() for entry in value.split(",")]
    if not any(entries):
        return None
    keys: dict[str, bytes] = {}
    for position, entry in enumerate(entries, start=1):
        if not entry:
            continue  # a trailing comma
        key_id, colon, encoded = entry.partition(":")
        key_id = key_id.strip()
        if not colon or not _KEY_ID.fullmatch(key_id):
            raise PayloadKeyError(
                f"{VARIABLE}: entry {position} is not <key id>:<base64 of 32 random bytes>"
                " (a key id is 1-64 letters, digits, '.', '_' or '-')"
            )
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise PayloadKeyError(
                f"{VARIABLE}: the key of entry {position} ({key_id}) is not base64"
            ) from None
        if len(key) != KEY_BYTES:
            raise PayloadKeyError(
                f"{VARIABLE}: the key of entry {position} ({key_id}) is {len(key)} bytes,"
                f" not {KEY_BYTES}"
            )
        if key_id in keys:
            raise PayloadKeyError(f"{VARIABLE}: key id {key_id!r} appears twice")
        keys[key_id] = key
    return EnvironmentKeys(keys, primary=next(iter(keys)))


def new_key_setting(key_id: str = "k1") -> str:
    """A fresh ``PAYLOAD_ENCRYPTION_KEYS`` entry: ``<key_id>:<base64 of 32 random bytes>``."""
    return f"{key_id}:{base64.b64encode(os.urandom(KEY_BYTES)).decode()}"
