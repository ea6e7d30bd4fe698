"""SQLite schema migrations, in order. Never edit an applied one: add the next version."""

from __future__ import annotations

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "profiles, observations, conversations, knowledge",
        """
CREATE TABLE profiles (
    customer TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE identifiers (
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    customer TEXT NOT NULL REFERENCES profiles(customer) ON DELETE CASCADE,
    added_at TEXT NOT NULL,
    PRIMARY KEY (kind, value)
);
CREATE INDEX identifiers_customer ON identifiers(customer);
CREATE TABLE traits (
    customer TEXT NOT NULL REFERENCES profiles(customer) ON DELETE CASCADE,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    source TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (customer, name)
);
CREATE TABLE observations (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    customer TEXT NOT NULL REFERENCES profiles(customer) ON DELETE CASCADE,
    text TEXT NOT NULL,
    source TEXT NOT NULL,
    at TEXT NOT NULL,
    conversation_ids TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX observations_customer ON observations(customer, at);
CREATE TABLE conversations (
    run_id TEXT PRIMARY KEY,
    customer TEXT NOT NULL REFERENCES profiles(customer) ON DELETE CASCADE,
    conversation_id TEXT NOT NULL,
    closed_at TEXT NOT NULL,
    summary TEXT,
    summary_source TEXT,
    summary_at TEXT
);
CREATE INDEX conversations_customer ON conversations(customer, closed_at);
CREATE TABLE transcript_lines (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES conversations(run_id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    customer TEXT NOT NULL,
    role TEXT NOT NULL,
    text TEXT NOT NULL,
    channel TEXT NOT NULL,
    at TEXT NOT NULL,
    UNIQUE (run_id, seq)
);
CREATE INDEX transcript_lines_customer ON transcript_lines(customer, run_id);
CREATE TABLE documents (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    content_type TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    chunks INTEGER NOT NULL,
    ingested_at TEXT NOT NULL
);
CREATE TABLE chunks (
    id INTEGER PRIMARY KEY,
    document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    section TEXT NOT NULL,
    text TEXT NOT NULL,
    embedding BLOB,
    UNIQUE (document_id, seq)
);
CREATE VIRTUAL TABLE chunks_fts USING fts5(
    section, text, content='chunks', content_rowid='id', tokenize='porter unicode61'
);
CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts(rowid, section, text) VALUES (new.id, new.section, new.text);
END;
CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts(chunks_fts, rowid, section, text)
        VALUES ('delete', old.id, old.section, old.text);
END;
CREATE TABLE store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO store_meta VALUES ('knowledge_revision', '0');
""",
    ),
    (
        2,
        "conversation intelligence: operator results, conversation facts",
        """
CREATE TABLE operator_results (
    id INTEGER PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    operator TEXT NOT NULL,
    version TEXT NOT NULL,
    first_turn INTEGER NOT NULL,
    last_turn INTEGER NOT NULL,
    customer TEXT NOT NULL,
    trigger TEXT NOT NULL,
    result TEXT NOT NULL,
    evidence TEXT NOT NULL,
    at TEXT NOT NULL,
    model TEXT,
    latency_ms REAL NOT NULL,
    tokens INTEGER NOT NULL,
    error TEXT,
    UNIQUE (conversation_id, run_id, operator, version, first_turn, last_turn)
);
CREATE INDEX operator_results_customer ON operator_results(customer);
CREATE TABLE conversation_facts (
    day TEXT NOT NULL,
    started_at TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    customer TEXT NOT NULL,
    channels TEXT NOT NULL,
    channel_mask INTEGER NOT NULL,
    closed_at TEXT NOT NULL,
    customer_turns INTEGER NOT NULL,
    assistant_turns INTEGER NOT NULL,
    handle_seconds REAL NOT NULL,
    first_response_ms REAL,
    handoffs INTEGER NOT NULL,
    handoff_reasons TEXT NOT NULL,
    tool_calls INTEGER NOT NULL,
    tool_failures INTEGER NOT NULL,
    callbacks INTEGER NOT NULL,
    interruptions INTEGER NOT NULL,
    voice_replies INTEGER NOT NULL,
    delivery_failures INTEGER NOT NULL,
    opted_out INTEGER NOT NULL,
    tokens INTEGER NOT NULL,
    outcome TEXT,
    resolved INTEGER,
    sentiment TEXT,
    topic TEXT,
    repeat_contact INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, started_at, conversation_id, run_id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX conversation_facts_run ON conversation_facts(conversation_id, run_id);
CREATE INDEX conversation_facts_customer ON conversation_facts(customer, started_at);
CREATE INDEX conversation_facts_sentiment ON conversation_facts(day, sentiment, channel_mask);
CREATE INDEX conversation_facts_topic ON conversation_facts(day, topic, channel_mask);
CREATE INDEX conversation_facts_reasons
    ON conversation_facts(day, handoff_reasons, channel_mask, handoffs) WHERE handoffs > 0;
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
    wrapped BLOB NOT NULL,
    created_at TEXT NOT NULL
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
    expires_at TEXT NOT NULL,
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
    at TEXT NOT NULL
);
""",
    ),
]
