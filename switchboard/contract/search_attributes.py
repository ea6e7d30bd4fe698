"""The custom search attributes that make conversations findable in the Temporal UI."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
CONVERSATION_CHANNELS = SearchAttributeKey.for_keyword_list("ConversationChannels")
CONVERSATION_STATUS = SearchAttributeKey.for_keyword("ConversationStatus")

ALL = (CUSTOMER_ID, CONVERSATION_CHANNELS, CONVERSATION_STATUS)
