"""ports.ConnectionStore (the call history), on every database engine."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from kolejka.adapters.sql import connections as history_sql
from kolejka.domain.connections import (
    COUNT_CAP,
    Connection,
    ConnectionQuery,
    Direction,
    DisconnectedBy,
    Disposition,
)
from kolejka.domain.webhooks import Action, NewEvent
from kolejka.services.ports import HistoryWrite
from tests.contract.stores import SqlStores

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def call(
    connection_id: str,
    minute: int = 0,
    queue_id: int = 2,
    src_key: str = "+48601100200",
    disposition: Disposition = Disposition.ANSWERED,
    **changes: object,
) -> Connection:
    row = Connection(
        connection_id=connection_id,
        queue_id=queue_id,
        src=src_key.removeprefix("+48"),
        src_key=src_key,
        started_at=T0 + timedelta(minutes=minute),
        disposition=disposition,
        wait=timedelta(seconds=12),
        talk=timedelta(seconds=30) if disposition is Disposition.ANSWERED else timedelta(0),
    )
    return replace(row, **changes)  # type: ignore[arg-type]


async def ids(sql: SqlStores, **filters: object) -> list[str]:
    page = await sql.connections.page(ConnectionQuery(**filters))  # type: ignore[arg-type]
    return [row.connection_id for row in page.rows]


async def test_a_recorded_call_reads_back_whole(sql: SqlStores) -> None:
    row = call(
        "1416225570.341",
        user_login="jkowalski",
        disconnected_by=DisconnectedBy.CUSTOMER,
        transferred_to="anowak",
        dst="225000000",
    )
    assert await sql.connections.record(row) is True
    assert await sql.connections.get("1416225570.341") == row
    assert await sql.connections.get("nope") is None


async def test_a_second_record_of_a_call_changes_nothing(sql: SqlStores) -> None:
    await sql.connections.record(call("c1", disposition=Disposition.NO_ANSWER))
    assert await sql.connections.record(call("c1", minute=5)) is False
    stored = await sql.connections.get("c1")
    assert stored is not None
    assert stored.disposition is Disposition.NO_ANSWER
    assert (await sql.connections.page(ConnectionQuery())).count == 1


async def test_a_failed_record_gives_way_to_the_calls_later_departure(sql: SqlStores) -> None:
    await sql.connections.record(call("c1", disposition=Disposition.FAILED))
    assert await sql.connections.record(call("c1", queue_id=3)) is True
    stored = await sql.connections.get("c1")
    assert stored is not None
    assert (stored.disposition, stored.queue_id) == (Disposition.ANSWERED, 3)


async def test_save_replaces_the_row_of_its_call(sql: SqlStores) -> None:
    await sql.connections.record(call("c1", talk=timedelta(0)))
    done = call("c1", talk=timedelta(seconds=95), user_login="jkowalski")
    await sql.connections.save(done)
    await sql.connections.save(done)
    assert await sql.connections.get("c1") == done
    assert (await sql.connections.page(ConnectionQuery())).count == 1


def announced(connection_id: str) -> tuple[NewEvent, ...]:
    return (NewEvent(Action.CALL_RECORDED, T0, {"connection_id": connection_id}),)


async def test_a_batch_of_writes_applies_in_order_with_records_and_saves_as_alone(
    sql: SqlStores,
) -> None:
    await sql.connections.record(call("kept", disposition=Disposition.NO_ANSWER))
    await sql.connections.record(call("lost", disposition=Disposition.FAILED))
    done = call("b", talk=timedelta(seconds=95), user_login="jkowalski")
    await sql.connections.write(
        [
            HistoryWrite(call("a", 1)),
            HistoryWrite(call("b", 2, talk=timedelta(0))),
            HistoryWrite(call("c", 3)),
            HistoryWrite(call("kept", 4)),  # a repeat: nothing changes
            HistoryWrite(call("lost", 5)),  # a FAILED row gives way
            HistoryWrite(done, whole=True),
            HistoryWrite(call("a", 9, disposition=Disposition.NO_ANSWER)),  # a repeat again
        ]
    )
    assert sorted(await ids(sql)) == ["a", "b", "c", "kept", "lost"]
    assert await sql.connections.get("b") == done
    dispositions = {}
    for connection_id in ("kept", "lost", "a"):
        row = await sql.connections.get(connection_id)
        assert row is not None
        dispositions[connection_id] = row.disposition
    assert dispositions == {
        "kept": Disposition.NO_ANSWER,
        "lost": Disposition.ANSWERED,
        "a": Disposition.ANSWERED,
    }
    await sql.connections.write([])


async def test_a_long_batch_applies_in_order_across_the_statements_that_write_it(
    sql: SqlStores,
) -> None:
    """A burst's departures are written as statements of many rows each (64, 32, ...): a repeat
    or a FAILED row's later departure meets its first write whether they share a statement or
    not, exactly as when each row is written alone."""

    def departure(
        connection_id: str,
        minute: int,
        queue_id: int = 2,
        disposition: Disposition = Disposition.ANSWERED,
    ) -> HistoryWrite:
        # No talk yet, as a departure's row is: every write below is one statement's row.
        row = call(connection_id, minute, queue_id, disposition=disposition, talk=timedelta(0))
        return HistoryWrite(row)

    writes = [departure(f"c{n}", n % 50, disposition=Disposition.NO_ANSWER) for n in range(96)]
    writes.insert(0, departure("f", 0, disposition=Disposition.FAILED))
    writes[70:70] = [  # rows 70-72, in the statement of rows 64-95:
        departure("g", 0, disposition=Disposition.FAILED),
        departure("c66", 7),  # a repeat, ignored
        departure("g", 8, queue_id=3),  # the FAILED row's departure, taken
    ]
    writes += [departure("f", 9, queue_id=3), departure("c1", 9)]
    assert len(writes) == 102  # 64 + 32 + 4 + 2 rows
    assert len(history_sql.statements(writes, numbered=False)) == 1
    await sql.connections.write(writes)
    assert (await sql.connections.page(ConnectionQuery())).count == 98
    for connection_id, disposition, queue_id in (
        ("f", Disposition.ANSWERED, 3),
        ("g", Disposition.ANSWERED, 3),
        ("c66", Disposition.NO_ANSWER, 2),
        ("c1", Disposition.NO_ANSWER, 2),
        ("c95", Disposition.NO_ANSWER, 2),
    ):
        row = await sql.connections.get(connection_id)
        assert row is not None
        assert (row.disposition, row.queue_id) == (disposition, queue_id), connection_id


async def test_a_batchs_events_enter_the_outbox_only_with_a_stored_row(sql: SqlStores) -> None:
    await sql.connections.record(call("kept", disposition=Disposition.NO_ANSWER))
    await sql.connections.write(
        [
            HistoryWrite(call("new"), events=announced("new")),
            HistoryWrite(call("kept"), events=announced("kept")),  # a repeat: no event
            HistoryWrite(call("new", talk=timedelta(seconds=9)), True, announced("new-again")),
        ]
    )
    events = await sql.webhooks.following(0, [Action.CALL_RECORDED.value], 10)
    assert [e.fields["connection_id"] for e in events] == ["new", "new-again"]


async def test_pages_are_newest_first_with_ties_by_connection_id(sql: SqlStores) -> None:
    for row in [call("a.1", 1), call("a.3", 2), call("a.2", 2), call("a.0", 0)]:
        await sql.connections.record(row)
    assert await ids(sql) == ["a.3", "a.2", "a.1", "a.0"]
    assert await ids(sql, limit=2, offset=1) == ["a.2", "a.1"]
    assert (await sql.connections.page(ConnectionQuery(limit=2, offset=1))).count == 4


async def test_each_filter_narrows_the_rows(sql: SqlStores) -> None:
    await sql.connections.record(call("q2", 1))
    await sql.connections.record(call("q3", 2, queue_id=3))
    await sql.connections.record(call("other", 3, src_key="+48500600700"))
    await sql.connections.record(call("agent", 4, user_login="jkowalski"))
    await sql.connections.record(call("dst", 5, dst="225000000"))
    assert await ids(sql, queue_id=3) == ["q3"]
    assert await ids(sql, src_keys=("+48500600700",)) == ["other"]
    assert await ids(sql, src_keys=("+48500600700", "+48601100200")) == [
        "dst",
        "agent",
        "other",
        "q3",
        "q2",
    ]
    assert await ids(sql, user_login="jkowalski") == ["agent"]
    assert await ids(sql, dst_keys=("225000000",)) == ["dst"]
    assert await ids(sql, dst_keys=("+48225000000", "225000000")) == ["dst"]
    assert await ids(sql, connection_id="q3") == ["q3"]
    assert await ids(sql, date_from=T0 + timedelta(minutes=2)) == ["dst", "agent", "other", "q3"]
    assert await ids(sql, date_to=T0 + timedelta(minutes=2)) == ["q3", "q2"]
    assert await ids(sql, queue_id=2, date_from=T0 + timedelta(minutes=2)) == [
        "dst",
        "agent",
        "other",
    ]


async def test_empty_values_never_match_a_filter(sql: SqlStores) -> None:
    await sql.connections.record(call("c1", src_key=""))
    assert await ids(sql, src_keys=("",)) == []
    assert await ids(sql, user_login="") == []
    assert await ids(sql, dst_keys=("",)) == []
    assert await ids(sql, customer_keys=("",)) == []
    assert await ids(sql, customer_keys=()) == []


async def test_a_customer_filter_finds_calls_from_and_callbacks_to_its_numbers(
    sql: SqlStores,
) -> None:
    await sql.connections.record(call("from", 1))
    await sql.connections.record(call("stranger", 2, src_key="+48500600700"))
    callback = call("to", 3, src_key="", src="", dst="+48601100200")
    await sql.connections.record(replace(callback, direction=Direction.OUTBOUND))
    # an inbound call whose dst happens to be the number is not a call to the customer
    await sql.connections.record(call("inbound-dst", 4, src_key="+48500600700", dst="+48601100200"))
    assert await ids(sql, customer_keys=("+48601100200",)) == ["to", "from"]
    assert await ids(sql, customer_keys=("+48601100200",), queue_id=3) == []
    assert await ids(sql, customer_keys=("+48500600700", "+48601100200")) == [
        "inbound-dst",
        "to",
        "stranger",
        "from",
    ]


async def test_topics_tags_and_empty_number_lists_match_nothing(sql: SqlStores) -> None:
    await sql.connections.record(call("c1"))
    for filters in ({"topic_id": 1}, {"tags": ("vip",)}, {"src_keys": ()}):
        page = await sql.connections.page(ConnectionQuery(**filters))
        assert (page.count, list(page.rows)) == (0, [])


async def test_count_stops_at_the_cap_past_the_page(sql: SqlStores) -> None:
    rows = [call(f"c{index:05d}", index) for index in range(COUNT_CAP + 3)]
    for row in rows:
        await sql.connections.record(row)
    page = await sql.connections.page(ConnectionQuery(limit=1))
    assert page.count == COUNT_CAP + 1
    page = await sql.connections.page(ConnectionQuery(limit=1, queue_id=2, offset=2))
    assert page.count == COUNT_CAP + 3


async def test_prune_deletes_the_oldest_rows_in_batches(sql: SqlStores) -> None:
    for minute in range(5):
        await sql.connections.record(call(f"c{minute}", minute))
    cutoff = T0 + timedelta(minutes=3)
    assert await sql.connections.prune(cutoff, 2) == 2
    assert await sql.connections.prune(cutoff, 2) == 1
    assert await sql.connections.prune(cutoff, 2) == 0
    assert await ids(sql) == ["c4", "c3"]


async def test_a_departures_row_written_with_fewer_columns_reads_back_whole(
    sql: SqlStores,
) -> None:
    """A departure (inbound, no talk, agent, dst or transfer yet) is written with only the
    columns it fills; the rest are the defaults it says, also where it replaces a FAILED row
    that had more."""
    left = call(
        "left", 1, disposition=Disposition.NO_ANSWER, disconnected_by=DisconnectedBy.CUSTOMER
    )
    await sql.connections.record(
        call("gap", 2, disposition=Disposition.FAILED, user_login="jkowalski", dst="225000000")
    )
    answered = call("gap", 3, queue_id=3, talk=timedelta(0))
    await sql.connections.write([HistoryWrite(left), HistoryWrite(answered)])
    assert await sql.connections.get("left") == left
    assert await sql.connections.get("gap") == answered


async def test_answered_waits_are_a_queues_answered_inbound_calls_newest_first(
    sql: SqlStores,
) -> None:
    """The wait estimate's sample: answered, inbound, this queue, joined at or after `since`;
    abandoned, failed, outbound and other queues' calls are not in it."""
    for minute, wait in enumerate([10, 20, 30, 40]):
        await sql.connections.record(call(f"a{minute}", minute, wait=timedelta(seconds=wait)))
    others = [
        call("abandoned", 5, disposition=Disposition.NO_ANSWER),
        call("lost", 6, disposition=Disposition.FAILED),
        call("callback", 7, direction=Direction.OUTBOUND),
        call("elsewhere", 8, queue_id=3, wait=timedelta(seconds=99)),
    ]
    for row in others:
        await sql.connections.record(row)
    since = T0 + timedelta(minutes=1)
    seconds = [timedelta(seconds=s) for s in (40, 30, 20)]
    assert await sql.connections.answered_waits(2, since, 2) == seconds[:2]
    assert await sql.connections.answered_waits(2, since, 20) == seconds
    assert await sql.connections.answered_waits(3, since, 20) == [timedelta(seconds=99)]
    assert await sql.connections.answered_waits(4, since, 20) == []
    later = T0 + timedelta(minutes=9)
    assert await sql.connections.answered_waits(2, later, 20) == []


async def test_an_answered_waits_talk_and_agent_leave_its_wait_as_it_was(sql: SqlStores) -> None:
    """A departure's row, saved whole once the agent's talk ends, keeps its wait in the sample."""
    row = call("c1", wait=timedelta(seconds=12), talk=timedelta(0))
    await sql.connections.record(row)
    await sql.connections.save(replace(row, talk=timedelta(seconds=95), user_login="jkowalski"))
    assert await sql.connections.answered_waits(2, T0, 20) == [timedelta(seconds=12)]
