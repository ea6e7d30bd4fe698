"""Twilio's wire, outbound: the REST clients, TwiML, TaskRouter, and how their failures are classed.

Inbound Twilio traffic (webhook forms, signatures, ConversationRelay frames) is parsed at the
edge in ``gateway``; this package is what the worker and gateway send to Twilio.
"""
