"""The encrypting payload codec: round trips, key ids and rotation, tampering, pass-through,
per-customer data keys chosen by serialization context, and the key configuration errors."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import ActivitySerializationContext, WorkflowSerializationContext

from switchboard.memory import MemoryStore, open_store
from switchboard.runtime.config import Settings
from switchboard.runtime.data_keys import SHARED_SCOPE, DataKeyGone, DataKeys, scope_of
from switchboard.runtime.payload_codec import ENCODING, KEY_ID, MASTER_KEY_ID, EncryptionCodec
from switchboard.runtime.payload_keys import (
    DecryptionError,
    PayloadKeyError,
    new_key_setting,
    parse_keys,
)

CUSTOMER = "+14155550123"
SECRET_TEXT = "my card ends 4242"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[MemoryStore]:
    memory = open_store(f"sqlite:///{tmp_path / 'memory.db'}")
    await memory.migrate()
    try:
        yield memory
    finally:
        await memory.close()


def codec_for(store: MemoryStore, setting: str) -> EncryptionCodec:
    keys = parse_keys(setting)
    assert keys is not None
    return EncryptionCodec(DataKeys(store, keys))


def in_conversation(codec: EncryptionCodec, customer: str = CUSTOMER) -> EncryptionCodec:
    return codec.with_context(
        WorkflowSerializationContext(namespace="default", workflow_id=f"conv-{customer}")
    )


def plain(text: str) -> Payload:
    return pydantic_data_converter.payload_converter.to_payload(text)


async def test_a_round_trip_hides_the_payload_and_restores_it_whole(store: MemoryStore) -> None:
    codec = in_conversation(codec_for(store, new_key_setting("k1")))
    original = plain(SECRET_TEXT)
    [encoded] = await codec.encode([original])
    assert encoded.metadata["encoding"] == ENCODING
    assert encoded.metadata[MASTER_KEY_ID] == b"k1"
    assert SECRET_TEXT.encode() not in encoded.SerializeToString()
    assert b"json/plain" not in encoded.SerializeToString()  # the metadata is sealed too
    assert await codec.decode([encoded]) == [original]


async def test_each_customer_has_a_data_key_of_their_own(store: MemoryStore) -> None:
    codec = codec_for(store, new_key_setting())
    [a1] = await in_conversation(codec, "+14155550101").encode([plain("a")])
    [a2] = await in_conversation(codec, "+14155550101").encode([plain("a")])
    [b] = await in_conversation(codec, "+14155550102").encode([plain("b")])
    assert a1.metadata[KEY_ID] == a2.metadata[KEY_ID] != b.metadata[KEY_ID]
    assert a1.data != a2.data  # a fresh nonce every time
    stored = await store.data_key(a1.metadata[KEY_ID].decode())
    assert stored is not None and stored.scope == "+14155550101"


def test_the_scope_comes_from_the_workflow_id() -> None:
    assert scope_of("conv-+14155550123") == CUSTOMER
    assert scope_of("callback-+14155550123-0123456789ab") == CUSTOMER
    assert scope_of("reanalysis-4f2a") == SHARED_SCOPE
    assert scope_of("conv-not-a-number") == SHARED_SCOPE
    assert scope_of(None) == SHARED_SCOPE


async def test_activities_use_their_workflows_customer_and_no_context_the_shared_key(
    store: MemoryStore,
) -> None:
    codec = codec_for(store, new_key_setting())
    activity = codec.with_context(
        ActivitySerializationContext(
            namespace="default", activity_id="1", activity_type="send_message",
            activity_task_queue="q", workflow_id=f"conv-{CUSTOMER}",
            workflow_type="ConversationWorkflow", is_local=False,
        )
    )  # fmt: skip
    [from_activity] = await activity.encode([plain("x")])
    [from_workflow] = await in_conversation(codec).encode([plain("x")])
    [shared] = await codec.encode([plain("x")])
    assert from_activity.metadata[KEY_ID] == from_workflow.metadata[KEY_ID]
    assert shared.metadata[KEY_ID] != from_workflow.metadata[KEY_ID]
    assert activity.scope == CUSTOMER and codec.scope == SHARED_SCOPE


async def test_after_rotation_old_payloads_still_decrypt_and_new_ones_use_the_new_key(
    store: MemoryStore,
) -> None:
    old = new_key_setting("k1")
    [before] = await in_conversation(codec_for(store, old)).encode([plain("before")])
    rotated = in_conversation(codec_for(store, f"{new_key_setting('k2')},{old}"))
    [after] = await rotated.encode([plain("after")])
    assert after.metadata[MASTER_KEY_ID] == b"k2"
    assert after.metadata[KEY_ID] != before.metadata[KEY_ID]  # a new data key under k2
    assert await rotated.decode([before, after]) == [plain("before"), plain("after")]
    # Without the old master key, what its data keys sealed cannot be read.
    with pytest.raises(DecryptionError, match="k1"):
        await codec_for(store, new_key_setting("k2")).decode([before])


async def test_a_tampered_payload_is_refused(store: MemoryStore) -> None:
    codec = in_conversation(codec_for(store, new_key_setting()))
    [encoded] = await codec.encode([plain(SECRET_TEXT)])
    flipped = bytearray(encoded.data)
    flipped[-1] ^= 1
    tampered = Payload(metadata=dict(encoded.metadata), data=bytes(flipped))
    with pytest.raises(DecryptionError):
        await codec.decode([tampered])
    [other] = await in_conversation(codec, "+14155550199").encode([plain("other")])
    swapped = Payload(metadata=dict(other.metadata), data=encoded.data)  # another key's id
    with pytest.raises(DecryptionError):
        await codec.decode([swapped])


async def test_payloads_it_did_not_encrypt_pass_through(store: MemoryStore) -> None:
    codec = codec_for(store, new_key_setting())
    unencrypted = [plain("written before keys were set"), Payload(metadata={}, data=b"raw")]
    assert await codec.decode(unencrypted) == unencrypted


async def test_forgetting_the_customer_destroys_their_key(store: MemoryStore) -> None:
    codec = in_conversation(codec_for(store, new_key_setting()))
    [theirs] = await codec.encode([plain(SECRET_TEXT)])
    [others] = await in_conversation(codec, "+14155550177").encode([plain("kept")])
    assert await store.forget(CUSTOMER)  # only the key was known: still "forgotten"
    codec.forget(CUSTOMER)
    with pytest.raises(DataKeyGone, match="forgotten"):
        await codec.decode([theirs])
    assert await codec.decode([others]) == [plain("kept")]
    [fresh] = await codec.encode([plain("new conversation")])  # a new key from now on
    assert fresh.metadata[KEY_ID] != theirs.metadata[KEY_ID]


async def test_another_process_stops_using_a_forgotten_key_within_the_recheck(
    store: MemoryStore,
) -> None:
    now = [0.0]
    keys = parse_keys(new_key_setting())
    assert keys is not None
    codec = in_conversation(EncryptionCodec(DataKeys(store, keys, clock=lambda: now[0])))
    [first] = await codec.encode([plain("a")])
    await store.forget(CUSTOMER)  # by another process: this one's cache is not told
    now[0] += 61
    [second] = await codec.encode([plain("b")])
    assert second.metadata[KEY_ID] != first.metadata[KEY_ID]


async def test_the_data_converter_round_trips_values_through_the_codec(
    store: MemoryStore,
) -> None:
    converter = dataclasses.replace(
        pydantic_data_converter, payload_codec=codec_for(store, new_key_setting())
    )
    encoded = await converter.encode([SECRET_TEXT, {"n": 1}])
    assert all(p.metadata["encoding"] == ENCODING for p in encoded)
    assert await converter.decode(encoded, [str, dict]) == [SECRET_TEXT, {"n": 1}]


async def test_a_wrapped_key_moved_to_another_customer_does_not_unwrap(
    store: MemoryStore,
) -> None:
    codec = in_conversation(codec_for(store, new_key_setting()))
    [encoded] = await codec.encode([plain("x")])
    stored = await store.data_key(encoded.metadata[KEY_ID].decode())
    assert stored is not None
    moved = stored.model_copy(update={"key_id": "dk-moved", "scope": "+14155550188"})
    await store.add_data_key(moved)
    with pytest.raises(DecryptionError):
        await codec.keys.by_id("dk-moved")


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("k1", "entry 1 is not"),
        ("k1:not base64!", "not base64"),
        (f"k1:{base64.b64encode(b'short').decode()}", "5 bytes, not 32"),
        (f"{new_key_setting('k1')},k1:{base64.b64encode(bytes(32)).decode()}", "twice"),
        (f"{new_key_setting('k1')},bad id:{base64.b64encode(bytes(32)).decode()}", "entry 2"),
    ],
)
def test_a_malformed_key_setting_stops_the_process_without_echoing_it(
    value: str, says: str
) -> None:
    with pytest.raises(PayloadKeyError) as raised:
        Settings(_env_file=None, payload_encryption_keys=value)
    message = str(raised.value)
    assert "PAYLOAD_ENCRYPTION_KEYS" in message and says in message
    for part in value.replace(",", ":").split(":")[1::2]:
        if len(part) > 4:
            assert part not in message


def test_an_empty_setting_is_unset() -> None:
    for empty in ("", "  ", " , "):
        settings = Settings(_env_file=None, payload_encryption_keys=empty)
        assert settings.master_keys is None
    keys = Settings(_env_file=None, payload_encryption_keys=new_key_setting("a")).master_keys
    assert keys is not None and keys.primary == "a" and "a" in repr(keys)
