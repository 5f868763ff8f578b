"""The call history from Asterisk: the real captures replayed over a real socket to the listener
bootstrap builds, and the rows they leave in the `connections` table (real SQLite)."""

from __future__ import annotations

from kolejka.adapters.ami.listener import AmiListener
from kolejka.bootstrap import Components
from kolejka.domain.connections import Connection, ConnectionQuery, DisconnectedBy, Disposition
from kolejka.observability.links import LinkStatus
from kolejka.settings import Settings
from tests.ami.fake_asterisk import FakeAsterisk, captured_packets, events
from tests.ami.helpers import SUPPORT, start_listening, stop_listening, until_waiting
from tests.support import FrozenClock, eventually

SIP = "ami_session_sip.txt"
ANSWERED = "ami_session_answered_by_member.txt"
AGENTS = "ami_session_agents_callbacks.txt"
JOINS = events("queue_caller_events.txt", "QueueCallerJoin")
LEAVES = events("queue_caller_events.txt", "QueueCallerLeave")
FIRST, SECOND, THIRD = "1795705470.0", "1795705470.1", "1795705471.2"


async def history(components: Components) -> list[Connection]:
    """Every recorded call, oldest first."""
    page = await components.history.page(ConnectionQuery())
    return sorted(page.rows, key=lambda row: (row.started_at, row.connection_id))


async def recorded(components: Components, count: int) -> list[Connection]:
    rows: list[Connection] = []

    async def enough() -> bool:
        nonlocal rows
        rows = await history(components)
        assert len(rows) == count, f"{len(rows)} calls recorded, not {count}"
        return True

    await eventually(enough)
    return rows


async def test_each_abandoned_call_is_recorded_as_no_answer_with_asterisks_hold_time(
    asterisk: FakeAsterisk, following: AmiListener, components: Components
) -> None:
    await asterisk.push(*captured_packets(SIP))
    rows = await recorded(components, 3)
    assert [
        (row.connection_id, row.queue_id, row.src, row.disposition, row.duration, row.billsec)
        for row in rows
    ] == [
        (FIRST, SUPPORT, "4915110000001", Disposition.NO_ANSWER, 19, 0),
        (SECOND, SUPPORT, "4915110000002", Disposition.NO_ANSWER, 19, 0),
        (THIRD, SUPPORT, "4915110000003", Disposition.NO_ANSWER, 20, 0),
    ]
    assert {row.disconnected_by for row in rows} == {DisconnectedBy.CUSTOMER}
    assert rows[0].src_key == "4915110000001"  # as Asterisk wrote it: no parsing per call


async def test_a_call_answered_by_a_member_is_recorded_with_the_agent_talk_and_who_hung_up(
    asterisk: FakeAsterisk, following: AmiListener, components: Components, clock: FrozenClock
) -> None:
    packets = captured_packets(ANSWERED)
    leave = next(i for i, raw in enumerate(packets) if b"Event: QueueCallerLeave" in raw)
    await asterisk.push(*packets[:leave])
    await until_waiting(components, SUPPORT, {"1795705579.7"})
    clock.advance(7)
    await asterisk.push(*packets[leave:])

    async def completed() -> bool:
        (row,) = await recorded(components, 1)
        assert row.billsec == 6, row
        return True

    await eventually(completed)
    (row,) = await recorded(components, 1)
    # AgentConnect's HoldTime (4 s) wins over the 7 s kolejka measured; TalkTime is billsec.
    assert (row.connection_id, row.disposition, row.user_login) == (
        "1795705579.7",
        Disposition.ANSWERED,
        "TestAgent",
    )
    assert (row.duration, row.billsec, row.disconnected_by) == (10, 6, DisconnectedBy.AGENT)


async def test_a_caller_who_leaves_with_no_agent_answering_is_no_answer_with_nobody_hanging_up(
    asterisk: FakeAsterisk, following: AmiListener, components: Components, clock: FrozenClock
) -> None:
    # The queue's timeout (or no agents left): QueueCallerLeave with no abandon before it and
    # no AgentConnect after it.
    await asterisk.push(JOINS[0])
    await until_waiting(components, SUPPORT, {FIRST})
    clock.advance(30)
    await asterisk.push(*[raw for raw in LEAVES if f"Uniqueid: {FIRST}\r\n".encode() in raw])
    (row,) = await recorded(components, 1)
    assert (row.connection_id, row.disposition, row.user_login, row.duration, row.billsec) == (
        FIRST,
        Disposition.NO_ANSWER,
        "",
        30,
        0,
    )
    assert row.disconnected_by is DisconnectedBy.UNKNOWN  # nobody hung up: the queue let go
    # Not an answered wait: the estimate has no answer to go by, and nobody waits now.
    assert (await components.lists.stats(SUPPORT)).approx_wait_time.total_seconds() == 0


