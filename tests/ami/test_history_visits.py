"""A call in several queues (an agent's transfer into another queue, an overflow): Asterisk
keeps the caller's Uniqueid, and each queue visit is a row of the call history of its own
(docs/pbx-asterisk.md, "A call in several queues"). Real packets of the agents' capture, changed
to the visits below, over a real socket to the listener bootstrap builds (real SQLite)."""

from __future__ import annotations

from kolejka.adapters.ami.listener import AmiListener
from kolejka.bootstrap import Components
from kolejka.domain.connections import Connection, ConnectionQuery, DisconnectedBy, Disposition
from kolejka.settings import Settings
from tests.ami.fake_asterisk import FakeAsterisk, events, with_fields
from tests.ami.helpers import departures_applied, start_listening, stop_listening, until_waiting
from tests.support import FrozenClock, eventually

CAPTURE = "ami_session_agents_callbacks.txt"
CALL = "1796075714.3"  # the capture's answered caller
SENTINEL = "1796075799.40"  # a caller who joins after the events a test waits for
JOIN, LEAVE, CONNECT, COMPLETE = (
    next(raw for raw in events(CAPTURE, kind) if f"Uniqueid: {CALL}\r\n".encode() in raw)
    for kind in ("QueueCallerJoin", "QueueCallerLeave", "AgentConnect", "AgentComplete")
)
# What each visit's row says: (id, queue, number, disposition, agent, duration, billsec, who
# hung up).
Row = tuple[str, int, str, Disposition, str, int, int, DisconnectedBy]
NUMBER = "48601100201"
FIRST_VISIT: Row = (
    CALL,
    2,
    NUMBER,
    Disposition.ANSWERED,
    "jkowalski",
    30,
    20,
    DisconnectedBy.UNKNOWN,
)
SECOND_VISIT: Row = (
    f"{CALL}-3",
    3,
    NUMBER,
    Disposition.ANSWERED,
    "anowak",
    100,
    60,
    DisconnectedBy.CUSTOMER,
)


def agent(raw: bytes, queue: str, login: str, **changes: str) -> bytes:
    interface = f"Local/{login}@agent-answer/n"
    return with_fields(raw, Queue=queue, MemberName=login, Interface=interface, **changes)


def joined(queue: str) -> bytes:
    return with_fields(JOIN, Queue=queue, Position="1", Count="1")


def answered(queue: str, login: str, hold: int, talk: int, reason: str) -> list[bytes]:
    """The caller leaves `queue` for `login`, who talks `talk` seconds; then `reason`."""
    return [
        with_fields(LEAVE, Queue=queue, Count="0"),
        agent(CONNECT, queue, login, HoldTime=str(hold), RingTime="2"),
        agent(COMPLETE, queue, login, HoldTime=str(hold), TalkTime=str(talk), Reason=reason),
    ]


TRANSFERRED = answered("2", "jkowalski", 10, 20, "transfer")
TAKEN_IN_3 = answered("3", "anowak", 40, 60, "caller")


async def rows_of(components: Components) -> list[Row]:
    page = await components.history.page(ConnectionQuery())
    return sorted(_row(row) for row in page.rows)


def _row(row: Connection) -> Row:
    return (
        row.connection_id,
        row.queue_id,
        row.src,
        row.disposition,
        row.user_login,
        row.duration,
        row.billsec,
        row.disconnected_by,
    )


async def replay_whole_call(asterisk: FakeAsterisk, components: Components) -> None:
    """Both visits' events again, and returns once kolejka has applied them all: a caller who
    joins after them is waiting (events are applied in order)."""
    before = departures_applied(components)
    await asterisk.push(joined("2"), *TRANSFERRED, joined("3"), *TAKEN_IN_3)
    await asterisk.push(with_fields(JOIN, Uniqueid=SENTINEL, Queue="2"))
    await until_waiting(components, 2, {SENTINEL})
    assert departures_applied(components) == before + 2  # both visits were heard again
    await components.history.flush()


async def until_rows(components: Components, expected: list[Row]) -> None:
    async def those() -> bool:
        assert await rows_of(components) == expected
        return True

    await eventually(those)


async def test_a_call_transferred_into_another_queue_is_a_row_per_queue_visit(
    asterisk: FakeAsterisk, following: AmiListener, components: Components, clock: FrozenClock
) -> None:
    await asterisk.push(joined("2"))
    await until_waiting(components, 2, {CALL})
    clock.advance(10)
    await asterisk.push(*TRANSFERRED)
    await until_rows(components, [FIRST_VISIT])
    clock.advance(20)
    await asterisk.push(joined("3"))
    await until_waiting(components, 3, {CALL})
    clock.advance(40)
    await asterisk.push(*TAKEN_IN_3)
    await until_rows(components, [FIRST_VISIT, SECOND_VISIT])
    page = await components.history.page(ConnectionQuery())
    first, second = sorted(page.rows, key=lambda row: row.connection_id)
    # Each visit starts when the caller joined that queue, from the same number.
    assert (second.started_at - first.started_at).total_seconds() == 30

    # The same events again (a duplicate stream, a replay) change no row and add none.
    await replay_whole_call(asterisk, components)
    assert await rows_of(components) == [FIRST_VISIT, SECOND_VISIT]
    again = (await components.history.page(ConnectionQuery())).rows
    assert sorted(again, key=lambda row: row.connection_id) == [first, second]


async def test_a_transfer_heard_across_a_restart_of_kolejka_is_still_a_row_per_visit(
    asterisk: FakeAsterisk, settings: Settings, clock: FrozenClock
) -> None:
    """kolejka stops while the transferred caller waits in the second queue: the resync finds
    it there, and its departure is the second visit's row, not the first's."""

    asterisk.queues.append("3")  # QueueStatus lists it, as Asterisk lists every queue
    first, task = await start_listening(settings, clock)
    await asterisk.push(joined("2"))
    await until_waiting(first, 2, {CALL})
    await asterisk.push(*TRANSFERRED, joined("3"))
    await until_waiting(first, 3, {CALL})
    await until_rows(first, [FIRST_VISIT])
    await stop_listening(first, task)

    again, task = await start_listening(settings, clock)
    try:
        await until_waiting(again, 3, {CALL})
        await asterisk.push(*TAKEN_IN_3)
        await until_rows(again, [FIRST_VISIT, SECOND_VISIT])
    finally:
        await stop_listening(again, task)

    # A third start, which remembers nothing, hears the whole call again: nothing changes.
    third, task = await start_listening(settings, clock)
    try:
        await replay_whole_call(asterisk, third)
        assert await rows_of(third) == [FIRST_VISIT, SECOND_VISIT]
    finally:
        await stop_listening(third, task)
