"""The webhooks' outbox, on every engine: an event is stored with the change that caused it, and
only then; subscriptions read it in order; one holder a subscription."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from kolejka.adapters.sql.times import to_micros
from kolejka.adapters.sql.webhooks import (
    INSERT_JOINED,
    INSERT_LEFT,
    INSERT_RELAYED,
    ColumnFields,
    JsonFields,
    event_insert,
    joined_row,
    left_row,
    relayed_row,
    row_json,
)
from kolejka.domain.callbacks import Attempt, Callback, CallbackState, DialOutcome
from kolejka.domain.crm import Customer, CustomerFields
from kolejka.domain.customers import CustomerKind
from kolejka.domain.errors import IdentifierTaken
from kolejka.domain.queues import Outcome, WaitingCaller, departure
from kolejka.domain.webhooks import (
    Action,
    NewEvent,
    callback_attempted,
    caller_joined,
    caller_left,
    customer_created,
)
from kolejka.services.ports import DeliveryAttempt
from tests.contract.stores import LiveLists, SqlStores

NOW = datetime(2026, 11, 26, 15, 35, 36, tzinfo=UTC)
ALL = [action.value for action in Action]


def joining(call_id: str, queue_id: int = 7) -> WaitingCaller:
    return WaitingCaller(call_id, queue_id, "613459851", "", NOW)


async def stored_actions(live: LiveLists) -> list[tuple[str, object]]:
    await live.relay()
    events = await live.outbox.following(0, ALL, 100)
    return [(e.action, e.fields.get("call_id")) for e in events]


async def test_a_join_stores_its_events_only_when_it_stores_the_caller(live: LiveLists) -> None:
    await live.add_queue(7)
    caller = joining("a")
    first = await live.callers.join(caller, announce=True)
    again = await live.callers.join(caller, announce=True)
    assert first.created
    assert not again.created
    assert await stored_actions(live) == [("CALLER_JOINED", "a")]


async def test_a_leave_stores_its_events_only_when_the_caller_left(live: LiveLists) -> None:
    await live.add_queue(7)
    caller = joining("a")
    await live.callers.join(caller)
    gone = departure(caller, Outcome.ABANDONED, NOW + timedelta(seconds=5))
    assert await live.callers.leave(gone, announce=True)
    assert not await live.callers.leave(gone, announce=True)
    assert await stored_actions(live) == [("CALLER_LEFT", "a")]
    (event,) = await live.outbox.following(0, ALL, 10)
    assert event.fields["waited"] == 5
    assert event.fields["outcome"] == "abandoned"


async def test_a_callers_events_read_back_as_the_domain_made_them(live: LiveLists) -> None:
    """Stored in columns of their own (not JSON): every field, in the wire's order, with its
    type; what delivery renders from them is what the domain made."""
    await live.add_queue(7)
    caller = WaitingCaller("1700000000.42", 7, "613459851", 'Zażółć "gęślą"', NOW)
    joined = caller_joined(caller)
    await live.callers.join(caller, announce=True)
    gone = departure(caller, Outcome.ANSWERED, NOW + timedelta(seconds=48, microseconds=7))
    left = caller_left(gone)
    await live.callers.leave(gone, announce=True)
    await live.relay()
    stored = await live.outbox.following(0, ALL, 10)
    assert [e.action for e in stored] == ["CALLER_JOINED", "CALLER_LEFT"]
    for event, made in zip(stored, (joined, left), strict=True):
        assert isinstance(event.fields, ColumnFields)
        assert not event.fields.decoded
        assert event.occurred_at == made.occurred_at
        assert list(event.fields.items()) == list(made.fields.items())
        assert event.rendered is None


def test_the_rows_sqlite_writes_from_a_caller_are_those_of_the_domains_events() -> None:
    """SQLite's store writes a caller's event from the caller's own values (`joined_row`,
    `left_row`), not from the domain's event: the same statement and values."""
    caller = WaitingCaller("1700000000.42", 7, "613459851", "Jan", NOW)
    started = to_micros(NOW)
    assert event_insert(caller_joined(caller)) == (INSERT_JOINED, joined_row(caller, started))
    for outcome, hold in ((Outcome.ANSWERED, None), (Outcome.ABANDONED, timedelta(seconds=-3))):
        gone = departure(caller, outcome, NOW + timedelta(seconds=61, microseconds=999_999), hold)
        assert event_insert(caller_left(gone)) == (
            INSERT_LEFT,
            left_row(gone, to_micros(gone.left_at), started),
        )


