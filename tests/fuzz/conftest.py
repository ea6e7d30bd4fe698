"""Property-based fuzzing of everything the gateway reads from outside; its Hypothesis profiles.

``HYPOTHESIS_PROFILE`` chooses how hard: ``ci`` (the default, what ``make test`` runs) tries
a few dozen inputs per property from a fixed seed, so a run is quick and repeatable;
``fuzz`` (``make fuzz``) tries thousands, from a new seed each run, and keeps any failure
in ``.hypothesis/`` so the next run tries it first.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, settings

from tests.support.inprocess_gateway import InProcessGateway, in_process_gateway

_SLOW_IS_FINE = [HealthCheck.too_slow, HealthCheck.data_too_large]

settings.register_profile(
    "ci",
    max_examples=100,
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=_SLOW_IS_FINE,
)
settings.register_profile(
    "fuzz",
    max_examples=2000,
    deadline=None,
    print_blob=True,
    suppress_health_check=_SLOW_IS_FINE,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="module")
async def gw(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[InProcessGateway]:
    """The real gateway in this process; Temporal is down and records what it was asked."""
    async with in_process_gateway(tmp_path_factory.mktemp("fuzz")) as gateway:
        yield gateway
