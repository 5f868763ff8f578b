-- The call history's table again, its CHECKs written as equalities joined by OR instead of
-- `IN (...)`: the same rule (both columns are NOT NULL), but SQLite evaluates an IN of more than
-- two values by filling an ephemeral table (OpenEphemeral) for every row inserted, which was a
-- third of what SQLite spent writing a call's row on the AMI listener's path (callgrind,
-- bench/ami_instructions.py). SQLite cannot alter a CHECK, so the table is rebuilt: every row
-- copied, the indexes of 0005 and 0008 made again. PostgreSQL applies the same script; its IN
-- costs nothing more, but one schema for both engines is simpler than two (docs/operations.md:
-- the upgrade copies the history once). On PostgreSQL the old table is locked against writes
-- first, so a call an old instance records during the copy waits for it instead of being lost
-- with the old table; SQLite's migration transaction (BEGIN IMMEDIATE) already holds the lock.
{postgres_only} LOCK TABLE connections IN EXCLUSIVE MODE;
CREATE TABLE connections_rebuilt (
    connection_id TEXT {bytewise} PRIMARY KEY,
    queue_id INTEGER NOT NULL,
    started_at BIGINT NOT NULL,
    src TEXT NOT NULL DEFAULT '',
    src_key TEXT NOT NULL DEFAULT '',
    dst TEXT NOT NULL DEFAULT '',
    direction TEXT NOT NULL DEFAULT 'INBOUND'
        CHECK (direction = 'INBOUND' OR direction = 'OUTBOUND'),
    disposition TEXT NOT NULL
        CHECK (disposition = 'ANSWERED' OR disposition = 'NO ANSWER' OR disposition = 'BUSY'
            OR disposition = 'FAILED'),
    wait_seconds INTEGER NOT NULL DEFAULT 0,
    talk_seconds INTEGER NOT NULL DEFAULT 0,
    user_login TEXT NOT NULL DEFAULT '',
    disconnected_by TEXT NOT NULL DEFAULT '',
    transferred_to TEXT NOT NULL DEFAULT ''
);
INSERT INTO connections_rebuilt (connection_id, queue_id, started_at, src, src_key, dst,
    direction, disposition, wait_seconds, talk_seconds, user_login, disconnected_by,
    transferred_to)
SELECT connection_id, queue_id, started_at, src, src_key, dst, direction, disposition,
    wait_seconds, talk_seconds, user_login, disconnected_by, transferred_to
FROM connections ORDER BY connection_id;
DROP TABLE connections;
ALTER TABLE connections_rebuilt RENAME TO connections;
CREATE INDEX connections_by_date ON connections (started_at, connection_id);
CREATE INDEX connections_by_queue ON connections (queue_id, started_at, connection_id);
CREATE INDEX connections_by_src ON connections (src_key, started_at, connection_id)
    WHERE src_key <> '';
CREATE INDEX connections_by_dst ON connections (dst, started_at, connection_id) WHERE dst <> '';
CREATE INDEX connections_by_agent ON connections (user_login, started_at, connection_id)
    WHERE user_login <> '';
CREATE INDEX connections_outbound ON connections (queue_id, started_at, dst)
    WHERE direction = 'OUTBOUND';