async def test_relaying_twice_stores_each_event_once(live: LiveLists) -> None:
    await live.add_queue(7)
    for call_id in ("a", "b", "c"):
        await live.callers.join(joining(call_id), announce=True)
    await live.relay()
    await live.relay()
    assert await stored_actions(live) == [
        ("CALLER_JOINED", "a"),
        ("CALLER_JOINED", "b"),
        ("CALLER_JOINED", "c"),
    ]


def card(identifier: str) -> CustomerFields:
    return CustomerFields(name="Jan", surname="Kowalski", identifier=identifier)


def created(added: list[Customer]) -> list[NewEvent]:
    return [customer_created(customer, NOW) for customer in added]


async def test_added_customers_store_one_event_each_with_their_ids(sql: SqlStores) -> None:
    added = await sql.crm.add_customers(
        CustomerKind.PERSON, [card("a"), card("b")], NOW, events=created
    )
    events = await sql.webhooks.following(0, ALL, 10)
    assert [(e.action, e.fields["customer_id"]) for e in events] == [
        ("CUSTOMER_CREATED", added[0].customer_id),
        ("CUSTOMER_CREATED", added[1].customer_id),
    ]


async def test_a_batch_stores_events_for_exactly_the_cards_it_added(sql: SqlStores) -> None:
    await sql.crm.add_customers(CustomerKind.PERSON, [card("taken")], NOW)
    outcomes = await sql.crm.add_each(
        CustomerKind.PERSON, [card("a"), card("taken"), card("b")], NOW, events=created
    )
    assert isinstance(outcomes[1], IdentifierTaken)
    added = [o for o in outcomes if isinstance(o, Customer)]
    events = await sql.webhooks.following(0, ALL, 10)
    assert [(e.action, e.fields["customer_id"]) for e in events] == [
        ("CUSTOMER_CREATED", added[0].customer_id),
        ("CUSTOMER_CREATED", added[1].customer_id),
    ]


async def test_a_batch_refused_whole_stores_no_event(sql: SqlStores) -> None:
    await sql.crm.add_customers(CustomerKind.PERSON, [card("taken")], NOW)

    def never(added: list[Customer]) -> list[NewEvent]:
        raise AssertionError(f"events asked for {added}")

    outcomes = await sql.crm.add_each(CustomerKind.PERSON, [card("taken")], NOW, events=never)
    assert [type(o) for o in outcomes] == [IdentifierTaken]
    assert await sql.webhooks.following(0, ALL, 10) == []


async def test_a_refused_write_stores_no_event(sql: SqlStores) -> None:
    await sql.crm.add_customers(CustomerKind.PERSON, [card("taken")], NOW)
    with pytest.raises(IdentifierTaken):
        await sql.crm.add_customers(
            CustomerKind.PERSON, [card("new"), card("taken")], NOW, events=created
        )
    assert not await sql.crm.remove_customer(999, [customer_created_for(999)])
    assert await sql.crm.update_customer(999, card("x"), NOW, events=lambda c: []) is None
    assert await sql.webhooks.following(0, ALL, 10) == []


def customer_created_for(customer_id: int) -> NewEvent:
    return NewEvent(Action.CUSTOMER_DELETED, NOW, {"customer_id": customer_id, "company_id": ""})


