"""A callback as both SQL engines keep it: one row, its finished attempts as one JSON text.

The attempt under way is not in the JSON: it is the row's claim (`claimed_at`), so claiming a
batch of due callbacks is one UPDATE that touches no JSON. The codec lives here, once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from kolejka.adapters.sql.times import from_micros, to_micros
from kolejka.domain.callbacks import Attempt, Callback, CallbackState, DialOutcome

COLUMNS = (
    "callback_id, queue_id, phone_number, call_at, created_at, state, attempts, claim,"
    " claimed_at, claimed_until"
)


def encode_attempts(attempts: Sequence[Attempt]) -> str:
    """The finished attempts: [started, finished, outcome] each, in microseconds."""
    return json.dumps(
        [
            [to_micros(a.started_at), to_micros(a.finished_at), a.outcome.value]
            for a in attempts
            if a.finished_at is not None and a.outcome is not None
        ],
        separators=(",", ":"),
    )


def decode(row: Sequence[object]) -> Callback:
    (
        callback_id,
        queue_id,
        phone_number,
        call_at,
        created_at,
        state,
        attempts_json,
        claim,
        claimed_at,
        claimed_until,
    ) = row
    assert isinstance(attempts_json, str | bytes)
    attempts = [
        Attempt(n, from_micros(started), from_micros(finished), DialOutcome(outcome))
        for n, (started, finished, outcome) in enumerate(json.loads(attempts_json), 1)
    ]
    if state == CallbackState.DIALLING and isinstance(claimed_at, int):
        attempts.append(Attempt(len(attempts) + 1, from_micros(claimed_at)))
    return Callback(
        callback_id=int(callback_id),  # type: ignore[call-overload]
        queue_id=int(queue_id),  # type: ignore[call-overload]
        phone_number=str(phone_number),
        call_at=from_micros(int(call_at)),  # type: ignore[call-overload]
        created_at=from_micros(int(created_at)),  # type: ignore[call-overload]
        state=CallbackState(str(state)),
        attempts=tuple(attempts),
        claim=None if claim is None else str(claim),
        claimed_until=None if claimed_until is None else from_micros(int(claimed_until)),  # type: ignore[call-overload]
    )
