-- Call history: Thulium's "connections", one row per queue call, keyed by the PBX's id of the
-- call (Asterisk's Uniqueid), so writing a call twice changes its row and never adds a second.
-- (Version 4: issue 13's agents take 3.)
--
-- started_at is `date` (when the call joined its queue), in microseconds since 1970 UTC like
-- every instant here; duration = wait_seconds + talk_seconds, billsec = talk_seconds.
-- No foreign key to queues: a call's history outlives the queue it waited in.
--
-- Every page is newest first, ties by connection_id (both descending), so each index ends in
-- (started_at, connection_id) and a page is an index range read backwards, whatever the filter.
-- Ids compare bytewise on both engines ({bytewise}), so ties order alike.
-- Columns most rows leave empty get partial indexes, which cost an insert nothing.
CREATE TABLE connections (
    connection_id TEXT {bytewise} PRIMARY KEY,
    queue_id INTEGER NOT NULL,
    started_at BIGINT NOT NULL,
    src TEXT NOT NULL DEFAULT '',
    src_key TEXT NOT NULL DEFAULT '',
    dst TEXT NOT NULL DEFAULT '',
    direction TEXT NOT NULL DEFAULT 'INBOUND' CHECK (direction IN ('INBOUND', 'OUTBOUND')),
    disposition TEXT NOT NULL
        CHECK (disposition IN ('ANSWERED', 'NO ANSWER', 'BUSY', 'FAILED')),
    wait_seconds INTEGER NOT NULL DEFAULT 0,
    talk_seconds INTEGER NOT NULL DEFAULT 0,
    user_login TEXT NOT NULL DEFAULT '',
    disconnected_by TEXT NOT NULL DEFAULT '',
    transferred_to TEXT NOT NULL DEFAULT ''
);
CREATE INDEX connections_by_date ON connections (started_at, connection_id);
CREATE INDEX connections_by_queue ON connections (queue_id, started_at, connection_id);
CREATE INDEX connections_by_src ON connections (src_key, started_at, connection_id)
    WHERE src_key <> '';
CREATE INDEX connections_by_dst ON connections (dst, started_at, connection_id) WHERE dst <> '';
CREATE INDEX connections_by_agent ON connections (user_login, started_at, connection_id)
    WHERE user_login <> '';
