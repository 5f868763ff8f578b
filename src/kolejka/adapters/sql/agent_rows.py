"""An agent's live record as every store keeps it: one JSON text of its memberships beside the
derived state, so reading every agent's state is one row (or one hash field) per agent.

SQLite, PostgreSQL and Redis all store it this way; the codec lives here, once.
"""

from __future__ import annotations

import json

from kolejka.adapters.sql.times import from_micros, to_micros
from kolejka.domain.agents import AgentLive, AgentState, Membership


def encode_memberships(live: AgentLive) -> str:
    """[queue, paused, pause id, ringing, in call] a membership, and its calls under way when it
    has any (records written before they were kept have five items: no call)."""
    return json.dumps(
        [
            [m.queue_id, int(m.paused), m.pause_id, int(m.ringing), int(m.in_call)]
            + ([list(m.calls)] if m.calls else [])
            for m in live.memberships
        ],
        separators=(",", ":"),
    )


def _membership(item: list[object]) -> Membership:
    queue_id, paused, pause, ringing, in_call, *rest = item
    calls = tuple(str(call) for call in rest[0]) if rest else ()  # type: ignore[attr-defined]
    return Membership(
        int(queue_id),  # type: ignore[call-overload]
        bool(paused),
        None if pause is None else int(pause),  # type: ignore[call-overload]
        bool(ringing),
        bool(in_call),
        calls,
    )


def decode_live(
    login: str, state: str, pause_id: int | None, last_change: int, memberships: str | bytes
) -> AgentLive:
    return AgentLive(
        login=login,
        memberships=tuple(_membership(item) for item in json.loads(memberships)),
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
