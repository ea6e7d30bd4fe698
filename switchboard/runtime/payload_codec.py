"""The payload codec that encrypts what the project writes to Temporal, a key per customer.

Temporal histories would otherwise hold phone numbers, transcripts, profiles and handoff
packages in clear text. ``EncryptionCodec`` seals each payload whole (its metadata and data,
as protobuf bytes) with AES-256-GCM under a data key (``switchboard.runtime.data_keys``):
the SDK hands the codec a serialization context naming the workflow a payload belongs to,
and ``conv-<E.164>`` and ``callback-<E.164>-…`` name the customer whose key is used.

An encrypted payload's metadata says ``encoding: binary/encrypted`` and names its data key
(``encryption-key-id``) and, for the record, the master key that wrapped it; decoding needs
nothing else, which is what lets the Temporal UI's codec endpoint (``POST /codec/decode``)
decode payloads it is given without knowing their workflow. A payload without that encoding
(written before keys were set) passes through unchanged.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Self

from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    ActivitySerializationContext,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
    WorkflowSerializationContext,
)

from switchboard.runtime.data_keys import SHARED_SCOPE, DataKeys, scope_of
from switchboard.runtime.payload_keys import DecryptionError, seal, unseal

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
"""The data key that sealed the payload."""
MASTER_KEY_ID = "encryption-master-key-id"
"""The master key that wrapped that data key (informational: the stored row is authoritative)."""
CIPHER = "encryption-cipher"
AES_256_GCM = b"AES-256-GCM"


class EncryptionCodec(PayloadCodec, WithSerializationContext):
    """Encrypts payloads with the data key of the customer their workflow names.

    Without a context (or for a workflow that names no customer) the shared data key is
    used; the SDK gives every client call, workflow task and activity a context.

    Args:
        keys: The process's data keys.
        scope: The data key scope this instance encrypts for (``with_context`` sets it).
    """

    def __init__(self, keys: DataKeys, scope: str = SHARED_SCOPE) -> None:
        self.keys = keys
        self.scope = scope

    def with_context(self, context: SerializationContext) -> Self:
        """A copy that encrypts for the customer the context's workflow names."""
        workflow_id = (
            context.workflow_id
            if isinstance(context, WorkflowSerializationContext | ActivitySerializationContext)
            else None
        )
        scoped = copy.copy(self)
        scoped.scope = scope_of(workflow_id)
        return scoped

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Each payload sealed whole under the scope's current data key."""
        if not payloads:
            return []
        key = await self.keys.current(self.scope)
        return [
            Payload(
                metadata={
                    "encoding": ENCODING,
                    KEY_ID: key.key_id.encode(),
                    MASTER_KEY_ID: key.master_key_id.encode(),
                    CIPHER: AES_256_GCM,
                },
                data=seal(key.key, payload.SerializeToString(), key.key_id.encode()),
            )
            for payload in payloads
        ]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Each encrypted payload opened; others returned as they are.

        Raises:
            DataKeyGone: a payload's data key was destroyed (its customer was forgotten).
            DecryptionError: a payload is malformed, tampered with, or its master key is gone.
        """
        return [await self.decode_one(payload) for payload in payloads]

    async def decode_one(self, payload: Payload) -> Payload:
        """One payload opened (or returned as it is when it was not encrypted here)."""
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        raw_id = payload.metadata.get(KEY_ID)
        if not raw_id:
            raise DecryptionError(f"encrypted payload without {KEY_ID}")
        key = await self.keys.by_id(raw_id.decode("utf-8", "replace"))
        opened = unseal(key.key, payload.data, key.key_id.encode())
        decoded = Payload()
        try:
            decoded.ParseFromString(opened)
        except DecodeError as exc:  # authenticated, so sealed by a codec of another shape
            raise DecryptionError("decrypted payload is not a Temporal payload") from exc
        return decoded

    def forget(self, customer: str) -> None:
        """Drop a forgotten customer's keys from this process (the store deleted them)."""
        self.keys.forget(customer)

    async def close(self) -> None:
        """Release the key store's connections."""
        await self.keys.store.close()
