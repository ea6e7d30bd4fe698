"""Temporal activities: everything that touches the outside world.

- ``llm``: reply generation (Chat Completions, or ``demo_responder`` offline);
- ``delivery``: sending a message over Twilio Messages, exactly once;
- ``calls``: placing an outbound call over Twilio Calls, exactly once;
- ``handoff``: handing a conversation to a human (TaskRouter task, signed webhook);
- ``memory``: recall, the memory tools, and the record of a closed conversation;
- ``tools``: the agent's own tools (Python or HTTP);
- ``conversations``: starting an outbound conversation through Temporal;
- ``heartbeat``: the heartbeat helper the slow ones share.

Every Twilio failure is classed by ``switchboard.twilio.failures``.
"""
