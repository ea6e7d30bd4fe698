"""The server backend: PostgreSQL through a psycopg connection pool, full-text search native.

``store`` composes ``PostgresStore`` from the pool and migrations (``database``, with the
migrations in ``schema``), the profile side (``profiles``: identifiers, traits, observations,
conversations, forgetting), the knowledge side (``knowledge``: documents, chunks, search)
and the insights side (``insights``: operator results, conversation facts, their aggregates).
"""

from switchboard.memory.postgres.database import MIGRATION_LOCK
from switchboard.memory.postgres.store import PostgresStore

__all__ = ["MIGRATION_LOCK", "PostgresStore"]
