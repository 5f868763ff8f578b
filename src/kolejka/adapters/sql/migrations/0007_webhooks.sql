-- Webhooks (docs/webhooks.md): subscriptions, the outbox of events, and what delivery did.
--
-- An event row is written in the transaction of the change that caused it. Each subscription
-- reads the outbox in event_id order from its cursor (delivered_through), so a new subscription
-- starts at the end and a slow one holds up nobody else. holder/held_until is the lease of the
-- instance delivering it: one instance a subscription, never two.
CREATE TABLE webhooks (
    webhook_id {identity},
    actions TEXT NOT NULL,
    subscription_url TEXT NOT NULL,
    sealed TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    delivered_through BIGINT NOT NULL DEFAULT 0,
    holder TEXT NOT NULL DEFAULT '',
    held_until BIGINT NOT NULL DEFAULT 0
);

-- source: the Redis stream entry a relayed event came from (live lists in Redis), else NULL.
CREATE TABLE webhook_events (
    event_id {identity},
    action TEXT NOT NULL,
    occurred_at BIGINT NOT NULL,
    body TEXT NOT NULL,
    source TEXT UNIQUE
);

CREATE TABLE webhook_attempts (
    attempt_id {identity},
    webhook_id BIGINT NOT NULL REFERENCES webhooks (webhook_id) ON DELETE CASCADE,
    event_id BIGINT NOT NULL,
    attempt INTEGER NOT NULL,
    at BIGINT NOT NULL,
    status INTEGER NOT NULL,
    error TEXT NOT NULL DEFAULT '',
    outcome TEXT NOT NULL
);
CREATE INDEX webhook_attempts_by_webhook ON webhook_attempts (webhook_id, attempt_id);

-- Events given up on after the last attempt; redeliver sets `redeliver` and the owner retries.
CREATE TABLE webhook_parked (
    webhook_id BIGINT NOT NULL REFERENCES webhooks (webhook_id) ON DELETE CASCADE,
    event_id BIGINT NOT NULL,
    parked_at BIGINT NOT NULL,
    attempts INTEGER NOT NULL,
    redeliver INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (webhook_id, event_id)
);