async def test_a_subscription_starts_after_the_events_before_it(sql: SqlStores) -> None:
    await sql.webhooks.append([customer_created_for(1)])
    subscription = await sql.webhooks.add(ALL, "https://example.pl", "sealed", NOW)
    await sql.webhooks.append([customer_created_for(2), customer_created_for(3)])
    position = await sql.webhooks.position(subscription.webhook_id)
    assert position is not None
    later = await sql.webhooks.following(position, ALL, 10)
    assert [e.fields["customer_id"] for e in later] == [2, 3]
    assert await sql.webhooks.backlog(subscription.webhook_id, ALL) == 2
    assert await sql.webhooks.backlog(subscription.webhook_id, ["CALLER_LEFT"]) == 0


async def test_one_holder_a_subscription_and_a_lost_holder_moves_nothing(sql: SqlStores) -> None:
    subscription = await sql.webhooks.add(ALL, "https://example.pl", "sealed", NOW)
    webhook_id = subscription.webhook_id
    until = NOW + timedelta(seconds=5)
    assert await sql.webhooks.claim(webhook_id, "one", NOW, until)
    assert not await sql.webhooks.claim(webhook_id, "two", NOW, until)
    await sql.webhooks.append([customer_created_for(1)])
    (event,) = await sql.webhooks.following(0, ALL, 10)
    done = DeliveryAttempt(event.event_id, 1, NOW, 200, "", "delivered")
    assert not await sql.webhooks.record(webhook_id, "two", [done], advance=True)
    assert await sql.webhooks.position(webhook_id) == 0
    # Expired: another takes it over, and the first can no longer move it.
    later = until + timedelta(seconds=1)
    assert await sql.webhooks.claim(webhook_id, "two", later, later + timedelta(seconds=5))
    assert not await sql.webhooks.record(webhook_id, "one", [done], advance=True)
    assert await sql.webhooks.record(webhook_id, "two", [done], advance=True)
    assert await sql.webhooks.position(webhook_id) == event.event_id


async def test_pruning_keeps_what_a_subscription_still_needs_and_the_newest(
    sql: SqlStores,
) -> None:
    subscription = await sql.webhooks.add(ALL, "https://example.pl", "sealed", NOW)
    webhook_id = subscription.webhook_id
    await sql.webhooks.claim(webhook_id, "one", NOW, NOW + timedelta(seconds=5))
    await sql.webhooks.append([customer_created_for(n) for n in (1, 2, 3)])
    first, second, third = await sql.webhooks.following(0, ALL, 10)
    parked = DeliveryAttempt(first.event_id, 8, NOW, 500, "", "parked")
    await sql.webhooks.record(webhook_id, "one", [parked], advance=True)
    assert await sql.webhooks.prune() == 0  # 1 is parked, 2 and 3 not delivered
    delivered = DeliveryAttempt(third.event_id, 1, NOW, 200, "", "delivered")
    await sql.webhooks.record(webhook_id, "one", [delivered], advance=True)
    assert await sql.webhooks.prune() == 1  # 2; 1 is parked and 3 the newest
    await sql.webhooks.append([customer_created_for(4)])
    (fourth,) = await sql.webhooks.following(third.event_id, ALL, 10)
    assert fourth.event_id > third.event_id
    assert second.event_id not in [e.event_id for e in await sql.webhooks.following(0, ALL, 10)]


