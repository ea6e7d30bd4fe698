"""A conversation's tool log in its state and view: JSON from before it still decodes.

State carried through continue-as-new by a worker from before the console, and a view a
worker from before answers while gateways are upgraded first, have no tool log, handoff
reasons or profile name: they decode with none.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from switchboard.contract.conversation import (
    ConversationState,
    ConversationStatus,
    ConversationView,
    ToolCallRecord,
)


def test_state_from_before_the_tool_log_decodes_without_one() -> None:
    state = ConversationState.model_validate_json(
        json.dumps({"customer": "+14155550100", "turn": 3, "tool_calls": 2})
    )
    assert state.tool_log == [] and state.tool_calls == 2


def test_a_view_from_before_decodes_and_a_new_one_round_trips() -> None:
    old = {
        "id": "conv-+14155550100", "customer": "+14155550100", "status": "ai",
        "channels": ["sms"], "active_channel": "sms", "turn": 1, "opted_out": False,
        "last_activity": None, "transcript": [], "delivery_failures": [],
    }  # fmt: skip
    view = ConversationView.model_validate_json(json.dumps(old))
    assert view.status is ConversationStatus.AI
    assert view.tool_calls == [] and view.handoff_reasons == [] and view.profile_name is None
    record = ToolCallRecord(name="remember", arguments="{}", result="ok", at=datetime.now(UTC))
    new = view.model_copy(update={"tool_calls": [record]})
    assert ConversationView.model_validate_json(new.model_dump_json()) == new
