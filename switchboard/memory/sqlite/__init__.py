"""The embedded backend: one SQLite file (WAL), full-text search with FTS5.

``store`` composes ``SqliteStore`` from the connection and migrations (``database``, with the
migrations in ``schema``), the profile side (``profiles``: identifiers, traits, observations,
conversations, forgetting), the knowledge side (``knowledge``: documents, chunks, search)
and the insights side (``insights``: operator results, conversation facts, their aggregates).
"""

from switchboard.memory.sqlite.store import SqliteStore

__all__ = ["SqliteStore"]
