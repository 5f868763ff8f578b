"""Applying PBX events to the waiting lists: bursts in one transaction, failures contained."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest

from kolejka.adapters.sqlite.database import Database
from kolejka.adapters.sqlite.stores import SqliteWaitingCallers
from kolejka.bootstrap import Components
from kolejka.domain.agents import AgentState, MemberAdded, MemberPaused
from kolejka.domain.pbx import CallerAbandoned, CallerJoined, CallerLeft, QueuedCaller
from kolejka.domain.queues import Joined, Queue, WaitingCaller
from kolejka.services.pbx_sync import PbxSync
from kolejka.services.ports import WaitingCallerStore
from tests.ami.helpers import departures, waiting
from tests.factories import member
from tests.support import FrozenClock


class RefusingOne(SqliteWaitingCallers):
    """The SQLite store, unable to store one particular call (say, a corrupt page)."""

    def __init__(self, store: WaitingCallerStore, call_id: str) -> None:
        assert isinstance(store, SqliteWaitingCallers)
        super().__init__(store.db)
        self.call_id = call_id

    async def join(self, caller: WaitingCaller, announce: bool = False) -> Joined:
        if caller.call_id == self.call_id:
            raise sqlite3.DatabaseError("database disk image is malformed")
        return await super().join(caller, announce)


def joined(call_id: str, queue_id: int = 7) -> CallerJoined:
    return CallerJoined(queue_id, "support", call_id, "613459851", "Jan")


@pytest.fixture
def sync(components: Components) -> PbxSync:
    assert isinstance(components.database, Database)
    return PbxSync(
        components.lists,
        components.queues,
        components.callers,
        components.clock,
        transaction=components.database.writing,
    )


async def test_a_burst_of_events_is_applied_in_order(sync: PbxSync, components: Components) -> None:
    failed = await sync.apply(
        [
            joined("a"),
            joined("b"),
            CallerAbandoned(7, "a", timedelta(seconds=4)),
            CallerLeft(7, "a"),
            CallerLeft(7, "b"),
            joined("c"),
        ]
    )
    assert failed == 0
    assert [c.call_id for c in await waiting(components, 7)] == ["c"]
    await components.history.flush()
    assert [d[:3] for d in await departures(components)] == [
        ("a", 7, "abandoned"),
        ("b", 7, "answered"),
    ]


@pytest.mark.parametrize(
    "callers_wrapper", [lambda store: RefusingOne(store, "b")], ids=["refusing b"]
)
async def test_a_failure_inside_a_burst_costs_only_the_event_that_failed(
    sync: PbxSync, components: Components, caplog: pytest.LogCaptureFixture
) -> None:
    failed = await sync.apply([joined("a"), joined("b"), joined("c")])
    assert failed == 1
    assert {c.call_id for c in await waiting(components, 7)} == {"a", "c"}
    assert "could not apply CallerJoined" in caplog.text
    assert "call_id='b'" in caplog.text


@pytest.mark.parametrize(
    "callers_wrapper", [lambda store: RefusingOne(store, "b")], ids=["refusing b"]
)
async def test_a_rolled_back_burst_leaves_nothing_half_done(
    sync: PbxSync, components: Components
) -> None:
    await sync.apply([joined("a"), joined("b")])
    # "a" was written twice over (in the burst, rolled back, then alone): still once.
    assert [c.call_id for c in await waiting(components, 7)] == ["a"]
    assert isinstance(components.database, Database)
    rows = components.database.connection.execute("SELECT count(*) FROM waiting_callers")
    assert rows.fetchone()[0] == 1
    assert not components.database.connection.in_transaction


async def test_a_queue_new_to_kolejka_is_registered_under_the_pbx_name(
    sync: PbxSync, components: Components
) -> None:
    await sync.apply([joined("a", queue_id=12)])
    assert await components.queues.get(12) == Queue(12, "support")


async def test_a_caller_found_in_another_queue_moves_to_the_one_the_pbx_names(
    sync: PbxSync, components: Components
) -> None:
    await sync.apply([joined("a", queue_id=7)])
    await sync.apply([joined("a", queue_id=8)])
    assert [c.call_id for c in await waiting(components, 8)] == ["a"]
    assert await waiting(components, 7) == []


async def test_reconcile_registers_the_pbx_queues_and_makes_the_lists_equal(
    sync: PbxSync, components: Components, clock: FrozenClock
) -> None:
    await components.queues.put(Queue(7, "Obsługa klienta"))
    await sync.apply([joined("gone"), joined("stays")])
    clock.advance(30)
    sync.snapshot_requested()
    plan = await sync.reconcile(
        {7: "support", 8: "sales"},
        [
            QueuedCaller(7, "stays", "613459851", "Jan", timedelta(seconds=30)),
            QueuedCaller(8, "new", "", "", timedelta(seconds=4)),
        ],
    )
    assert [c.call_id for c in plan.departures] == ["gone"]
    assert [c.call_id for c in plan.joins] == ["new"]
    assert await components.queues.get(7) == Queue(7, "Obsługa klienta")
    assert await components.queues.get(8) == Queue(8, "sales")
    new = (await waiting(components, 8))[0]
    assert new.started_at == clock.now() - timedelta(seconds=4)


@pytest.mark.parametrize(
    "callers_wrapper", [lambda store: RefusingOne(store, "b")], ids=["refusing b"]
)
async def test_a_pause_made_in_a_rolled_back_burst_is_made_again(components: Components) -> None:
    assert isinstance(components.database, Database)
    sync = PbxSync(
        components.lists,
        components.queues,
        components.callers,
        components.clock,
        transaction=components.database.writing,
        agents=components.agent_sync,
    )
    paused = MemberPaused(member(paused=True, pause_reason="Nowa przerwa"))
    assert await sync.apply([MemberAdded(member()), paused, joined("b")]) == 1
    status = await components.agents.status("jkowalski")
    assert status is not None
    assert status.state is AgentState.PAUSED
    assert [(p.pause_id, p.name) for p in await components.agents.pauses()] == [
        (status.pause_id, "Nowa przerwa")
    ]
