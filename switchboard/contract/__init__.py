"""The contract: what crosses a process boundary, typed and named once.

Workflows, activities and the gateway run in different processes (often on different hosts)
and talk only through Temporal. Everything they exchange is defined here:

- ``names`` — every signal, update, query, activity and task-queue name.
- ``search_attributes`` — the custom search attributes shown in the Temporal UI.
- ``conversation`` — the conversation's input, state, view and the messages it receives.
- ``handoff``, ``outbound``, ``voice`` — the human side, conversations we start, call legs.
- ``llm``, ``messaging``, ``tools`` — inputs and results of the model, delivery and tool
  activities.
- ``addresses`` — channels, E.164 numbers and conversation ids.
- ``errors`` — the stable ``ApplicationError`` types activities raise and workflows branch on.

Fields are only ever added with defaults, and names never change: running conversations
replay against whatever this package says after an upgrade.
"""
