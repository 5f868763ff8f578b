-- Abandoned callers to call back (GET /api/queues/{id}/abandoned): the answered callbacks of a
-- queue's day, which may have reached today's abandoned callers, are one index range.
--
-- Partial: only callback attempts (OUTBOUND rows) write it, so recording a queue call (an
-- INBOUND row, what the AMI listener writes by the thousand) costs nothing more. Today's
-- abandons are read from connections_by_queue, and "answered since" from each caller's own
-- later calls (connections_by_src): a partial index of abandoned calls would make that read a
-- few milliseconds shorter, at the cost of an index entry for every abandoned call written.
CREATE INDEX connections_outbound ON connections (queue_id, started_at, dst)
    WHERE direction = 'OUTBOUND';
