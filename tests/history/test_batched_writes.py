"""The call history is written a burst at a time (services/history.py): rows are noted as calls
end and written together, in the AMI listener's burst transaction or right after. Real SQLite.

What must hold: a call's row is in the history for every read from the moment the call ended,
an agent's events apply to a row not yet written, a repeat departure changes nothing, a burst
that rolls back takes its rows, a locked store delays the rows and loses none, and a clean stop
writes the last burst."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from kolejka.adapters.sqlite.database import Database
from kolejka.bootstrap import Components, build, create_app
from kolejka.domain.agents import AgentCompleted, AgentConnected, CompletedBy
from kolejka.domain.connections import Connection, ConnectionQuery, DisconnectedBy, Disposition
from kolejka.domain.pbx import CallerAbandoned, CallerJoined, CallerLeft
from kolejka.domain.queues import Outcome, Queue, WaitingCaller, departure
from kolejka.services import history as history_module
from kolejka.services.pbx_sync import PbxSync
from kolejka.settings import Settings
from tests.support import FAST_HASHER, FrozenClock, eventually
from tests.webhooks.helpers import webhook_settings

NUMBER = "613459851"


def stored(database: Path) -> dict[str, tuple[str, int, str, str]]:
    """The rows on disk, read by a connection of the test's own: what a crash would leave."""
    with sqlite3.connect(database) as sql:
        rows = sql.execute(
            "SELECT connection_id, disposition, talk_seconds, user_login, disconnected_by"
            " FROM connections"
        ).fetchall()
    return {row[0]: tuple(row[1:]) for row in rows}


async def rows(components: Components) -> dict[str, Connection]:
    page = await components.history.page(ConnectionQuery())
    return {row.connection_id: row for row in page.rows}


async def waiting(components: Components, *call_ids: str) -> None:
    await components.queues.put(Queue(2, "Obsługa klienta"))
    for call_id in call_ids:
        await components.lists.join(2, call_id, NUMBER)


def database_of(components: Components) -> Database:
    assert isinstance(components.database, Database)
    return components.database


async def test_a_bursts_calls_are_written_after_it_together(
    components: Components, clock: FrozenClock, database_path: Path
) -> None:
    await waiting(components, "c1", "c2", "c3")
    db = database_of(components)
    clock.advance(10)
    async with db.writing():  # one transaction that is not the listener's burst
        await components.lists.leave("c1", Outcome.ANSWERED)
        await components.lists.leave("c2", Outcome.ABANDONED)
        await components.lists.leave("c3", Outcome.ANSWERED)
    assert stored(database_path) == {}  # it committed the departures, not yet the calls
    assert components.history.unwritten == 3
    await components.history.flush()
    assert stored(database_path) == {
        "c1": ("ANSWERED", 0, "", ""),
        "c2": ("NO ANSWER", 0, "", "Customer"),
        "c3": ("ANSWERED", 0, "", ""),
    }
    assert components.history.unwritten == 0


def journalled(database: Path) -> list[tuple[str, int]]:
    """The history's journal on disk (migration 0015), in order: (call id, kind)."""
    with sqlite3.connect(database) as sql:
        return sql.execute(
            "SELECT connection_id, kind FROM connections_journal ORDER BY seq"
        ).fetchall()


@pytest.fixture
def held_journal(monkeypatch: pytest.MonkeyPatch) -> None:
    """The journal is written into the history only when a test makes it (a read, a full
    journal, a stop), never by its half-second timer in the middle of an assertion."""
    monkeypatch.setattr(history_module, "SETTLE_SECONDS", 60.0)


def listener_sync(components: Components, clock: FrozenClock) -> PbxSync:
    """The AMI listener's sync as bootstrap wires it on SQLite: a burst is one transaction."""
    return PbxSync(
        components.lists,
        components.queues,
        components.callers,
        clock,
        transaction=database_of(components).writing,
        history=components.history,
    )


def joins(*call_ids: str) -> list[CallerJoined]:
    return [CallerJoined(2, "support", call_id, NUMBER, "") for call_id in call_ids]


