"""Temporal workflows: one durable conversation per customer.

``conversation/`` (``ConversationWorkflow``, one module per part; start with its
``workflow.py``) · ``callback.py`` (``CallbackWorkflow``, a "call me back" timer) ·
``policies.py`` (every activity's timeouts and retries, with why) · ``starting.py`` (how a
client opens a conversation: signal-with-start, search attributes set at the start).
"""
