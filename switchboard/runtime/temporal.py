"""Connecting to Temporal, the same way in every process."""

from __future__ import annotations

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
from temporalio.service import RPCError

from switchboard.runtime.config import Settings

log = structlog.get_logger(__name__)


async def connect(settings: Settings, *, lazy: bool = False) -> Client:
    """A client with the pydantic data converter (API key implies TLS, for Temporal Cloud)."""
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        api_key=api_key,
        tls=settings.temporal_tls or api_key is not None,
        data_converter=pydantic_data_converter,
        lazy=lazy,
    )


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
