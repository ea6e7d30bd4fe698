"""Connecting to Temporal, the same way in every process."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import structlog
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.service import RPCError

from switchboard.memory.store import open_store
from switchboard.runtime.config import Settings
from switchboard.runtime.data_keys import DataKeys
from switchboard.runtime.payload_codec import EncryptionCodec
from switchboard.runtime.sdk_metrics import temporal_runtime
from switchboard.runtime.tracing import client_interceptors

log = structlog.get_logger(__name__)


async def connect(settings: Settings, *, lazy: bool = False) -> Client:
    """A client with the pydantic data converter (API key implies TLS, for Temporal Cloud).

    With ``PAYLOAD_ENCRYPTION_KEYS`` set, every payload it (and a worker on it) writes is
    encrypted (``payload_codec``). With tracing on (``runtime.tracing``), it carries Temporal's
    tracing interceptor, and so does every worker on it. With ``TEMPORAL_METRICS_BIND`` set,
    it and its workers report the SDK's metrics there (``sdk_metrics``).
    """
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        api_key=api_key,
        tls=settings.temporal_tls or api_key is not None,
        data_converter=await data_converter(settings),
        interceptors=client_interceptors(),
        runtime=temporal_runtime(settings),
        lazy=lazy,
    )


async def data_converter(settings: Settings) -> DataConverter:
    """The pydantic data converter, with the encrypting codec when keys are configured.

    The codec keeps its data keys in the memory store (its own connection, migrated here,
    so the ``data_keys`` table exists before the first payload).
    """
    master = settings.master_keys
    if master is None:
        return pydantic_data_converter
    store = open_store(settings.memory_database_url)
    await store.migrate()
    log.info("payload_encryption_on", master_keys=master.ids)
    codec = EncryptionCodec(DataKeys(store, master))
    return dataclasses.replace(pydantic_data_converter, payload_codec=codec)


def payload_codec(client: Client) -> EncryptionCodec | None:
    """The client's encrypting codec, if payload encryption is on."""
    codec = client.data_converter.payload_codec
    return codec if isinstance(codec, EncryptionCodec) else None


async def ensure_search_attributes(
    client: Client, namespace: str, keys: Sequence[SearchAttributeKey[Any]]
) -> list[str]:
    """Register the custom search attributes that are missing. Returns the names added.

    Where the client may not register them (Temporal Cloud registers attributes through
    its own control plane), a warning says which are needed and nothing else happens.
    """
    try:
        return await _register_missing(client, namespace, keys)
    except RPCError as exc:
        log.warning(
            "search_attributes_not_registered",
            needed=[f"{key.name}:{key.indexed_value_type.name}" for key in keys],
            error=str(exc),
        )
        return []


async def _register_missing(
    client: Client, namespace: str, keys: Sequence[SearchAttributeKey[Any]]
) -> list[str]:
    existing = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    missing = {
        # The SDK's enum mirrors the API's IndexedValueType numbering.
        key.name: IndexedValueType.ValueType(int(key.indexed_value_type))
        for key in keys
        if key.name not in existing.custom_attributes
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
        log.info("search_attributes_registered", names=sorted(missing))
    return sorted(missing)
