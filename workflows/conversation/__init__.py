"""The conversation workflow: one customer, every channel, as a Temporal workflow.

Read ``workflow`` first: ``ConversationWorkflow`` indexes every message it takes, and ``run``
tells the story of a run. The rest are its parts, each a helper object the workflow holds and
each owning its own runtime fields:

- ``base`` — ``ConversationBase``: the state, the settings, and the helpers every part uses
  (notes, the UI's search attributes, the model, sending a text exactly once).
- ``state_ops`` — pure operations on the state (recording messages, replies, statuses).
- ``budget`` — pure bounds on cost: the model's history window, the customer's rate, how a
  long reply is split.
- ``turns`` — a text turn: batch window, recall, the model, the reply.
- ``tools`` — which tools a turn offers; running the model's tool calls.
- ``memory`` — recall, the memory tools, the closing record.
- ``handoff`` — the handoff state machine and the human side's traffic.
- ``calls`` — call legs: attached, watched, reconnected, hung up.
- ``voice_turns`` — spoken turns: plans, what the caller heard, call actions.
- ``outbound`` and ``callbacks`` — conversations we start, callbacks the customer asked for.
- ``intelligence`` and ``rules`` — operators beside the conversation; the rules (default and
  the run's own) that act on their results.

The parts depend on each other in one direction only: memory and callbacks on the base;
calls on memory; handoff on calls; outbound on callbacks; tools on memory, handoff and
callbacks; rules on handoff; intelligence on handoff and rules; text and voice turns on
tools (and intelligence).
"""

from workflows.conversation.workflow import ConversationWorkflow

__all__ = ["ConversationWorkflow"]
