"""A customer's profile as JSON: one rendering for the operator API and the handoff package."""

from __future__ import annotations

from typing import Any

from switchboard.memory.models import Profile


def profile_json(profile: Profile) -> dict[str, Any]:
    """``{"customer", "identifiers", "traits", "observations", "summaries", ...}``.

    What ``GET /api/profiles/{customer}`` answers; a handoff package carries the same shape
    so a human sees what an operator would.
    """
    return profile.model_dump(mode="json")
