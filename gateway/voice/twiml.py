"""TwiML that connects a call to our ConversationRelay endpoint.

The builders live in ``switchboard.twiml`` so the worker can place outbound calls with the
very document the gateway answers incoming calls with; they are re-exported here.
"""

from __future__ import annotations

from switchboard.twiml import (
    ACTION_PATH,
    RELAY_PATH,
    VoiceOptions,
    connect_relay_twiml,
    hangup_twiml,
    relay_url,
)

__all__ = [
    "ACTION_PATH",
    "RELAY_PATH",
    "VoiceOptions",
    "connect_relay_twiml",
    "hangup_twiml",
    "relay_url",
]
