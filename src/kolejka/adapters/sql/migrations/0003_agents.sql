-- Agents and the queues they log in to (the catalogue `kolejka agents` edits), the pause
-- catalogue (ids kept for good: clients store them), and each agent's live record (memberships
-- as JSON, written by the one PBX follower; in Redis instead when KOLEJKA_LIVE_URL is set).
CREATE TABLE agents (
    agent_id {identity},
    login TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL DEFAULT '',
    surname TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '',
    number BIGINT,
    active BOOLEAN NOT NULL DEFAULT TRUE
);

CREATE TABLE agent_queues (
    agent_id BIGINT NOT NULL REFERENCES agents (agent_id) ON DELETE CASCADE,
    queue_id INTEGER NOT NULL,
    PRIMARY KEY (agent_id, queue_id)
);

CREATE TABLE pauses (
    pause_id {identity},
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE agent_live (
    login TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    pause_id BIGINT,
    last_change BIGINT NOT NULL,
    memberships TEXT NOT NULL
);
