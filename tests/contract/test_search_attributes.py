"""The search attributes the contract names are the ones every Temporal server gets."""

from __future__ import annotations

from switchboard.contract import search_attributes
from switchboard.devtools.devserver import SEARCH_ATTRIBUTES


def test_the_dev_server_starts_with_every_search_attribute() -> None:
    assert set(SEARCH_ATTRIBUTES) == {key.name for key in search_attributes.ALL}