@pytest.mark.usefixtures("held_journal")
async def test_a_listeners_burst_journals_its_calls_in_its_own_commit(
    components: Components,
    clock: FrozenClock,
    database_path: Path,
) -> None:
    db = database_of(components)
    sync = listener_sync(components, clock)
    await sync.apply(
        [
            *joins("c0", "c1", "c2"),
            CallerAbandoned(2, "c0", timedelta(seconds=9)),
            CallerLeft(2, "c0"),
        ]
    )
    statements: list[str] = []
    db.trace(statements.append)
    clock.advance(10)
    failed = await sync.apply([CallerLeft(2, "c1"), CallerLeft(2, "c2")])
    db.trace(None)
    assert failed == 0
    # In the burst's commit, before anything else ran: a crash keeps both or neither.
    assert journalled(database_path) == [("c0", 0), ("c1", 0), ("c2", 0)]
    assert stored(database_path) == {}
    assert components.history.unwritten == 3
    # The burst's two calls in one statement of two rows, into the journal alone.
    (insert,) = [s for s in statements if s.startswith("INSERT INTO connections_journal")]
    assert insert.count("VALUES") == 1
    assert insert.count("?") == 0  # the trace shows the values bound: two rows of them
    assert insert.count("'c1'") == insert.count("'c2'") == 1
    assert not [s for s in statements if s.startswith("INSERT INTO connections ")]
    assert [s for s in statements if s in ("BEGIN IMMEDIATE", "COMMIT")] == [
        "BEGIN IMMEDIATE",
        "COMMIT",
    ]
    # A read writes the journal into the history first, and empties it in the same commit.
    assert set(await rows(components)) == {"c0", "c1", "c2"}
    assert {k: v[0] for k, v in stored(database_path).items()} == {
        "c0": "NO ANSWER",
        "c1": "ANSWERED",
        "c2": "ANSWERED",
    }
    assert journalled(database_path) == []
    assert components.history.unwritten == 0


