-- The wait estimate (waiting_stats' approx_wait_time) reads the answered calls' waits from the
-- call history (`connections`), which records every departure anyway; the `departures` table
-- only repeated what each row says, and writing both cost the AMI listener a second insert, with
-- its index, for every caller who left (callgrind, bench/ami_instructions.py).
--
-- SQLite has one service process per file: its table goes now. On PostgreSQL several instances
-- share the database, and one not yet upgraded still inserts into `departures` as each caller
-- leaves: the table stays there, written and never read, until a later migration drops it
-- (docs/operations.md, "Migrations").
{sqlite_only} DROP TABLE departures;
-- A statement both run: asyncpg fails on a script of comments alone (PostgreSQL's rendering).
SELECT 1;
