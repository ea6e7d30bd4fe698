"""Temporal activities: everything that touches the outside world."""
