"""Every name that crosses a process boundary, in one place.

Temporal routes by name: a signal, update, query or activity renamed without a migration
strands the conversations already running (their histories hold the old name), so these
strings never change. A ``ConversationWorkflow`` handler's name is its method name, and the
gateway calls handlers by method reference; the constants here are for what needs a string
(signal-with-start, activities scheduled by name, the CLI), and
``tests/workflows/test_handlers.py`` proves they match the workflow's handlers.

From the Temporal CLI::

    temporal workflow signal -w conv-+14155550100 --name close --input '{"reason": "done"}'
    temporal workflow signal -w conv-+14155550100 --name handoff --input '{"reason": "VIP"}'
    temporal workflow query -w conv-+14155550100 --type describe
"""

from __future__ import annotations

# --- task queues --------------------------------------------------------------------------

DEFAULT_TASK_QUEUE = "conversations"
"""The conversation workers' task queue (``TEMPORAL_TASK_QUEUE`` overrides it)."""
GATEWAY_TASK_QUEUE_PREFIX = "gateway-"
"""Each gateway polls ``gateway-<instance id>`` for the activities that need its sockets."""


def gateway_task_queue(instance_id: str) -> str:
    """The task queue of the gateway process ``instance_id``."""
    return f"{GATEWAY_TASK_QUEUE_PREFIX}{instance_id}"


# --- ConversationWorkflow: signals ----------------------------------------------------------

INBOUND_MESSAGE_SIGNAL = "inbound_message"
"""A customer's SMS or WhatsApp message (signal-with-start): an ``InboundMessage``."""
DELIVERY_STATUS_SIGNAL = "delivery_status"
"""A Twilio status callback for one of our messages: a ``DeliveryStatusUpdate``."""
CLOSE_SIGNAL = "close"
"""Close the conversation now: ``{"reason": "..."}``."""
FORGET_SIGNAL = "forget"
"""The customer was forgotten (``DELETE /api/profiles/{customer}``) mid-conversation."""
HANDOFF_SIGNAL = "handoff"
"""Hand the conversation to a human: ``{"reason": "..."}`` (CLI, operator API, tools)."""
HUMAN_MESSAGE_SIGNAL = "human_message"
"""A human agent's message to the customer: ``{"text": "...", "author": "..."}``."""
RESUME_SIGNAL = "resume"
"""Hand the conversation back to the AI: ``{}`` or ``{"note": "..."}``."""
HANDOFF_ACCEPTED_SIGNAL = "handoff_accepted"
"""A human took the conversation (a TaskRouter reservation was accepted): ``{"by": "..."}``."""
VOICE_HANDED_OFF_SIGNAL = "voice_handed_off"
"""The ``<Connect action>`` callback enqueued the call for a human."""
OUTBOUND_SIGNAL = "outbound"
"""Start an outbound message or call (signal-with-start): an ``OutboundRequest``."""
CANCEL_CALLBACK_SIGNAL = "cancel_callback"
"""Cancel a scheduled callback: ``{"callback_id": "..."}`` (all pending when empty)."""
VOICE_CALL_STARTED_SIGNAL = "voice_call_started"
"""A ConversationRelay session connected (signal-with-start): a ``VoiceLeg``."""
VOICE_INTERRUPTED_SIGNAL = "voice_interrupted"
"""The caller cut a spoken reply short: a ``VoiceInterrupt``."""

# --- ConversationWorkflow: updates and queries ----------------------------------------------

SNAPSHOT_UPDATE = "snapshot"
"""``describe``, answered after every signal sent before it has been applied."""
VOICE_PROMPT_UPDATE = "voice_prompt"
"""The caller finished speaking: record it, answer with the turn's plan."""
VOICE_REPLY_UPDATE = "voice_reply"
"""What the caller was told: answer with the approved call actions."""
DESCRIBE_QUERY = "describe"
"""Status, channels and transcript: a ``ConversationView``."""
VOICE_CONTEXT_QUERY = "voice_context"
"""What the model would see now, less the next prompt (a speculative start's guess)."""
HANDOFF_PACKAGE_QUERY = "handoff_package"
"""The package of the latest handoff (None when there was none)."""

# --- activities on the conversation task queue ----------------------------------------------

GENERATE_REPLY_ACTIVITY = "generate_reply"
SEND_MESSAGE_ACTIVITY = "send_message"
RECALL_ACTIVITY = "recall_context"
REMEMBER_ACTIVITY = "remember"
SEARCH_KNOWLEDGE_ACTIVITY = "search_knowledge"
RECORD_CONVERSATION_ACTIVITY = "record_conversation"
RUN_TOOL_ACTIVITY = "run_tool"
MCP_TOOLS_ACTIVITY = "mcp_tools"
"""A local activity: the MCP tools the worker can run now (each turn records what it offered)."""
PREPARE_HANDOFF_ACTIVITY = "prepare_handoff"
DELIVER_HANDOFF_ACTIVITY = "deliver_handoff"
NOTIFY_HUMAN_SIDE_ACTIVITY = "notify_human_side"
CANCEL_HANDOFF_TASK_ACTIVITY = "cancel_handoff_task"
PLACE_CALL_ACTIVITY = "place_call"
START_OUTBOUND_ACTIVITY = "start_outbound"

# --- activities on the intelligence task queue ----------------------------------------------

ANALYZE_CONVERSATION_ACTIVITY = "analyze_conversation"
"""Runs language operators over a conversation and stores each result once."""
POST_RULE_WEBHOOK_ACTIVITY = "post_rule_webhook"
"""POSTs a fired intelligence rule's signed webhook (at least once, one idempotency key)."""
COUNT_STORED_RUNS_ACTIVITY = "count_stored_runs"
"""How many stored conversation runs a re-analysis selects."""
LIST_STORED_RUNS_ACTIVITY = "list_stored_runs"
"""The next page of stored conversation runs a re-analysis selects."""
REANALYZE_BATCH_ACTIVITY = "reanalyze_batch"
"""Runs operators again over a batch of stored conversations and stores the results."""

# --- ReanalysisWorkflow (on the intelligence task queue) -------------------------------------

REANALYSIS_WORKFLOW = "ReanalysisWorkflow"
REANALYSIS_ID_PREFIX = "reanalysis-"
"""A re-analysis's workflow id is this prefix and its id."""
REANALYSIS_PROGRESS_QUERY = "progress"

# --- activities on a gateway's own task queue -----------------------------------------------

WATCH_VOICE_LEG_ACTIVITY = "watch_voice_leg"
"""Heartbeats while the call's socket is open; returns how the leg ended."""
PERFORM_VOICE_ACTIONS_ACTIVITY = "perform_voice_actions"
"""Acts on a live call (end it, send digits, switch language) from the workflow."""
