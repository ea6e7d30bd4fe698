"""Process plumbing shared by the worker and the gateway.

``config`` (one ``Settings`` from the environment), ``logging`` (structlog, configured once),
``temporal`` (connecting, search attribute registration), ``config_files`` (the TOML or JSON
files people write), ``durations`` (``1h30m``-style settings), ``outbox`` (the exactly-once
record of sends) and ``webhooks`` (signed HTTP webhooks we post).
"""
