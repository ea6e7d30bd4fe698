"""Temporal workflows: one durable conversation per customer."""
