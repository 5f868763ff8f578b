-- The callers' events (CALLER_JOINED, CALLER_LEFT) stored in typed columns of their own instead
-- of as JSON in `body`, which is NULL for them. The AMI listener writes one for every caller who
-- joins or leaves; encoding its fields as JSON, and its instant as an ISO 8601 string, was about
-- half of what webhooks cost the listener (callgrind, bench/ami_instructions.py --webhooks), and
-- the stored fields are only an intermediate form: delivery renders the wire's body from them
-- once (migration 0010). The columns are named after the fields and ordered as the wire orders
-- them; a column an action has no field for is NULL. `started_at` is microseconds since 1970
-- UTC, as every instant is stored. Other actions keep their JSON `body`, and rows written before
-- this (JSON, whatever the action) are read as before.
--
-- An instance of an older version still running (docs/operations.md, the upgrade) writes JSON
-- rows, which this version reads. A typed row it cannot read: delivering one that no instance
-- has rendered yet, it fails before sending anything, logs "delivery failed" and tries again, its
-- cursor unmoved (none lost, none out of order); once a new instance renders the event for any
-- subscription, the stored body is what the old one sends too. See docs/operations.md.
--
-- SQLite cannot drop a column's NOT NULL, so its table is rebuilt (the outbox holds only what
-- delivery has not pruned: the copy is short), every row with its id, and the partial index of
-- 0012 made again. On PostgreSQL the columns are added (no default: no rewrite).
{sqlite_only} CREATE TABLE webhook_events_rebuilt (
{sqlite_only}     event_id {identity},
{sqlite_only}     action TEXT NOT NULL,
{sqlite_only}     occurred_at BIGINT NOT NULL,
{sqlite_only}     body TEXT,
{sqlite_only}     source TEXT,
{sqlite_only}     rendered TEXT,
{sqlite_only}     queue_id BIGINT,
{sqlite_only}     call_id TEXT,
{sqlite_only}     phone_number TEXT,
{sqlite_only}     caller_name TEXT,
{sqlite_only}     outcome TEXT,
{sqlite_only}     started_at BIGINT,
{sqlite_only}     waited BIGINT
{sqlite_only} );
{sqlite_only} INSERT INTO webhook_events_rebuilt (event_id, action, occurred_at, body, source,
{sqlite_only}     rendered)
{sqlite_only} SELECT event_id, action, occurred_at, body, source, rendered
{sqlite_only} FROM webhook_events ORDER BY event_id;
{sqlite_only} DROP TABLE webhook_events;
{sqlite_only} ALTER TABLE webhook_events_rebuilt RENAME TO webhook_events;
{sqlite_only} CREATE UNIQUE INDEX webhook_events_by_source ON webhook_events (source)
{sqlite_only}     WHERE source IS NOT NULL;
{postgres_only} ALTER TABLE webhook_events ALTER COLUMN body DROP NOT NULL,
{postgres_only}     ADD COLUMN queue_id BIGINT,
{postgres_only}     ADD COLUMN call_id TEXT,
{postgres_only}     ADD COLUMN phone_number TEXT,
{postgres_only}     ADD COLUMN caller_name TEXT,
{postgres_only}     ADD COLUMN outcome TEXT,
{postgres_only}     ADD COLUMN started_at BIGINT,
{postgres_only}     ADD COLUMN waited BIGINT;
