-- The outbox's `source` (the Redis stream entry a relayed event came from) unique only where it
-- is set. A UNIQUE column puts every row in its index, NULLs included, so each event a local
-- change wrote (all of them, unless the live lists are in Redis) went into two b-trees; that
-- second insert was part of what writing the outbox cost the AMI listener (callgrind,
-- bench/ami_instructions.py --webhooks). The relay's `ON CONFLICT (source) WHERE source IS NOT
-- NULL` matches the partial index.
--
-- SQLite cannot drop a column's UNIQUE, so its table is rebuilt: every row copied with its id
-- (the next event is numbered past the largest, as before). PostgreSQL keeps its constraint: an
-- instance not yet upgraded relays with `ON CONFLICT (source)`, which PostgreSQL matches only to
-- a full unique index, and the relay's new statement matches either; there a NULL key costs a
-- b-tree insert next to a network round trip.
{sqlite_only} CREATE TABLE webhook_events_rebuilt (
{sqlite_only}     event_id {identity},
{sqlite_only}     action TEXT NOT NULL,
{sqlite_only}     occurred_at BIGINT NOT NULL,
{sqlite_only}     body TEXT NOT NULL,
{sqlite_only}     source TEXT,
{sqlite_only}     rendered TEXT
{sqlite_only} );
{sqlite_only} INSERT INTO webhook_events_rebuilt (event_id, action, occurred_at, body, source,
{sqlite_only}     rendered)
{sqlite_only} SELECT event_id, action, occurred_at, body, source, rendered
{sqlite_only} FROM webhook_events ORDER BY event_id;
{sqlite_only} DROP TABLE webhook_events;
{sqlite_only} ALTER TABLE webhook_events_rebuilt RENAME TO webhook_events;
{sqlite_only} CREATE UNIQUE INDEX webhook_events_by_source ON webhook_events (source)
{sqlite_only}     WHERE source IS NOT NULL;
-- A statement both run: asyncpg fails on a script of comments alone (PostgreSQL's rendering).
SELECT 1;
