-- The call history's journal (SQLite only): the AMI listener's burst appends its calls' rows
-- here, to a table with no index but its rowid, in the transaction that applies the burst's
-- departures; the service then writes them into `connections` a batch of many bursts at a time
-- (`CallHistory`, docs/pbx-asterisk.md "When the rows are written"). A commit writes every page
-- it changed to the write-ahead log, and a burst of forty calls changed a page of each of the
-- seven indexes of `connections`: 76 MB of log for 60,000 events against 23 MB without the
-- history, which cost the listener 10 % of its events/s (docs/benchmarks.md, 2026-12-03). A
-- batch of many bursts changes each of those pages once.
--
-- A row is one write of `CallHistory`, in order (`seq`): `kind` 0 records the row (kept unless
-- the call has one that is not FAILED), 1 saves it whole, 2 saves it whole as an agent's pick-up;
-- `announced_at` (microseconds since 1970 UTC) is when its CALL_RECORDED event happened, NULL
-- when it announces nothing. The other columns, and their defaults, are those of `connections`.
-- Whatever a crash leaves here is written into `connections` when the service starts again.
-- PostgreSQL writes a burst's rows into `connections` directly.
{sqlite_only} CREATE TABLE connections_journal (
{sqlite_only}     seq INTEGER PRIMARY KEY,
{sqlite_only}     kind INTEGER NOT NULL,
{sqlite_only}     announced_at BIGINT,
{sqlite_only}     connection_id TEXT NOT NULL,
{sqlite_only}     queue_id INTEGER NOT NULL,
{sqlite_only}     started_at BIGINT NOT NULL,
{sqlite_only}     src TEXT NOT NULL DEFAULT '',
{sqlite_only}     src_key TEXT NOT NULL DEFAULT '',
{sqlite_only}     dst TEXT NOT NULL DEFAULT '',
{sqlite_only}     direction TEXT NOT NULL DEFAULT 'INBOUND',
{sqlite_only}     disposition TEXT NOT NULL,
{sqlite_only}     wait_seconds INTEGER NOT NULL DEFAULT 0,
{sqlite_only}     talk_seconds INTEGER NOT NULL DEFAULT 0,
{sqlite_only}     user_login TEXT NOT NULL DEFAULT '',
{sqlite_only}     disconnected_by TEXT NOT NULL DEFAULT '',
{sqlite_only}     transferred_to TEXT NOT NULL DEFAULT ''
{sqlite_only} );
-- A statement both run: asyncpg fails on a script of comments alone (PostgreSQL's rendering).
SELECT 1;
