"""Shared pieces of Switchboard: configuration, models, addresses, logging."""