async def test_the_first_body_frozen_stays_and_every_reader_gets_it(sql: SqlStores) -> None:
    subscription = await sql.webhooks.add(ALL, "https://example.pl", "sealed", NOW)
    await sql.webhooks.claim(subscription.webhook_id, "one", NOW, NOW + timedelta(seconds=5))
    await sql.webhooks.append([customer_created_for(n) for n in (1, 2)])
    first, second = await sql.webhooks.following(0, ALL, 10)
    assert first.rendered is None
    assert await sql.webhooks.freeze([]) == {}
    assert await sql.webhooks.freeze([(first.event_id, '{"a":"ł"}')]) == {
        first.event_id: '{"a":"ł"}'
    }
    # A later rendering (another process, another CRM answer) does not replace the first.
    assert await sql.webhooks.freeze(
        [(first.event_id, '{"a":"later"}'), (second.event_id, '{"b":2}')]
    ) == {first.event_id: '{"a":"ł"}', second.event_id: '{"b":2}'}
    again = await sql.webhooks.following(0, ALL, 10)
    assert [e.rendered for e in again] == ['{"a":"ł"}', '{"b":2}']
    parked = DeliveryAttempt(first.event_id, 8, NOW, 500, "", "parked")
    await sql.webhooks.record(subscription.webhook_id, "one", [parked], advance=True)
    (held,) = await sql.webhooks.parked(subscription.webhook_id, 10)
    assert held.event.rendered == '{"a":"ł"}'
    # An event pruned meanwhile: nothing stored, nothing returned.
    assert await sql.webhooks.freeze([(10**9, "{}")]) == {}


async def test_an_events_fields_are_decoded_only_when_looked_at(sql: SqlStores) -> None:
    await sql.webhooks.append([customer_created_for(1)])
    (event,) = await sql.webhooks.following(0, ALL, 10)
    assert isinstance(event.fields, JsonFields)
    assert not event.fields.decoded  # delivery sending a stored body never pays for it
    assert dict(event.fields) == {"customer_id": 1, "company_id": ""}
    assert event.fields.decoded
    assert event.fields == {"customer_id": 1, "company_id": ""}


@pytest.mark.parametrize(
    "fields",
    [
        {"queue_id": 7, "call_id": "1700000000.1", "phone_number": "613459851", "caller_name": ""},
        {"caller_name": 'Zażółć "gęślą" \\ jaźń\n\t\x00\x7f\u2028😀', "waited": -3},
        {"duration": 1.5, "ratio": 1e-7, "big": 10**20, "none": None, "yes": True, "no": False},
        {"queues": [2, "3", [4, {"a": None}]], "nested": {"ü": ["é"]}, "empty": {}},
        {"outcome": Outcome.ABANDONED, "action": Action.CALLER_LEFT},
    ],
)
def test_an_events_stored_body_is_what_json_dumps_writes(fields: dict[str, object]) -> None:
    expected = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
    assert row_json(fields) == expected
    assert row_json(JsonFields(expected)) == expected  # any mapping, not only a dict


def test_an_events_stored_body_holds_instants_in_iso_8601_and_refuses_other_objects() -> None:
    warsaw = NOW.astimezone(ZoneInfo("Europe/Warsaw"))
    assert row_json({"at": warsaw}) == '{"at":"2026-11-26T16:35:36+01:00"}'
    with pytest.raises(TypeError):
        row_json({"at": object()})


async def test_an_event_stored_as_json_reads_its_instants_back_as_datetimes(
    sql: SqlStores,
) -> None:
    dialled = NOW - timedelta(seconds=25, microseconds=123)
    attempt = Attempt(1, dialled, NOW, DialOutcome.BUSY)
    callback = Callback(
        17, 2, "+48500333222", NOW + timedelta(minutes=5), NOW, CallbackState.PENDING, (attempt,)
    )
    made = callback_attempted(callback, attempt, "500 333 222")
    await sql.webhooks.append([made])
    (event,) = await sql.webhooks.following(0, ALL, 10)
    assert isinstance(event.fields, JsonFields)
    assert list(event.fields.items()) == list(made.fields.items())


def test_a_stream_entry_written_before_the_callers_columns_is_relayed_as_json() -> None:
    """What a version before migration 0013 left in the Redis stream: (action, occurred_at,
    body), its fields JSON whatever the action."""
    body = '{"queue_id":7,"call_id":"a","phone_number":"1","caller_name":"","started_at":"x"}'
    row = relayed_row(json.dumps(["CALLER_JOINED", 1_700_000_000_000_000, body]), "1-0")
    assert row == ("CALLER_JOINED", 1_700_000_000_000_000, body, *[None] * 7, "1-0")
    assert len(row) == INSERT_RELAYED.count("?")
