-- The wallboard's "callbacks due next" (issue 15): a queue's open callbacks, earliest call_at
-- first, read as an index range however many callbacks the queue has had, and however many are
-- due at once (10,000 in one minute is the benchmark's case). Partial, like callbacks_one_open:
-- finished callbacks, nearly all of them in time, cost it nothing.
CREATE INDEX callbacks_open_by_queue ON callbacks (queue_id, call_at, callback_id)
    WHERE state IN ('pending', 'dialling');
