"""PostgreSQL schema migrations, in order. Never edit an applied one: add the next version.

The tables mirror ``switchboard.memory.sqlite.schema`` with native types: ``TIMESTAMPTZ``
times, ``JSONB`` trait values and conversation ids, ``BYTEA`` vectors. Knowledge chunks carry
a generated ``tsvector`` (section weighted above text) with a GIN index for full-text search.
"""

from __future__ import annotations

from typing import LiteralString

MIGRATIONS: list[tuple[int, str, LiteralString]] = [
    (
        1,
        "profiles, observations, conversations, knowledge",
        """
CREATE TABLE profiles (
    customer TEXT PRIMARY KEY,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE identifiers (
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    customer TEXT NOT NULL REFERENCES profiles(customer) ON DELETE CASCADE,
    added_at TIMESTAMPTZ NOT NULL,
    id BIGSERIAL NOT NULL,
    PRIMARY KEY (kind, value)
);
CREATE INDEX identifiers_customer ON identifiers(customer);
CREATE TABLE traits (
    customer TEXT NOT NULL REFERENCES profiles(customer) ON DELETE CASCADE,
    name TEXT NOT NULL,
    value JSONB NOT NULL,
    source TEXT NOT NULL,
    at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (customer, name)
);
CREATE TABLE observations (
    id BIGSERIAL PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    customer TEXT NOT NULL REFERENCES profiles(customer) ON DELETE CASCADE,
    text TEXT NOT NULL,
    source TEXT NOT NULL,
    at TIMESTAMPTZ NOT NULL,
    conversation_ids JSONB NOT NULL DEFAULT '[]'
);
CREATE INDEX observations_customer ON observations(customer, at DESC, id DESC);
CREATE TABLE conversations (
    run_id TEXT PRIMARY KEY,
    customer TEXT NOT NULL REFERENCES profiles(customer) ON DELETE CASCADE,
    conversation_id TEXT NOT NULL,
    closed_at TIMESTAMPTZ NOT NULL,
    summary TEXT,
    summary_source TEXT,
    summary_at TIMESTAMPTZ,
    id BIGSERIAL NOT NULL
);
CREATE INDEX conversations_customer ON conversations(customer, closed_at DESC, id DESC);
CREATE TABLE transcript_lines (
    id BIGSERIAL PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES conversations(run_id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    customer TEXT NOT NULL,
    role TEXT NOT NULL,
    text TEXT NOT NULL,
    channel TEXT NOT NULL,
    at TIMESTAMPTZ NOT NULL,
    UNIQUE (run_id, seq)
);
CREATE INDEX transcript_lines_customer ON transcript_lines(customer, run_id);
CREATE TABLE documents (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    content_type TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    chunks INTEGER NOT NULL,
    ingested_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE chunks (
    id BIGSERIAL PRIMARY KEY,
    document_id BIGINT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    section TEXT NOT NULL,
    text TEXT NOT NULL,
    embedding BYTEA,
    tsv tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', section), 'A')
        || setweight(to_tsvector('english', text), 'B')
    ) STORED,
    UNIQUE (document_id, seq)
);
CREATE INDEX chunks_tsv ON chunks USING GIN (tsv);
CREATE TABLE store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO store_meta VALUES ('knowledge_revision', '0');
""",
    ),
    (
        2,
        "conversation intelligence: operator results, conversation facts",
        """
CREATE TABLE operator_results (
    id BIGSERIAL PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    operator TEXT NOT NULL,
    version TEXT NOT NULL,
    first_turn INTEGER NOT NULL,
    last_turn INTEGER NOT NULL,
    customer TEXT NOT NULL,
    trigger TEXT NOT NULL,
    result JSONB NOT NULL,
    evidence JSONB NOT NULL,
    at TIMESTAMPTZ NOT NULL,
    model TEXT,
    latency_ms DOUBLE PRECISION NOT NULL,
    tokens INTEGER NOT NULL,
    error TEXT,
    UNIQUE (conversation_id, run_id, operator, version, first_turn, last_turn)
);
CREATE INDEX operator_results_customer ON operator_results(customer);
CREATE TABLE conversation_facts (
    conversation_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    customer TEXT NOT NULL,
    channels JSONB NOT NULL,
    channel_mask INTEGER NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    day DATE NOT NULL,
    closed_at TIMESTAMPTZ NOT NULL,
    customer_turns INTEGER NOT NULL,
    assistant_turns INTEGER NOT NULL,
    handle_seconds DOUBLE PRECISION NOT NULL,
    first_response_ms DOUBLE PRECISION,
    handoffs INTEGER NOT NULL,
    handoff_reasons JSONB NOT NULL,
    tool_calls INTEGER NOT NULL,
    tool_failures INTEGER NOT NULL,
    callbacks INTEGER NOT NULL,
    interruptions INTEGER NOT NULL,
    voice_replies INTEGER NOT NULL,
    delivery_failures INTEGER NOT NULL,
    opted_out BOOLEAN NOT NULL,
    tokens INTEGER NOT NULL,
    outcome TEXT,
    resolved BOOLEAN,
    sentiment TEXT,
    topic TEXT,
    repeat_contact BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (conversation_id, run_id)
);
CREATE INDEX conversation_facts_started ON conversation_facts(started_at);
CREATE INDEX conversation_facts_customer ON conversation_facts(customer, started_at);
""",
    ),
    (
        3,
        "re-analysis: stored runs in the order they closed",
        """
CREATE INDEX conversations_closed ON conversations(closed_at, run_id);
""",
    ),
    (
        4,
        "payload encryption: data keys, wrapped by a master key",
        """
CREATE TABLE data_keys (
    key_id TEXT PRIMARY KEY,
    scope TEXT NOT NULL,
    master_key_id TEXT NOT NULL,
    wrapped BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX data_keys_scope ON data_keys(scope, created_at);
""",
    ),
    (
        5,
        "request keys: processed webhook ids and Idempotency-Keys, with an expiry",
        """
CREATE TABLE request_keys (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    digest TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX request_keys_expiry ON request_keys(expires_at);
""",
    ),
    (
        6,
        "tombstones: when a customer was forgotten (by a hash of their number)",
        """
CREATE TABLE tombstones (
    customer_hash TEXT PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL
);
""",
    ),
]
