-- Scheduled callbacks (issue 15). One open (pending or dialling) callback per number and queue:
-- the partial unique index is the dedupe rule, so two instances scheduling the same number at
-- once still make one. `attempts` holds the finished attempts as JSON; the attempt under way is
-- (claim, claimed_at, claimed_until): the claim of the one process dialling it, which only that
-- claim can report, and which another process may take over once `claimed_until` has passed.
-- Numbered 0005: 0004 is call history's (issue 14).
CREATE TABLE callbacks (
    callback_id {identity},
    queue_id INTEGER NOT NULL,
    phone_number TEXT NOT NULL,
    call_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts TEXT NOT NULL DEFAULT '[]',
    claim TEXT,
    claimed_at BIGINT,
    claimed_until BIGINT
);

CREATE UNIQUE INDEX callbacks_one_open ON callbacks (queue_id, phone_number)
    WHERE state IN ('pending', 'dialling');
CREATE INDEX callbacks_due ON callbacks (call_at) WHERE state = 'pending';
CREATE INDEX callbacks_claimed ON callbacks (claimed_until) WHERE state = 'dialling';
CREATE INDEX callbacks_by_queue ON callbacks (queue_id, callback_id);
