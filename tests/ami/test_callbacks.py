"""Callbacks dialled through Asterisk: the exact Originate kolejka sends on the listener's live
link, and each outcome the fake Asterisk answers with the captured OriginateResponse (answered,
busy, no answer, bad channel). A frozen clock drives the schedule: a round of the dialler
(`tick`) runs when the test says, at the time the clock says."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from kolejka.adapters.ami.listener import AmiListener
from kolejka.adapters.ami.originate import QUEUE_NAME_SECONDS, AmiCallbackDialer
from kolejka.bootstrap import Components
from kolejka.domain.callbacks import Callback, CallbackState, DialOutcome
from kolejka.domain.connections import ConnectionQuery
from kolejka.domain.queues import Queue
from kolejka.observability.health import run_checks
from kolejka.services.callbacks import CallbackDialling
from kolejka.settings import Settings
from tests.ami.fake_asterisk import FakeAsterisk
from tests.ami.helpers import sent
from tests.support import FrozenClock, eventually

NUMBER = "500333222"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(
        settings,
        callback_channel="PJSIP/{number}@trunk",
        callback_entry="7=support-callback@from-kolejka",
        callback_attempts=3,
        callback_retry_seconds=300,
    )


@pytest.fixture
async def dialling(components: Components, following: AmiListener) -> CallbackDialling:
    await components.queues.put(Queue(2, "Obsługa klienta"))
    await components.queues.put(Queue(7, "Wsparcie"))
    assert components.dialling is not None
    return components.dialling


async def one_round(dialling: CallbackDialling) -> int:
    started = await dialling.tick()
    await dialling.drain()
    return started


async def stored(components: Components, callback: Callback) -> Callback:
    found = await components.callbacks.store.get(callback.callback_id)
    assert found is not None
    return found


async def test_a_due_callback_is_originated_exactly_so_and_answered(
    components: Components, dialling: CallbackDialling, asterisk: FakeAsterisk
) -> None:
    callback = await components.callbacks.schedule(2, NUMBER, None)
    assert await one_round(dialling) == 1
    assert sent(asterisk, "Originate") == [
        {
            "Action": "Originate",
            "Channel": "PJSIP/500333222@trunk",
            "Context": "kolejka-callback",
            "Exten": "2",
            "Priority": "1",
            "CallerID": '"Obsługa klienta" <500333222>',
            "Timeout": "30000",
            "Variable": f"KOLEJKA_CALLBACK_ID={callback.callback_id}",
            "Async": "true",
        }
    ]
    done = await stored(components, callback)
    assert done.state is CallbackState.ANSWERED
    assert [a.outcome for a in done.attempts] == [DialOutcome.ANSWERED]
    assert await one_round(dialling) == 0  # never twice
    assert len(sent(asterisk, "Originate")) == 1


async def test_a_queue_entry_point_and_asterisks_queue_name_come_from_the_settings(
    components: Components, dialling: CallbackDialling, asterisk: FakeAsterisk
) -> None:
    await components.callbacks.schedule(7, "+4915110000001", None)
    await one_round(dialling)
    (originate,) = sent(asterisk, "Originate")
    assert originate["Channel"] == "PJSIP/+4915110000001@trunk"
    assert (originate["Context"], originate["Exten"]) == ("from-kolejka", "support-callback")
    assert originate["CallerID"] == '"Wsparcie" <+4915110000001>'


async def test_a_renamed_queue_shows_in_the_caller_id_within_a_second_not_at_once(
    components: Components, dialling: CallbackDialling, asterisk: FakeAsterisk
) -> None:
    dialer = dialling.dialer
    assert isinstance(dialer, AmiCallbackDialer)
    now = [1000.0]
    dialer.monotonic = lambda: now[0]
    await components.callbacks.schedule(2, "500333221", None)
    await one_round(dialling)
    await components.queues.put(Queue(2, "Reklamacje"))
    await components.callbacks.schedule(2, "500333222", None)
    await one_round(dialling)  # the name asked for less than a second ago
    now[0] += QUEUE_NAME_SECONDS
    await components.callbacks.schedule(2, "500333223", None)
    await one_round(dialling)
    assert [o["CallerID"] for o in sent(asterisk, "Originate")] == [
        '"Obsługa klienta" <500333221>',
        '"Obsługa klienta" <500333222>',
        '"Reklamacje" <500333223>',
    ]


async def test_a_callback_not_yet_due_waits_for_its_time(
    components: Components, dialling: CallbackDialling, asterisk: FakeAsterisk, clock: FrozenClock
) -> None:
    await components.callbacks.schedule(2, NUMBER, clock.now() + timedelta(minutes=10))
    assert await one_round(dialling) == 0
    clock.advance(599)
    assert await one_round(dialling) == 0
    clock.advance(1)
    assert await one_round(dialling) == 1
    assert len(sent(asterisk, "Originate")) == 1


async def test_busy_then_no_answer_are_retried_after_the_interval_and_then_answered(
    components: Components, dialling: CallbackDialling, asterisk: FakeAsterisk, clock: FrozenClock
) -> None:
    asterisk.originate_outcomes = ["busy", "no_answer", "answered"]
    callback = await components.callbacks.schedule(2, NUMBER, None)
    await one_round(dialling)
    after_busy = await stored(components, callback)
    assert after_busy.state is CallbackState.PENDING
    assert after_busy.call_at == clock.now() + timedelta(seconds=300)
    clock.advance(299)
    assert await one_round(dialling) == 0
    clock.advance(1)
    await one_round(dialling)
    clock.advance(300)
    await one_round(dialling)
    done = await stored(components, callback)
    assert done.state is CallbackState.ANSWERED
    assert [a.outcome for a in done.attempts] == [
        DialOutcome.BUSY,
        DialOutcome.NO_ANSWER,
        DialOutcome.ANSWERED,
    ]
    assert len(sent(asterisk, "Originate")) == 3


async def test_no_answer_on_every_attempt_fails_after_the_last(
    components: Components, dialling: CallbackDialling, asterisk: FakeAsterisk, clock: FrozenClock
) -> None:
    asterisk.originate_outcomes = ["no_answer"] * 5
    callback = await components.callbacks.schedule(2, NUMBER, None)
    for _ in range(5):
        await one_round(dialling)
        clock.advance(300)
    done = await stored(components, callback)
    assert done.state is CallbackState.FAILED
    assert [a.outcome for a in done.attempts] == [DialOutcome.NO_ANSWER] * 3
    assert len(sent(asterisk, "Originate")) == 3


async def test_a_channel_that_cannot_be_made_fails_at_once(
    components: Components, dialling: CallbackDialling, asterisk: FakeAsterisk, clock: FrozenClock
) -> None:
    asterisk.originate_outcomes = ["bad_channel"]
    callback = await components.callbacks.schedule(2, NUMBER, None)
    await one_round(dialling)
    clock.advance(3600)
    await one_round(dialling)
    done = await stored(components, callback)
    assert done.state is CallbackState.FAILED
    assert [a.outcome for a in done.attempts] == [DialOutcome.FAILED]
    assert len(sent(asterisk, "Originate")) == 1


async def test_without_write_originate_nothing_is_counted_and_health_says_why(
    components: Components, dialling: CallbackDialling, asterisk: FakeAsterisk
) -> None:
    asterisk.refuse_actions["Originate"] = "Permission denied"
    callback = await components.callbacks.schedule(2, NUMBER, None)
    await one_round(dialling)
    untouched = await stored(components, callback)
    assert untouched.state is CallbackState.PENDING
    assert untouched.attempts == ()
    well, report = await run_checks(components.health_checks)
    assert not well
    assert report["callbacks"] == {
        "state": "denied",
        "detail": "the AMI user may not Originate: add 'originate' to its write= line in"
        " manager.conf (docs/pbx-asterisk.md)",
    }
    assert await one_round(dialling) == 0  # no new try at every round while denied
    assert len(sent(asterisk, "Originate")) == 1
    del asterisk.refuse_actions["Originate"]  # manager.conf fixed and reloaded
    dialer = dialling.dialer
    assert isinstance(dialer, AmiCallbackDialer)
    dialer.retry_denied_seconds = 0  # the next try is due (30 s later in service)
    await one_round(dialling)
    assert (await stored(components, callback)).state is CallbackState.ANSWERED
    well, report = await run_checks(components.health_checks)
    assert well
    assert report["callbacks"] == {"state": "ready", "detail": ""}


async def test_a_link_that_is_down_claims_nothing(
    components: Components, dialling: CallbackDialling, asterisk: FakeAsterisk
) -> None:
    await asterisk.stop()
    callback = await components.callbacks.schedule(2, NUMBER, None)
    await eventually(lambda: components.ami is not None and components.ami.connection is None)
    assert await one_round(dialling) == 0
    assert (await stored(components, callback)).state is CallbackState.PENDING


async def test_each_attempt_over_ami_is_an_outbound_row_of_the_call_history(
    components: Components, dialling: CallbackDialling, asterisk: FakeAsterisk, clock: FrozenClock
) -> None:
    asterisk.originate_outcomes = ["busy", "no_answer", "answered", "bad_channel"]
    first = await components.callbacks.schedule(2, NUMBER, None)
    dialled_at = []
    for _ in range(3):
        dialled_at.append(clock.now())
        await one_round(dialling)
        clock.advance(300)
    second = await components.callbacks.schedule(7, "601100600", None)
    await one_round(dialling)
    page = await components.history.page(ConnectionQuery())
    rows = {
        row.connection_id: (row.queue_id, row.dst, row.direction.value, row.disposition.value)
        for row in page.rows
    }
    assert rows == {
        f"callback-{first.callback_id}-1": (2, "+48500333222", "OUTBOUND", "BUSY"),
        f"callback-{first.callback_id}-2": (2, "+48500333222", "OUTBOUND", "NO ANSWER"),
        f"callback-{first.callback_id}-3": (2, "+48500333222", "OUTBOUND", "ANSWERED"),
        f"callback-{second.callback_id}-1": (7, "+48601100600", "OUTBOUND", "FAILED"),
    }
    assert sorted(r.started_at for r in page.rows)[:3] == dialled_at
    # The answered customer's own queue call (Uniqueid 1796075753.12 in the capture) is another
    # row, INBOUND, when it joins: the attempt's id never takes that call's id.
    assert all(row.billsec == 0 and row.src_key == "" for row in page.rows)
