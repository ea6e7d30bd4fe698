"""The custom search attributes that make conversations findable in the Temporal UI."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
CONVERSATION_CHANNELS = SearchAttributeKey.for_keyword_list("ConversationChannels")
CONVERSATION_STATUS = SearchAttributeKey.for_keyword("ConversationStatus")

CONVERSATION_SENTIMENT = SearchAttributeKey.for_keyword("ConversationSentiment")
"""The latest ``sentiment`` result's label (conversation intelligence)."""
CONVERSATION_TOPIC = SearchAttributeKey.for_keyword("ConversationTopic")
"""The latest ``topic`` result's label."""
CONVERSATION_OUTCOME = SearchAttributeKey.for_keyword("ConversationOutcome")
"""The ``outcome`` result's label, set at close."""

ALL = (
    CUSTOMER_ID,
    CONVERSATION_CHANNELS,
    CONVERSATION_STATUS,
    CONVERSATION_SENTIMENT,
    CONVERSATION_TOPIC,
    CONVERSATION_OUTCOME,
)
