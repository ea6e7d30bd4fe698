"""Customer memory and the knowledge base: one store interface, SQLite and PostgreSQL behind it.

``open_store(url)`` gives the backend a ``MEMORY_DATABASE_URL`` names; both run their schema
migrations on ``migrate()`` and behave the same (the store tests run against both).
"""

from switchboard.memory.store import MemoryStore, open_store

__all__ = ["MemoryStore", "open_store"]
