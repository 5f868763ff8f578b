-- Abandoned callers to call back (GET /api/queues/{id}/abandoned): today's abandoned calls of a
-- queue, and the answered callbacks that may have reached them, each one index range.
--
-- Both indexes are partial: an answered inbound call (most of them) writes neither, an
-- abandoned one writes one more index entry, a callback attempt (OUTBOUND) the other. The
-- abandoned calls' index carries the number's key and the wait, so the list reads no table row
-- for them; "answered since" is then a look at the caller's own later calls (connections_by_src).
CREATE INDEX connections_abandoned ON connections (queue_id, started_at, src_key, wait_seconds)
    WHERE disposition = 'NO ANSWER' AND direction = 'INBOUND';
CREATE INDEX connections_outbound ON connections (queue_id, started_at, dst)
    WHERE direction = 'OUTBOUND';
