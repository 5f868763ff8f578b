"""An agent's live record as every store keeps it: one JSON text of its memberships beside the
derived state, so reading every agent's state is one row (or one hash field) per agent.

SQLite, PostgreSQL and Redis all store it this way; the codec lives here, once.
"""

from __future__ import annotations

import json

from kolejka.adapters.sql.times import from_micros, to_micros
from kolejka.domain.agents import AgentLive, AgentState, Membership


def encode_memberships(live: AgentLive) -> str:
    return json.dumps(
        [
            [m.queue_id, int(m.paused), m.pause_id, int(m.ringing), int(m.in_call)]
            for m in live.memberships
        ],
        separators=(",", ":"),
    )


def decode_live(
    login: str, state: str, pause_id: int | None, last_change: int, memberships: str | bytes
) -> AgentLive:
    return AgentLive(
        login=login,
        memberships=tuple(
            Membership(queue_id, bool(paused), pause, bool(ringing), bool(in_call))
            for queue_id, paused, pause, ringing, in_call in json.loads(memberships)
        ),
        state=AgentState(state),
        pause_id=pause_id,
        last_change=from_micros(last_change),
    )


def encode_record(live: AgentLive) -> str:
    """The whole record as one JSON text (Redis keeps it in a hash field)."""
    return json.dumps(
        [live.state.value, live.pause_id, to_micros(live.last_change), encode_memberships(live)],
        separators=(",", ":"),
    )


def decode_record(login: str, record: str | bytes) -> AgentLive:
    state, pause_id, last_change, memberships = json.loads(record)
    return decode_live(login, state, pause_id, last_change, memberships)
