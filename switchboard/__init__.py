"""What the worker, the gateway and the developer tools share, by role.

``contract`` (what crosses a process boundary: names, boundary models, error types) ·
``twilio`` (Twilio's wire, outbound) · ``agent`` (the agent, its tools) · ``memory`` (the
store and its backends) · ``runtime`` (settings, logging, the Temporal connection, the
outbox) · ``devtools`` (``make run``, the simulator, the knowledge CLI). See
``docs/architecture.md`` for the whole map.
"""