async def test_an_agent_connect_in_a_later_burst_makes_the_left_call_answered(
    asterisk: FakeAsterisk, following: AmiListener, components: Components, clock: FrozenClock
) -> None:
    packets = captured_packets(ANSWERED)
    leave = next(i for i, raw in enumerate(packets) if b"Event: QueueCallerLeave" in raw)
    await asterisk.push(*packets[: leave + 1])
    await eventually(lambda: len(asterisk.waiting) == 0)
    (row,) = await recorded(components, 1)
    await components.history.flush()  # stored as NO ANSWER before the agent's event comes
    assert (await components.history.connection(row.connection_id)).disposition == (
        Disposition.NO_ANSWER
    )
    await asterisk.push(*packets[leave + 1 :])

    async def answered() -> bool:
        (row,) = await recorded(components, 1)
        assert (row.disposition, row.user_login, row.billsec) == (
            Disposition.ANSWERED,
            "TestAgent",
            6,
        ), row
        return True

    await eventually(answered)
    assert (await components.lists.stats(SUPPORT)).approx_wait_time.total_seconds() == 4


async def test_the_agents_capture_gives_one_answered_and_two_abandoned_calls(
    asterisk: FakeAsterisk, following: AmiListener, components: Components
) -> None:
    await asterisk.push(*captured_packets(AGENTS))
    await eventually(lambda: len(asterisk.waiting) == 0)
    rows = await recorded(components, 3)

    async def answered_completed() -> bool:
        rows = await recorded(components, 3)
        assert rows[0].billsec == 6, rows[0]
        return True

    await eventually(answered_completed)
    rows = await recorded(components, 3)
    assert [
        (r.connection_id, r.queue_id, r.disposition, r.user_login, r.duration, r.billsec)
        for r in rows
    ] == [
        ("1796075714.3", 2, Disposition.ANSWERED, "jkowalski", 6, 6),
        ("1796075727.7", 2, Disposition.NO_ANSWER, "", 22, 0),
        ("1796075753.12", 2, Disposition.NO_ANSWER, "", 18, 0),
    ]
    assert rows[0].disconnected_by is DisconnectedBy.AGENT
    assert rows[1].disconnected_by is DisconnectedBy.CUSTOMER


async def test_callers_gone_after_an_asterisk_restart_are_recorded_once_as_failed(
    asterisk: FakeAsterisk, following: AmiListener, components: Components, clock: FrozenClock
) -> None:
    await asterisk.push(*JOINS)
    await until_waiting(components, SUPPORT, {FIRST, SECOND, THIRD})
    clock.advance(30)
    await asterisk.restart()
    await eventually(lambda: following.link.status is not LinkStatus.UP)
    await eventually(lambda: following.link.up)
    rows = await recorded(components, 3)
    assert {(row.connection_id, row.disposition) for row in rows} == {
        (FIRST, Disposition.FAILED),
        (SECOND, Disposition.FAILED),
        (THIRD, Disposition.FAILED),
    }
    assert {row.duration for row in rows} == {30}
    # The calls' own ends, heard after all, replace the unknown outcome; no second row.
    await asterisk.push(*captured_packets(SIP))

    async def all_abandoned() -> bool:
        rows = await recorded(components, 3)
        assert {row.disposition for row in rows} == {Disposition.NO_ANSWER}
        return True

    await eventually(all_abandoned)


async def test_a_call_waiting_when_kolejka_restarts_is_closed_by_the_resync_and_never_doubled(
    asterisk: FakeAsterisk, settings: Settings, clock: FrozenClock
) -> None:
    first, task = await start_listening(settings, clock)
    await asterisk.push(*JOINS)
    await until_waiting(first, SUPPORT, {FIRST, SECOND, THIRD})
    await stop_listening(first, task)
    # While kolejka is down, the first caller hangs up: Asterisk no longer has it.
    asterisk.happen(*(raw for raw in LEAVES if f"Uniqueid: {FIRST}\r\n".encode() in raw))
    clock.advance(12)
    for _ in range(2):
        again, task = await start_listening(settings, clock)
        await until_waiting(again, SUPPORT, {SECOND, THIRD})
        (row,) = await recorded(again, 1)
        assert (row.connection_id, row.disposition, row.duration) == (FIRST, Disposition.FAILED, 12)
        await stop_listening(again, task)
