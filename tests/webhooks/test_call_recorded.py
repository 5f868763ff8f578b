"""CALL_RECORDED: a call written to the history, delivered to a real receiver on 127.0.0.1 (real
SQLite): once when its row is first written, again when the agent's talk ends, never for a
repeat; written with the row, and not at all when nobody subscribes."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

from kolejka.bootstrap import Components
from kolejka.domain.agents import AgentCompleted, AgentConnected, CompletedBy, NewAgent
from kolejka.domain.queues import Departure, Outcome, Queue, WaitingCaller, departure
from tests.factories import add_person
from tests.support import eventually
from tests.webhooks.receiver import Receiver, signed_correctly

ROW_KEYS = [
    "action",
    "connection_id",
    "src",
    "dst",
    "type",
    "disposition",
    "duration",
    "billsec",
    "user",
    "user_login",
    "queue_id",
    "customer_id",
    "disconnected_by",
    "transferred_to",
    "recorded_at",
    "date",
    "event_id",
]


def outbox_actions(database: Path) -> list[str]:
    with sqlite3.connect(database) as sql:
        return [row[0] for row in sql.execute("SELECT action FROM webhook_events ORDER BY 1")]


async def test_each_recorded_call_is_announced_with_its_row_and_again_when_the_talk_ends(
    delivering: Components, receiver: Receiver, database_path: Path
) -> None:
    components = delivering
    assert components.webhooks is not None
    _, secret = await components.webhooks.register(
        {"actions": ["CALL_RECORDED"], "subscription_url": receiver.url}
    )
    await components.queues.put(Queue(2, "Obsługa klienta"))
    jan = await add_person(components.crm, "Jan", "Kowalski", "+48 746 842 523")
    await components.agents.add(NewAgent("jkowalski", "Janina", "Kowalska"))
    await components.lists.join(2, "call-1", "746842523")
    await components.lists.join(2, "call-2", "613459851")
    await components.lists.leave("call-1", Outcome.ANSWERED)
    await components.history.agent_event(
        AgentConnected("jkowalski", 2, "call-1", timedelta(seconds=4), None)
    )
    await components.lists.leave("call-2", Outcome.ABANDONED)
    await components.history.flush()
    components.history.departed(  # a repeat departure: no row written, no event
        *await repeat_of_call_2(components), outcome_known=True
    )
    await components.history.agent_event(
        AgentCompleted(
            "jkowalski",
            2,
            "call-1",
            timedelta(seconds=4),
            timedelta(seconds=95),
            CompletedBy.CALLER,
        )
    )
    await eventually(lambda: len(receiver.event_ids()) >= 3, seconds=20)
    await components.history.flush()
    assert outbox_actions(database_path) == ["CALL_RECORDED"] * 3  # none for the repeat

    bodies: dict[int, Any] = {}
    for received in receiver.accepted:
        assert signed_correctly(received, secret)
        bodies.setdefault(received.json()["event_id"], received.json())
    ordered = [bodies[event_id] for event_id in sorted(bodies)]
    assert [(b["connection_id"], b["disposition"]) for b in ordered] == [
        ("call-1", "ANSWERED"),
        ("call-2", "NO ANSWER"),
        ("call-1", "ANSWERED"),
    ]
    first, abandoned, completed = ordered
    assert list(first) == ROW_KEYS
    assert first["action"] == "CALL_RECORDED"
    assert first["src"] == components.history.display("746842523")  # as the API shows it
    assert first["customer_id"] == jan.customer_id
    assert (first["type"], first["queue_id"], first["dst"]) == ("INBOUND", 2, "")
    # The agent picked up in the same burst as the departure: its row is announced as written.
    assert (first["user_login"], first["user"]) == ("jkowalski", "Janina Kowalska")
    assert (first["billsec"], first["disconnected_by"]) == (0, "")
    assert first["duration"] == 4  # AgentConnect's HoldTime
    assert len(first["date"]) == len(first["recorded_at"]) == 19
    assert abandoned["customer_id"] is None
    assert abandoned["disconnected_by"] == "Customer"
    assert (completed["billsec"], completed["duration"]) == (95, 99)
    assert completed["disconnected_by"] == "Customer"
    assert completed["date"] == first["date"]  # the call's date, as GET /api/connections
    assert completed["recorded_at"] >= first["recorded_at"]


async def repeat_of_call_2(components: Components) -> tuple[WaitingCaller, Departure]:
    """call-2's departure again, as a duplicate QueueCallerLeave would hand it over."""
    row = await components.history.connection("call-2")
    caller = WaitingCaller("call-2", 2, row.src, "", row.started_at)
    return caller, departure(caller, Outcome.ANSWERED, components.clock.now())


async def test_nothing_enters_the_outbox_when_nobody_subscribes(
    live: Components, database_path: Path
) -> None:
    components = live
    assert components.webhooks is not None
    await components.queues.put(Queue(2, "Obsługa klienta"))
    await components.webhooks.register(
        {"actions": ["CALLER_LEFT"], "subscription_url": "http://127.0.0.1:9/hook"}
    )
    await components.lists.join(2, "call-1", "613459851")
    await components.lists.leave("call-1", Outcome.ABANDONED)
    await components.history.flush()
    assert (await components.history.connection("call-1")).connection_id == "call-1"
    assert outbox_actions(database_path) == ["CALLER_LEFT"]


async def test_a_pick_up_that_answers_a_left_call_is_announced_once_with_or_after_it(
    delivering: Components, receiver: Receiver, database_path: Path
) -> None:
    """A QueueCallerLeave (the row NO ANSWER until an agent's event says otherwise) and its
    AgentConnect: in one batch, one announcement shows both; in two, each is announced."""
    components = delivering
    assert components.webhooks is not None
    await components.webhooks.register(
        {"actions": ["CALL_RECORDED"], "subscription_url": receiver.url}
    )
    await components.queues.put(Queue(2, "Obsługa klienta"))
    await components.lists.join(2, "together", "746842523")
    await components.lists.join(2, "apart", "613459851")
    await components.lists.join(2, "timed-out", "500333222")
    await components.lists.leave("together", Outcome.ANSWERED, answer_announced=True)
    await components.history.agent_event(AgentConnected("jkowalski", 2, "together", None, None))
    await components.lists.leave("apart", Outcome.ANSWERED, answer_announced=True)
    await components.lists.leave("timed-out", Outcome.ANSWERED, answer_announced=True)
    await components.history.flush()
    await components.history.agent_event(AgentConnected("anowak", 2, "apart", None, None))
    # A repeated pick-up is no news.
    await components.history.agent_event(AgentConnected("anowak", 2, "apart", None, None))
    await components.history.flush()
    await eventually(lambda: len(receiver.event_ids()) >= 4, seconds=20)
    assert outbox_actions(database_path) == ["CALL_RECORDED"] * 4

    bodies: dict[int, Any] = {}
    for received in receiver.accepted:
        bodies.setdefault(received.json()["event_id"], received.json())
    assert [
        (b["connection_id"], b["disposition"], b["user_login"])
        for b in (bodies[event_id] for event_id in sorted(bodies))
    ] == [
        ("together", "ANSWERED", "jkowalski"),
        ("apart", "NO ANSWER", ""),
        ("timed-out", "NO ANSWER", ""),
        ("apart", "ANSWERED", "anowak"),
    ]
