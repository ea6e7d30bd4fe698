"""Example agents: copy one, point ``AGENT`` at it, and make it your business's own."""
