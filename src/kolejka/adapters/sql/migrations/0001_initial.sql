-- Ids: queues get theirs from the operator (they mirror the PBX); customers get one from us.
-- Instants are microseconds since 1970 UTC, so every SQL engine stores them the same way.
CREATE TABLE queues (
    queue_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL
);

CREATE TABLE customers (
    customer_id {identity},
    kind TEXT NOT NULL CHECK (kind IN ('person', 'company')),
    name TEXT NOT NULL DEFAULT '',
    surname TEXT NOT NULL DEFAULT '',
    company_name TEXT NOT NULL DEFAULT '',
    updated_at BIGINT NOT NULL
);

CREATE TABLE customer_phone_numbers (
    customer_id BIGINT NOT NULL REFERENCES customers (customer_id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    raw TEXT NOT NULL,
    normalized TEXT,
    PRIMARY KEY (customer_id, position)
);
CREATE INDEX customer_phone_numbers_by_number ON customer_phone_numbers (normalized);

CREATE TABLE api_users (
    username TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    permissions TEXT NOT NULL
);

CREATE TABLE waiting_callers (
    call_id TEXT PRIMARY KEY,
    queue_id INTEGER NOT NULL REFERENCES queues (queue_id) ON DELETE CASCADE,
    phone_number TEXT NOT NULL,
    caller_name TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    join_seq BIGINT NOT NULL
);
CREATE INDEX waiting_callers_by_queue ON waiting_callers (queue_id);

CREATE TABLE departures (
    call_id TEXT NOT NULL,
    queue_id INTEGER NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('answered', 'abandoned')),
    hold_seconds DOUBLE PRECISION NOT NULL,
    started_at BIGINT NOT NULL,
    left_at BIGINT NOT NULL
);
CREATE INDEX departures_by_queue ON departures (queue_id, outcome, left_at);
