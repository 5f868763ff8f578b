"""On SQLite the outbox's rows written on the service's own connection are held to the commit of
their transaction and written then, as statements of many rows (`Database.hold`). Real SQLite.

What must hold: the events are numbered in the order of the changes that made them, whatever
wrote them (a join, a departure, another store's event); a write or a read of the outbox inside
the transaction comes after the held rows; a transaction that rolls back keeps none of them and
leaves none for the next; a burst larger than one statement is whole; outside a transaction of
`writing` an event is written at once."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from kolejka.adapters.sqlite.database import Database, atomic
from kolejka.adapters.sqlite.webhooks import write_events
from kolejka.bootstrap import Components, build
from kolejka.domain.queues import Outcome, Queue
from kolejka.domain.webhooks import Action, NewEvent
from tests.support import FAST_HASHER, FrozenClock
from tests.webhooks.helpers import webhook_settings

NUMBER = "613459851"


@pytest.fixture
async def hooked(clock: FrozenClock, database_path: Path) -> AsyncIterator[Components]:
    built = build(webhook_settings(database_path), clock=clock, hasher=FAST_HASHER)
    assert built.webhooks is not None
    await built.webhooks.register(
        {"actions": [a.value for a in Action], "subscription_url": "http://127.0.0.1:9/hook"}
    )
    await built.queues.put(Queue(2, "Obsługa klienta"))
    yield built
    built.close()


def database_of(components: Components) -> Database:
    assert isinstance(components.database, Database)
    return components.database


def outbox(database: Path) -> list[tuple[str, str | None]]:
    """The outbox on disk, read by a connection of the test's own: (action, call id), in the
    order of the events' ids."""
    with sqlite3.connect(database) as sql:
        rows = sql.execute(
            "SELECT action, coalesce(call_id, body) FROM webhook_events ORDER BY event_id"
        ).fetchall()
    return [(action, key) for action, key in rows]


def deleted(customer_id: int) -> NewEvent:
    return NewEvent(
        Action.CUSTOMER_DELETED,
        FrozenClock().now(),
        {"customer_id": customer_id, "company_id": ""},
    )


async def test_a_transactions_events_are_written_at_its_commit_in_the_order_of_the_changes(
    hooked: Components, database_path: Path
) -> None:
    db = database_of(hooked)
    store = hooked.webhooks.store if hooked.webhooks else None
    assert store is not None
    statements: list[str] = []
    db.trace(statements.append)
    async with db.writing():
        await hooked.lists.join(2, "c1", NUMBER)
        await hooked.lists.join(2, "c2", NUMBER)
        await hooked.lists.leave("c1", Outcome.ABANDONED)
        assert not [s for s in statements if "INTO webhook_events" in s]  # held
        # Another store's event, written at once: after the held ones, which it writes first.
        await store.append([deleted(7)])
        await hooked.lists.join(2, "c3", NUMBER)
        # A read inside the transaction sees every event so far, the held one too.
        assert [e.action for e in await store.following(0, ["CALLER_JOINED"], 10)] == [
            "CALLER_JOINED"
        ] * 3
        await hooked.lists.leave("c2", Outcome.ANSWERED)
    db.trace(None)
    assert outbox(database_path) == [
        ("CALLER_JOINED", "c1"),
        ("CALLER_JOINED", "c2"),
        ("CALLER_LEFT", "c1"),
        ("CUSTOMER_DELETED", '{"customer_id":7,"company_id":""}'),
        ("CALLER_JOINED", "c3"),
        ("CALLER_LEFT", "c2"),
    ]
    inserts = [s for s in statements if s.startswith("INSERT INTO webhook_events")]
    # The three held rows by statement, each numbered (the joins, then the departure); the
    # store's own; c3's alone (the read wrote it); c2's departure at the commit.
    assert [s.count("), (") + 1 for s in inserts] == [2, 1, 1, 1, 1]


async def test_a_transaction_that_rolls_back_keeps_none_of_its_events_nor_leaves_them_held(
    hooked: Components, database_path: Path
) -> None:
    db = database_of(hooked)

    async def failing_burst() -> None:
        async with db.writing():
            await hooked.lists.join(2, "c1", NUMBER)
            raise RuntimeError("the burst failed")

    with pytest.raises(RuntimeError):
        await failing_burst()
    async with db.writing():
        await hooked.lists.join(2, "c2", NUMBER)
    assert outbox(database_path) == [("CALLER_JOINED", "c2")]
    assert [c.call_id for _, c in await hooked.callers.waiting(2)] == ["c2"]


async def test_a_burst_of_more_events_than_one_statement_holds_is_stored_whole_in_order(
    hooked: Components, clock: FrozenClock, database_path: Path
) -> None:
    db = database_of(hooked)
    call_ids = [f"c{n:03}" for n in range(150)]
    async with db.writing():
        for call_id in call_ids:
            await hooked.lists.join(2, call_id, NUMBER)
        clock.advance(3)
        for call_id in call_ids[:53]:
            await hooked.lists.leave(call_id, Outcome.ANSWERED)
    expected = [("CALLER_JOINED", c) for c in call_ids] + [
        ("CALLER_LEFT", c) for c in call_ids[:53]
    ]
    assert outbox(database_path) == expected
    events = await hooked.webhooks.store.following(0, ["CALLER_LEFT"], 100)  # type: ignore[union-attr]
    assert {e.fields["waited"] for e in events} == {3}
    assert [e.event_id for e in events] == list(range(151, 204))


async def test_an_event_outside_a_transaction_of_writing_is_written_at_once(
    hooked: Components, database_path: Path
) -> None:
    db = database_of(hooked)
    with atomic(db.connection):  # a transaction of a command's own, as the CLI opens
        write_events(db, [deleted(1)])
        count = db.connection.execute("SELECT count(*) FROM webhook_events").fetchone()[0]
        assert count == 1
    assert outbox(database_path) == [("CUSTOMER_DELETED", '{"customer_id":1,"company_id":""}')]
    write_events(db, [deleted(2)])  # no transaction at all: SQLite's own, committed
    assert len(outbox(database_path)) == 2


async def test_a_departure_moments_after_the_join_carries_the_same_instants(
    hooked: Components, clock: FrozenClock
) -> None:
    db = database_of(hooked)
    async with db.writing():
        await hooked.lists.join(2, "c1", NUMBER)
        clock.advance(timedelta(seconds=12, microseconds=5).total_seconds())
        await hooked.lists.leave("c1", Outcome.ABANDONED)
    store = hooked.webhooks.store  # type: ignore[union-attr]
    joined, left = await store.following(0, ["CALLER_JOINED", "CALLER_LEFT"], 10)
    assert joined.fields["started_at"] == left.fields["started_at"] == joined.occurred_at
    assert left.occurred_at - joined.occurred_at == timedelta(seconds=12, microseconds=5)
    assert left.fields["waited"] == 12
    assert left.fields["outcome"] == "abandoned"