async def test_the_journal_is_written_into_the_history_soon_without_any_read(
    components: Components,
    clock: FrozenClock,
    database_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(history_module, "SETTLE_SECONDS", 0.05)
    sync = listener_sync(components, clock)
    await sync.apply([*joins("c0", "c1"), CallerLeft(2, "c0"), CallerLeft(2, "c1")])
    assert [call for call, _ in journalled(database_path)] == ["c0", "c1"]
    assert stored(database_path) == {}
    await eventually(lambda: set(stored(database_path)) == {"c0", "c1"}, seconds=2)
    assert journalled(database_path) == []
    assert components.history.unwritten == 0
    # The next burst starts the wait again.
    await sync.apply([*joins("c2"), CallerLeft(2, "c2")])
    assert [call for call, _ in journalled(database_path)] == ["c2"]
    await eventually(lambda: "c2" in stored(database_path), seconds=2)


@pytest.mark.usefixtures("held_journal")
async def test_a_full_journal_is_written_right_after_the_burst_that_filled_it(
    components: Components,
    clock: FrozenClock,
    database_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(history_module, "SETTLE_ROWS", 3)
    sync = listener_sync(components, clock)
    await sync.apply([*joins("c0", "c1", "c2"), CallerLeft(2, "c0"), CallerLeft(2, "c1")])
    await asyncio.sleep(0.05)  # many turns of the loop: the journal is not full yet
    assert len(journalled(database_path)) == 2
    await sync.apply([CallerLeft(2, "c2")])
    await eventually(lambda: set(stored(database_path)) == {"c0", "c1", "c2"}, seconds=2)
    assert journalled(database_path) == []


@pytest.mark.usefixtures("held_journal")
async def test_a_write_outside_a_burst_writes_the_journal_before_it_in_one_commit(
    components: Components,
    clock: FrozenClock,
    database_path: Path,
) -> None:
    """An agent's pick-up noted outside the listener's burst (the ingest API) is written by
    the writer: the departure it completes, still journalled, goes first, or the departure's
    insert would come after the pick-up and leave the row unanswered."""
    sync = listener_sync(components, clock)
    clock.advance(5)
    await sync.apply([*joins("c1"), CallerLeft(2, "c1")])
    assert journalled(database_path) == [("c1", 0)]
    await components.history.agent_event(AgentConnected("anowak", 2, "c1", None, None))
    await eventually(lambda: "c1" in stored(database_path), seconds=2)
    assert stored(database_path)["c1"] == ("ANSWERED", 0, "anowak", "")
    assert journalled(database_path) == []


@pytest.mark.usefixtures("held_journal")
async def test_a_call_whose_row_is_journalled_is_found_for_a_callback_at_once(
    components: Components,
    clock: FrozenClock,
    database_path: Path,
) -> None:
    """The IVR asks for a callback the moment its key took the caller out of the queue: the
    call's row may still be in the journal, and is found there."""
    sync = listener_sync(components, clock)
    await sync.apply([*joins("c1"), CallerAbandoned(2, "c1", timedelta(seconds=3))])
    await sync.apply([CallerLeft(2, "c1")])
    assert journalled(database_path) == [("c1", 0)]
    callback = await components.callbacks.schedule_for_caller(2, "c1")
    assert callback.phone_number == "+48613459851"
    assert stored(database_path) == {}  # found without writing the journal first


def recorded_events(database: Path) -> list[str]:
    """The call ids of the CALL_RECORDED events in the outbox, in order."""
    with sqlite3.connect(database) as sql:
        bodies = sql.execute(
            "SELECT body FROM webhook_events WHERE action = 'CALL_RECORDED' ORDER BY event_id"
        ).fetchall()
    return [json.loads(body)["connection_id"] for (body,) in bodies]


@pytest.mark.usefixtures("held_journal")
async def test_what_a_crash_left_in_the_journal_is_written_once_when_the_service_starts(
    clock: FrozenClock, database_path: Path
) -> None:
    """Written into the history, and announced to a CALL_RECORDED subscription, once: the
    journal had not announced them (its rows are announced as they enter the history)."""
    settings = webhook_settings(database_path)
    crashed = build(settings, clock=clock, hasher=FAST_HASHER)
    assert crashed.webhooks is not None
    await crashed.webhooks.register(
        {"actions": ["CALL_RECORDED"], "subscription_url": "http://127.0.0.1:9/hook"}
    )
    sync = listener_sync(crashed, clock)
    clock.advance(4)
    await sync.apply([*joins("c0", "c1"), CallerLeft(2, "c0")])
    await crashed.history.agent_event(AgentConnected("anowak", 2, "c0", None, None))
    await sync.apply([CallerAbandoned(2, "c1", timedelta(seconds=4)), CallerLeft(2, "c1")])
    # The departures, and the pick-up (noted before the second burst, which journalled it).
    assert journalled(database_path) == [("c0", 0), ("c0", 1), ("c1", 0)]
    assert stored(database_path) == {}
    assert recorded_events(database_path) == []
    crashed.database.close()  # no stop of any kind: what is on disk is what a crash leaves

    for _ in range(2):  # started again, twice: the second finds nothing left to write
        restarted = build(settings, clock=clock, hasher=FAST_HASHER)
        try:
            pruning = asyncio.create_task(restarted.history.prune_forever())
            try:
                await eventually(lambda: journalled(database_path) == [], seconds=2)
                await restarted.history.flush()
            finally:
                pruning.cancel()
        finally:
            restarted.close()
        assert stored(database_path) == {
            "c0": ("ANSWERED", 0, "anowak", ""),
            "c1": ("NO ANSWER", 0, "", "Customer"),
        }
        assert recorded_events(database_path) == ["c0", "c1"]


async def test_the_writer_runs_by_itself_once_the_burst_gives_the_loop_back(
    components: Components, database_path: Path
) -> None:
    await waiting(components, "c1")
    await components.lists.leave("c1", Outcome.ABANDONED)
    for _ in range(200):
        if stored(database_path):
            break
        await asyncio.sleep(0.01)
    assert set(stored(database_path)) == {"c1"}


async def test_every_read_of_the_history_sees_a_call_the_moment_it_ended(
    components: Components,
) -> None:
    await waiting(components, "c1", "c2")
    await components.lists.leave("c1", Outcome.ABANDONED)
    assert set(await rows(components)) == {"c1"}
    await components.lists.leave("c2", Outcome.ANSWERED)
    assert (await components.history.connection("c2")).disposition is Disposition.ANSWERED


async def test_an_agents_pick_up_and_hang_up_apply_in_order_to_a_row_not_yet_written(
    components: Components, clock: FrozenClock, database_path: Path
) -> None:
    await waiting(components, "c1")
    clock.advance(7)
    async with database_of(components).writing():
        await components.lists.leave("c1", Outcome.ANSWERED)
        await components.history.agent_event(
            AgentConnected("jkowalski", 2, "c1", timedelta(seconds=4), timedelta(seconds=2))
        )
        clock.advance(60)
        await components.history.agent_event(
            AgentCompleted(
                "jkowalski", 2, "c1", timedelta(seconds=4), timedelta(seconds=60), CompletedBy.AGENT
            )
        )
    assert stored(database_path) == {}
    assert components.history.unwritten == 3
    await components.history.flush()
    assert stored(database_path) == {"c1": ("ANSWERED", 60, "jkowalski", "Agent")}
    row = (await rows(components))["c1"]
    assert (row.duration, row.billsec) == (64, 60)  # AgentConnect's hold time won over 7 s


async def test_a_pick_up_after_the_row_was_written_reads_it_back(
    components: Components, database_path: Path
) -> None:
    await waiting(components, "c1")
    await components.lists.leave("c1", Outcome.ANSWERED)
    await components.history.flush()
    await components.history.agent_event(AgentConnected("anowak", 2, "c1", None, None))
    await components.history.flush()
    assert stored(database_path)["c1"] == ("ANSWERED", 0, "anowak", "")


def caller(call_id: str, clock: FrozenClock) -> WaitingCaller:
    return WaitingCaller(call_id, 2, NUMBER, "", clock.now())


async def test_a_repeat_departure_changes_nothing_and_only_a_failed_row_gives_way(
    components: Components, clock: FrozenClock, database_path: Path
) -> None:
    history = components.history
    one, two, three = (caller(call_id, clock) for call_id in ("one", "two", "three"))
    clock.advance(5)
    now = clock.now()
    # In one batch: the first departure stays; a FAILED one gives way to the outcome.
    history.departed(one, departure(one, Outcome.ABANDONED, now), outcome_known=True)
    history.departed(one, departure(one, Outcome.ANSWERED, now), outcome_known=True)
    history.departed(two, departure(two, Outcome.ABANDONED, now), outcome_known=False)
    history.departed(two, departure(two, Outcome.ANSWERED, now), outcome_known=True)
    history.departed(three, departure(three, Outcome.ABANDONED, now), outcome_known=False)
    await history.flush()
    assert {k: v[0] for k, v in stored(database_path).items()} == {
        "one": "NO ANSWER",
        "two": "ANSWERED",
        "three": "FAILED",
    }
    # Across batches, the same.
    history.departed(one, departure(one, Outcome.ANSWERED, now), outcome_known=True)
    history.departed(three, departure(three, Outcome.ANSWERED, now), outcome_known=True)
    await history.flush()
    assert {k: v[0] for k, v in stored(database_path).items()} == {
        "one": "NO ANSWER",
        "two": "ANSWERED",
        "three": "ANSWERED",
    }


async def test_an_agents_event_reads_through_a_repeat_departure_not_yet_written(
    components: Components, clock: FrozenClock
) -> None:
    history = components.history
    one = caller("one", clock)
    clock.advance(5)
    history.departed(one, departure(one, Outcome.ANSWERED, clock.now()), outcome_known=True)
    await history.flush()
    later = departure(one, Outcome.ABANDONED, clock.now() + timedelta(seconds=30))
    history.departed(one, later, outcome_known=True)  # a repeat: no effect
    await history.agent_event(AgentConnected("anowak", 2, "one", None, None))
    await history.flush()
    row = (await rows(components))["one"]
    assert (row.disposition, row.user_login, row.duration) == (Disposition.ANSWERED, "anowak", 5)


async def test_a_burst_that_rolls_back_takes_its_calls_with_it(
    components: Components, database_path: Path
) -> None:
    await waiting(components, "c1", "c2")
    await components.lists.leave("c1", Outcome.ANSWERED)
    mark = components.history.mark()

    async def failing_burst() -> None:
        async with database_of(components).writing():
            await components.lists.leave("c2", Outcome.ANSWERED)
            raise RuntimeError("the burst failed")

    with pytest.raises(RuntimeError):
        await failing_burst()
    components.history.forget_since(mark)
    assert components.history.unwritten == 1
    await components.history.flush()
    assert set(stored(database_path)) == {"c1"}
    assert [c.call_id for _, c in await components.callers.waiting(2)] == ["c2"]


async def test_a_store_locked_by_another_process_delays_the_calls_and_loses_none(
    components: Components, database_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history_module, "RETRY_SECONDS", 0.05)
    await waiting(components, "c1")
    db = database_of(components)
    db.lock_wait_seconds = 0.05
    await components.lists.leave("c1", Outcome.ABANDONED)
    importer = sqlite3.connect(database_path, isolation_level=None)
    importer.execute("BEGIN IMMEDIATE")  # another process (an import) holds the write lock
    try:
        await asyncio.sleep(0.3)  # the writer meets the lock, and tries again
        assert stored(database_path) == {}
        assert components.history.unwritten == 1
    finally:
        importer.rollback()
        importer.close()
    await asyncio.wait_for(components.history.flush(), 5)
    assert set(stored(database_path)) == {"c1"}


async def test_a_clean_stop_of_the_server_writes_the_last_burst(
    settings: Settings, clock: FrozenClock, database_path: Path
) -> None:
    components = build(settings, clock=clock, hasher=FAST_HASHER)
    app = create_app(components)
    messages: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    sent: list[str] = []

    async def receive() -> dict[str, str]:
        return await messages.get()

    async def send(message: dict[str, str]) -> None:
        sent.append(message["type"])

    lifespan = asyncio.create_task(app({"type": "lifespan"}, receive, send))  # type: ignore[arg-type]
    await messages.put({"type": "lifespan.startup"})
    while "lifespan.startup.complete" not in sent:
        await asyncio.sleep(0.001)
    await waiting(components, "c1")
    async with database_of(components).writing():
        await components.lists.leave("c1", Outcome.ANSWERED)
        await messages.put({"type": "lifespan.shutdown"})  # the stop comes mid-burst
    await lifespan
    assert sent[-1] == "lifespan.shutdown.complete"
    assert set(stored(database_path)) == {"c1"}
    components.close()


async def test_closing_the_components_writes_what_is_left(
    settings: Settings, clock: FrozenClock, database_path: Path
) -> None:
    components = build(settings, clock=clock, hasher=FAST_HASHER)
    await waiting(components, "c1")
    async with database_of(components).writing():
        await components.lists.leave("c1", Outcome.ABANDONED)
    await components.aclose()
    components.close()
    assert stored(database_path) == {"c1": ("NO ANSWER", 0, "", DisconnectedBy.CUSTOMER.value)}


async def test_a_stop_waits_a_bounded_time_for_a_store_that_does_not_answer_and_names_the_calls(
    settings: Settings,
    clock: FrozenClock,
    database_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A stop while the database does not take writes (down, or locked) ends after a bounded
    wait instead of hanging until a service manager kills it, and logs which calls are lost."""
    monkeypatch.setattr(history_module, "RETRY_SECONDS", 0.05)
    components = build(settings, clock=clock, hasher=FAST_HASHER)
    await waiting(components, "c1", "c2")
    database_of(components).lock_wait_seconds = 0.05
    await components.lists.leave("c2", Outcome.ABANDONED)
    await components.lists.leave("c1", Outcome.ANSWERED)
    # Before the writer's first turn: the store takes no write while the stop waits.
    importer = sqlite3.connect(database_path, isolation_level=None)
    importer.execute("BEGIN IMMEDIATE")
    try:
        assert components.history.unwritten == 2
        started = asyncio.get_running_loop().time()
        async with asyncio.timeout(5):
            await components.aclose(history_wait=0.3)
        assert asyncio.get_running_loop().time() - started < 2
    finally:
        importer.rollback()
        importer.close()
    lost = [r for r in caplog.records if "without writing 2 calls" in r.getMessage()]
    assert lost, caplog.text
    assert lost[0].levelname == "ERROR"
    assert "c1, c2" in lost[0].getMessage()
    assert stored(database_path) == {}


@pytest.mark.usefixtures("held_journal")
async def test_a_clean_stop_writes_what_the_journal_holds(
    settings: Settings, clock: FrozenClock, database_path: Path
) -> None:
    components = build(settings, clock=clock, hasher=FAST_HASHER)
    await listener_sync(components, clock).apply([*joins("c1"), CallerLeft(2, "c1")])
    assert journalled(database_path) == [("c1", 0)]
    await components.aclose()
    assert set(stored(database_path)) == {"c1"}
    assert journalled(database_path) == []
