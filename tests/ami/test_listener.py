"""The AMI listener against a fake Asterisk on a real socket, replaying the real captures.

Every test runs the listener bootstrap builds (real SQLite underneath) and checks the waiting
lists, and the departures recorded, against what Asterisk said.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sqlite3
from datetime import timedelta

import pytest

from kolejka.adapters.ami.listener import AmiListener
from kolejka.adapters.http.app import KolejkaApp
from kolejka.adapters.sqlite.stores import SqliteWaitingCallers
from kolejka.bootstrap import Components, build
from kolejka.domain.queues import Joined, Queue, WaitingCaller, positions
from kolejka.observability.links import LinkStatus
from kolejka.services.ports import WaitingCallerStore
from kolejka.settings import Settings
from tests.ami.fake_asterisk import FakeAsterisk, captured_packets, events, with_fields
from tests.ami.helpers import SUPPORT, departures, departures_applied, until_waiting, waiting
from tests.support import FAST_HASHER, FrozenClock, call, eventually

SIP = "ami_session_sip.txt"
CALLER_EVENTS = "queue_caller_events.txt"
QUEUE_2 = "ami_session_queue2_local.txt"
ANSWERED = "ami_session_answered_by_member.txt"

FIRST, SECOND, THIRD = "1795705470.0", "1795705470.1", "1795705471.2"


def of_call(packets: list[bytes], call_id: str) -> list[bytes]:
    return [raw for raw in packets if f"Uniqueid: {call_id}\r\n".encode() in raw]


class FailingOnce(SqliteWaitingCallers):
    """The SQLite store, failing its first join as a full disk would."""

    def __init__(self, store: WaitingCallerStore) -> None:
        assert isinstance(store, SqliteWaitingCallers)
        super().__init__(store.db)
        self.failures = 1

    async def join(self, caller: WaitingCaller, announce: bool = False) -> Joined:
        if self.failures:
            self.failures -= 1
            raise sqlite3.OperationalError("database or disk is full")
        return await super().join(caller, announce)


JOINS = events(CALLER_EVENTS, "QueueCallerJoin")
ABANDONS = events(CALLER_EVENTS, "QueueCallerAbandon")
LEAVES = events(CALLER_EVENTS, "QueueCallerLeave")


# Following Asterisk live -------------------------------------------------------------------


async def test_callers_who_join_in_asterisk_appear_with_their_number_name_and_call_id(
    asterisk: FakeAsterisk, following: AmiListener, components: Components
) -> None:
    await asterisk.push(*JOINS)
    callers = await until_waiting(components, SUPPORT, {FIRST, SECOND, THIRD})
    assert [(c.call_id, c.phone_number, c.caller_name) for c in callers] == [
        (THIRD, "4915110000003", "Caller 3"),
        (SECOND, "4915110000002", "Caller 2"),
        (FIRST, "4915110000001", "Caller 1"),
    ]
    entries = await components.lists.waiting_list(SUPPORT)
    # Asterisk sends international numbers without `+`; the list shows them with it.
    assert [e.phone_number for e in entries] == [
        "+4915110000003",
        "+4915110000002",
        "+4915110000001",
    ]


async def test_the_waiting_list_over_http_shows_asterisks_callers(
    asterisk: FakeAsterisk,
    following: AmiListener,
    components: Components,
    app: KolejkaApp,
    personas: dict[str, str],
) -> None:
    await asterisk.push(*JOINS[:1])
    await until_waiting(components, SUPPORT, {FIRST})
    answer = await call(app, "GET", f"/api/queues/{SUPPORT}/waiting_list", auth=personas["reader"])
    assert answer.json() == [
        {
            "phone_number": "+4915110000001",
            "started_at": "2014-08-06 14:30:35",
            "customer_id": None,
            "customer_label": None,
        }
    ]


async def test_an_abandoned_caller_leaves_as_abandoned_with_asterisks_hold_time(
    asterisk: FakeAsterisk, following: AmiListener, components: Components
) -> None:
    await asterisk.push(*JOINS)
    await until_waiting(components, SUPPORT, {FIRST, SECOND, THIRD})
    await asterisk.push(*of_call(ABANDONS + LEAVES, FIRST))
    await until_waiting(components, SUPPORT, {SECOND, THIRD})
    # QueueCallerLeave follows the abandon: the call is not counted again, as answered.
    assert await departures(components) == [(FIRST, SUPPORT, "abandoned", 19.0)]


async def test_the_captured_session_replayed_whole_ends_with_every_caller_abandoned(
    asterisk: FakeAsterisk, following: AmiListener, components: Components
) -> None:
    await asterisk.push(*captured_packets(SIP))

    async def three_departed() -> bool:
        return len(await departures(components)) == 3

    await eventually(three_departed)
    assert await departures(components) == [
        (FIRST, SUPPORT, "abandoned", 19.0),
        (SECOND, SUPPORT, "abandoned", 19.0),
        (THIRD, SUPPORT, "abandoned", 20.0),
    ]
    assert await waiting(components, SUPPORT) == []
    assert following.link.up


async def test_a_caller_answered_by_a_member_leaves_as_answered(
    asterisk: FakeAsterisk,
    following: AmiListener,
    components: Components,
    clock: FrozenClock,
) -> None:
    packets = captured_packets(ANSWERED)
    leave = next(i for i, raw in enumerate(packets) if b"Event: QueueCallerLeave" in raw)
    await asterisk.push(*packets[:leave])
    await until_waiting(components, SUPPORT, {"1795705579.7"})
    clock.advance(7)
    await asterisk.push(*packets[leave:])
    # No HoldTime on QueueCallerLeave: the hold is what we measured (7 s), until the agent's
    # AgentConnect, which follows it, gives Asterisk's own count (HoldTime: 4).
    answered = [("1795705579.7", SUPPORT, "answered", 4.0)]

    async def recorded_as_answered() -> bool:
        return await departures(components) == answered

    await eventually(recorded_as_answered)


async def test_a_queue_named_by_a_number_is_that_queue_and_is_registered_if_new(
    asterisk: FakeAsterisk, following: AmiListener, components: Components
) -> None:
    joins = events(QUEUE_2, "QueueCallerJoin")
    await asterisk.push(*joins)
    callers = await until_waiting(components, 2, {"1795705532.3", "1795705533.4", "1795705534.6"})
    # The Local channel's caller id is the one Originate gave it.
    assert callers[0].phone_number == "4915110000199"
    assert await components.queues.get(2) == Queue(2, "2")


async def test_a_queue_the_operator_named_keeps_its_name(
    asterisk: FakeAsterisk, components: Components, listener: AmiListener
) -> None:
    await components.queues.put(Queue(2, "Obsługa klienta"))
    await eventually(lambda: listener.link.up)
    await asterisk.push(*events(QUEUE_2, "QueueCallerJoin")[:1])
    await until_waiting(components, 2, {"1795705532.3"})
    assert await components.queues.get(2) == Queue(2, "Obsługa klienta")


async def test_positions_are_recomputed_as_asterisk_renumbers_after_someone_leaves(
    asterisk: FakeAsterisk, following: AmiListener, components: Components
) -> None:
    await asterisk.push(*JOINS)
    await until_waiting(components, SUPPORT, {FIRST, SECOND, THIRD})
    await asterisk.push(*of_call(ABANDONS + LEAVES, FIRST))
    callers = await until_waiting(components, SUPPORT, {SECOND, THIRD})
    # Asterisk sent no event for it, but its next abandon shows caller 2 moved up to 1.
    second_abandon = of_call(ABANDONS, SECOND)[0]
    assert b"Position: 1\r\nOriginalPosition: 2\r\n" in second_abandon
    assert positions(callers) == {SECOND: 1, THIRD: 2}


async def test_a_caller_without_caller_id_has_an_empty_phone_number(
    asterisk: FakeAsterisk, following: AmiListener, components: Components
) -> None:
    anonymous = with_fields(JOINS[0], CallerIDNum="<unknown>", CallerIDName="<unknown>")
    await asterisk.push(anonymous)
    callers = await until_waiting(components, SUPPORT, {FIRST})
    assert (callers[0].phone_number, callers[0].caller_name) == ("", "")
    entries = await components.lists.waiting_list(SUPPORT)
    assert entries[0].phone_number == ""


async def test_asterisk_before_12_is_followed_through_join_and_leave(
    asterisk: FakeAsterisk, listener: AmiListener, components: Components
) -> None:
    asterisk.banner = "Asterisk Call Manager/1.3"
    await eventually(lambda: listener.link.up)
    join = packet_of(
        Event="Join",
        Privilege="call,all",
        Channel="SIP/trunk-00000001",
        CallerIDNum="613459851",
        CallerIDName="Jan Kowalski",
        Queue="support",
        Position="1",
        Count="1",
        Uniqueid="1400000000.1",
    )
    await asterisk.push(join)
    callers = await until_waiting(components, SUPPORT, {"1400000000.1"})
    assert callers[0].caller_name == "Jan Kowalski"
    leave = packet_of(
        Event="Leave", Privilege="call,all", Channel="SIP/trunk-00000001", Queue="support",
        Count="0", Position="1", Uniqueid="1400000000.1",
    )  # fmt: skip
    await asterisk.push(leave)
    await until_waiting(components, SUPPORT, set())
    # Join/Leave were in class `call` then: the login asked for it.
    login = next(a for a in asterisk.actions if a.get("Action") == "Login")
    assert login["Events"] == "system,call,agent"


def packet_of(**fields: str) -> bytes:
    return ("".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n").encode()


# Duplicates and disorder -------------------------------------------------------------------


async def test_duplicate_events_change_nothing(
    asterisk: FakeAsterisk, following: AmiListener, components: Components
) -> None:
    await asterisk.push(JOINS[0], JOINS[0], JOINS[1])
    await until_waiting(components, SUPPORT, {FIRST, SECOND})
    abandon, leave = of_call(ABANDONS, FIRST)[0], of_call(LEAVES, FIRST)[0]
    await asterisk.push(abandon, abandon, leave, leave)
    await until_waiting(components, SUPPORT, {SECOND})
    assert await departures(components) == [(FIRST, SUPPORT, "abandoned", 19.0)]


async def test_a_leave_before_its_abandon_counts_the_call_once(
    asterisk: FakeAsterisk, following: AmiListener, components: Components
) -> None:
    await asterisk.push(JOINS[0], JOINS[1])
    await until_waiting(components, SUPPORT, {FIRST, SECOND})
    await asterisk.push(of_call(LEAVES, FIRST)[0], of_call(ABANDONS, FIRST)[0])
    await until_waiting(components, SUPPORT, {SECOND})
    # No agent's AgentConnect followed the leave: the history says NO ANSWER, once.
    assert [d[:3] for d in await departures(components)] == [(FIRST, SUPPORT, "abandoned")]
    assert departures_applied(components) == 1


async def test_callers_joining_out_of_order_are_listed_by_when_they_joined(
    asterisk: FakeAsterisk,
    following: AmiListener,
    components: Components,
    clock: FrozenClock,
) -> None:
    await asterisk.push(JOINS[2])
    await until_waiting(components, SUPPORT, {THIRD})
    clock.advance(1)
    await asterisk.push(JOINS[0])
    callers = await until_waiting(components, SUPPORT, {FIRST, THIRD})
    assert [c.call_id for c in callers] == [FIRST, THIRD]


async def test_a_leave_for_a_call_never_seen_is_ignored(
    asterisk: FakeAsterisk, following: AmiListener, components: Components
) -> None:
    await asterisk.push(of_call(ABANDONS, SECOND)[0], of_call(LEAVES, SECOND)[0], JOINS[0])
    await until_waiting(components, SUPPORT, {FIRST})
    assert await departures(components) == []


async def test_events_racing_the_queue_status_answer_win_over_it(
    asterisk: FakeAsterisk, listener: AmiListener, components: Components
) -> None:
    """A call that left as Asterisk answered QueueStatus is not added back, and vice versa."""
    await eventually(lambda: listener.link.up)
    await asterisk.push(JOINS[0])
    await until_waiting(components, SUPPORT, {FIRST})
    await asterisk.cut()
    # Caller 2 joins while the link is down: the snapshot will list it...
    asterisk.happen(JOINS[1])
    # ...but its departure, and caller 3's arrival, reach us between the request and the answer,
    # while the answer itself (taken a moment earlier) still has caller 2 and lacks caller 3.
    asterisk.before_queue_status = [
        of_call(ABANDONS, SECOND)[0],
        of_call(LEAVES, SECOND)[0],
        JOINS[2],
    ]
    await asterisk.wait_for_login(2)
    await eventually(lambda: listener.link.up)
    callers = await until_waiting(components, SUPPORT, {FIRST, THIRD})
    assert {c.call_id for c in callers} == {FIRST, THIRD}
    assert await waiting(components, SUPPORT) == callers


# Reconnecting and reconciling ----------------------------------------------------------------


async def test_after_a_drop_mid_packet_the_listener_reconnects_and_reconciles(
    asterisk: FakeAsterisk,
    following: AmiListener,
    components: Components,
    clock: FrozenClock,
) -> None:
    await asterisk.push(JOINS[0], JOINS[1])
    before = await until_waiting(components, SUPPORT, {FIRST, SECOND})
    started = {c.call_id: c.started_at for c in before}
    # The link drops halfway through caller 3's join; Asterisk carries on without us.
    asterisk.happen(JOINS[2])
    await asterisk.cut(partial=JOINS[2][: len(JOINS[2]) // 2])
    asterisk.happen(*of_call(ABANDONS + LEAVES, FIRST))
    asterisk.now += 12
    clock.advance(15)
    await asterisk.wait_for_login(2)
    await eventually(lambda: following.link.up)
    after = await until_waiting(components, SUPPORT, {SECOND, THIRD})
    by_id = {c.call_id: c for c in after}
    # Caller 2 was there all along: it keeps the instant we saw it join.
    assert by_id[SECOND].started_at == started[SECOND]
    # Caller 3 joined while we were away: it started `Wait` (12 s) before now.
    assert by_id[THIRD].started_at == clock.now() - timedelta(seconds=12)
    assert (by_id[THIRD].phone_number, by_id[THIRD].caller_name) == ("4915110000003", "Caller 3")
    # Caller 1 left unseen: answered or not, we cannot know; its outcome is unknown (FAILED).
    assert await departures(components) == [(FIRST, SUPPORT, "lost", 15.0)]


async def test_after_an_asterisk_restart_callers_who_did_not_survive_it_leave(
    asterisk: FakeAsterisk, following: AmiListener, components: Components
) -> None:
    await asterisk.push(*JOINS)
    await until_waiting(components, SUPPORT, {FIRST, SECOND, THIRD})
    await asterisk.restart()
    await eventually(lambda: following.link.status is not LinkStatus.UP)
    await eventually(lambda: following.link.up)
    await until_waiting(components, SUPPORT, set())
    assert sorted(d[0] for d in await departures(components)) == [FIRST, SECOND, THIRD]
    assert asterisk.queue_status_requests() == 2


async def test_a_caller_with_no_caller_id_found_by_queue_status_has_an_empty_number(
    asterisk: FakeAsterisk, listener: AmiListener, components: Components
) -> None:
    asterisk.happen(with_fields(JOINS[0], CallerIDNum="<unknown>", CallerIDName="<unknown>"))
    await eventually(lambda: listener.link.up)
    callers = await until_waiting(components, SUPPORT, {FIRST})
    assert (callers[0].phone_number, callers[0].caller_name) == ("", "")


async def test_callers_of_other_queues_in_kolejka_are_left_alone_by_a_reconcile(
    asterisk: FakeAsterisk, components: Components, listener: AmiListener
) -> None:
    await components.queues.put(Queue(9, "Fed through the ingest API"))
    await components.lists.join(9, "web-1", "613459851")
    await eventually(lambda: listener.link.up)
    assert [c.call_id for c in await waiting(components, 9)] == ["web-1"]


async def test_a_refused_queue_status_is_asked_again_while_health_says_syncing(
    asterisk: FakeAsterisk, components: Components, listener: AmiListener
) -> None:
    asterisk.refuse_queue_status = 1  # app_queue not loaded yet
    asterisk.happen(JOINS[0])
    await eventually(lambda: listener.link.detail == "QueueStatus refused")
    assert listener.link.status is LinkStatus.SYNCING
    await eventually(lambda: listener.link.up)
    await until_waiting(components, SUPPORT, {FIRST})
    assert asterisk.queue_status_requests() == 2


async def test_a_late_fully_booted_makes_the_listener_read_the_queues_again(
    asterisk: FakeAsterisk, components: Components, listener: AmiListener
) -> None:
    asterisk.fully_booted = False  # Asterisk still booting when we log in
    await eventually(lambda: listener.link.up)
    assert asterisk.queue_status_requests() == 1
    asterisk.happen(JOINS[0])
    await asterisk.push(
        packet_of(Event="FullyBooted", Privilege="system,all", Status="Fully Booted")
    )
    await until_waiting(components, SUPPORT, {FIRST})
    assert asterisk.queue_status_requests() == 2


# Faults ---------------------------------------------------------------------------------------


async def test_malformed_unknown_huge_and_non_utf8_packets_are_skipped_and_logged(
    asterisk: FakeAsterisk,
    following: AmiListener,
    components: Components,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    huge = with_fields(JOINS[1], CallerIDName="x" * 200_000)
    await asterisk.send_raw(b"this is not a packet at all\r\n\r\n")
    await asterisk.send_raw(b"Event: SomethingNew\r\nAnswer: 42\r\n\r\n")
    await asterisk.send_raw(huge)
    await asterisk.send_raw(with_fields(JOINS[2], Uniqueid=""))
    await asterisk.send_raw(b"\x00\xff\xfe" * 1000 + b"\r\n\r\n")
    cp1250 = "Zażółć".encode("cp1250")
    await asterisk.push(
        with_fields(JOINS[0], CallerIDName="Zażółć").replace("Zażółć".encode(), cp1250)
    )
    callers = await until_waiting(components, SUPPORT, {FIRST})
    # Only the bytes that are not UTF-8 are lost (replaced); the caller is not.
    assert callers[0].caller_name == cp1250.decode("utf-8", "replace")
    assert callers[0].caller_name.startswith("Za\ufffd")
    assert following.link.up
    logged = caplog.text
    assert "lines without 'Key: Value' ignored" in logged
    assert "packet larger than the limit, skipped" in logged
    assert "skipped AMI event QueueCallerJoin: no Uniqueid" in logged
    assert "not UTF-8" in logged


async def test_an_unmapped_queue_is_ignored_and_named_once_in_the_log(
    asterisk: FakeAsterisk,
    following: AmiListener,
    components: Components,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    sales = [with_fields(raw, Queue="sales") for raw in JOINS]
    await asterisk.push(*sales, JOINS[0])
    await until_waiting(components, SUPPORT, {FIRST})
    assert caplog.text.count("Asterisk queue 'sales' maps to no kolejka queue") == 1
    assert {q.queue_id for q in await components.queues.all()} == {2, SUPPORT}


@pytest.mark.parametrize("callers_wrapper", [FailingOnce], ids=["failing once"])
async def test_when_the_store_fails_the_event_is_logged_and_a_reconcile_heals_the_list(
    asterisk: FakeAsterisk,
    following: AmiListener,
    components: Components,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await asterisk.push(JOINS[0])
    await until_waiting(components, SUPPORT, {FIRST})
    assert "could not apply CallerJoined" in caplog.text
    assert asterisk.queue_status_requests() == 2


async def test_with_asterisk_down_at_start_the_api_answers_and_health_says_so(
    asterisk: FakeAsterisk,
    components: Components,
    app: KolejkaApp,
    personas: dict[str, str],
    clock: FrozenClock,
) -> None:
    await components.queues.put(Queue(SUPPORT, "support"))
    await components.lists.join(SUPPORT, "known-before", "613459851")
    await asterisk.stop()
    assert components.ami is not None
    task = asyncio.create_task(components.ami.run())
    try:
        await eventually(lambda: components.ami is not None and components.ami.link.detail != "")
        health = await call(app, "GET", "/health")
        assert (health.status, health.json()) == (
            200,
            {
                "status": "degraded",
                "pbx": {
                    "state": "down",
                    "since": "2014-08-06T12:30:35Z",
                    "detail": "connection refused",
                },
            },
        )
        listed = await call(
            app, "GET", f"/api/queues/{SUPPORT}/waiting_list", auth=personas["reader"]
        )
        assert [e["phone_number"] for e in listed.json()] == ["613459851"]
        asterisk.happen(JOINS[0])
        await asterisk.start()
        await eventually(lambda: components.ami is not None and components.ami.link.up)
        await until_waiting(components, SUPPORT, {FIRST})
        health = await call(app, "GET", "/health")
        assert health.json() == {
            "status": "ok",
            "pbx": {"state": "up", "since": "2014-08-06T12:30:35Z", "detail": ""},
        }
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_the_listener_keeps_retrying_while_asterisk_is_down(
    asterisk: FakeAsterisk, components: Components, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="kolejka.adapters.ami.listener")
    await asterisk.stop()
    assert components.ami is not None
    task = asyncio.create_task(components.ami.run())
    await asyncio.sleep(1.0)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    delays = [
        float(r.getMessage().rsplit("reconnecting in ", 1)[1].split(" ")[0])
        for r in caplog.records
        if "reconnecting in" in r.getMessage()
    ]
    # Capped at 0.2 s here: half of each delay fixed, half random.
    assert len(delays) >= 3
    assert all(0.1 <= d <= 0.2 for d in delays)


async def test_a_wrong_secret_is_logged_clearly_and_retried_slowly(
    asterisk: FakeAsterisk, components: Components, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    asterisk.secret = "not what kolejka has"
    assert components.ami is not None
    task = asyncio.create_task(components.ami.run())
    try:
        await eventually(lambda: asterisk.refused_logins >= 1)
        await asyncio.sleep(0.4)
        # The auth retry delay (0.6 s here) applies, not the connection backoff (0.2 s).
        assert asterisk.refused_logins == 1
        await eventually(lambda: asterisk.refused_logins >= 2)
        assert components.ami.link.as_wire()["detail"] == "authentication failed"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    refused = [r for r in caplog.records if "refused the AMI login" in r.getMessage()]
    assert refused
    assert refused[0].levelno == logging.ERROR
    assert "user 'kolejka'" in refused[0].getMessage()
    assert "KOLEJKA_AMI_SECRET" in refused[0].getMessage()


async def test_the_secret_is_never_logged(
    asterisk: FakeAsterisk, components: Components, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert components.ami is not None
    task = asyncio.create_task(components.ami.run())
    try:
        await eventually(lambda: components.ami is not None and components.ami.link.up)
        await asterisk.cut()
        await asterisk.wait_for_login(2)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert asterisk.secret not in caplog.text
    assert asterisk.secret not in repr(components.settings)
    assert asterisk.secret not in repr(components.ami.config)


async def test_a_link_that_stops_answering_ping_is_found_dead_and_reconnected(
    asterisk: FakeAsterisk, following: AmiListener
) -> None:
    asterisk.answer_pings = False
    await eventually(lambda: following.link.status is LinkStatus.DOWN, seconds=2)
    assert following.link.detail == "no answer from Asterisk"
    asterisk.answer_pings = True
    await asterisk.wait_for_login(2)
    await eventually(lambda: following.link.up)


async def test_the_login_uses_the_md5_challenge_so_the_secret_never_crosses_the_wire(
    asterisk: FakeAsterisk, following: AmiListener
) -> None:
    challenge, login = asterisk.actions[:2]
    assert challenge == {"Action": "Challenge", "ActionID": "kolejka-1", "AuthType": "MD5"}
    assert (login["AuthType"], login["Key"]) == ("MD5", "***")
    assert "Secret" not in login
    assert login["Events"] == "system,agent"


async def test_a_plain_secret_login_works_too(asterisk: FakeAsterisk, settings: Settings) -> None:
    built = build(dataclasses.replace(settings, ami_auth="plain"), hasher=FAST_HASHER)
    assert built.ami is not None
    task = asyncio.create_task(built.ami.run())
    try:
        await eventually(lambda: built.ami is not None and built.ami.link.up)
        login = next(a for a in asterisk.actions if a.get("Action") == "Login")
        assert "AuthType" not in login
        assert login["Secret"] == "***"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        built.close()


async def test_only_queues_asterisk_lists_are_registered(
    asterisk: FakeAsterisk, components: Components, listener: AmiListener
) -> None:
    asterisk.queues = ["support"]
    await eventually(lambda: listener.link.up)
    assert await components.queues.get(2) is None
