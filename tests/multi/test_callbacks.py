"""Callbacks with two `kolejka serve` instances on PostgreSQL and Redis: the fake Asterisk counts
the Originates it receives, and no attempt is ever dialled twice; a PBX claiming over HTTP from
both instances at once never gets one callback twice; scheduled callbacks survive a restart."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.ami.fake_asterisk import FakeAsterisk
from tests.ami.helpers import ami_env, sent
from tests.e2e.client import as_json
from tests.multi.deployment import Deployment, call
from tests.support import eventually

WARSAW = ZoneInfo("Europe/Warsaw")
pytestmark = [pytest.mark.slow, pytest.mark.needs_postgres, pytest.mark.needs_redis]

CALLBACKS = {
    "KOLEJKA_CALLBACK_CHANNEL": "PJSIP/{number}@trunk",
    "KOLEJKA_CALLBACK_POLL_SECONDS": "0.05",
}


async def test_two_instances_never_originate_one_attempt_twice(
    deployment: Deployment, asterisk: FakeAsterisk
) -> None:
    first, second = await deployment.start(2, **ami_env(asterisk), **CALLBACKS)
    numbers = [f"50033{n:04d}" for n in range(60)]
    # Due together a few seconds from now, once both instances have had every request.
    due = (datetime.now(WARSAW) + timedelta(seconds=6)).strftime("%Y-%m-%d %H:%M:%S")
    for index, number in enumerate(numbers * 2):  # each twice, once through each instance
        server = (first, second)[index % 2 if index < 60 else 1 - index % 2]
        body = {"phone_number": number, "call_at": due}
        answer = await call(server, "POST", "/api/queues/2/schedule_call", body)
        assert answer.status == 201, answer.body
    assert len(sent(asterisk, "Originate")) == 0, "the test was too slow: some fell due early"
    await eventually(lambda: len(sent(asterisk, "Originate")) >= 60, seconds=30)
    await asyncio.sleep(1.0)  # a few more rounds of both diallers: nothing more may come
    channels = Counter(o["Channel"] for o in sent(asterisk, "Originate"))
    assert channels == Counter({f"PJSIP/{n}@trunk": 1 for n in numbers})
    listed = as_json(await call(first, "GET", "/api/queues/2/scheduled_calls"))
    assert len(listed) == 60
    assert {(c["state"], len(c["attempts"])) for c in listed} == {("answered", 1)}


async def test_a_pbx_claiming_from_both_instances_never_gets_one_callback_twice(
    deployment: Deployment,
) -> None:
    first, second = await deployment.start(2)
    for n in range(40):
        body = {"phone_number": f"60011{n:04d}"}
        assert (await call(first, "POST", "/api/queues/2/schedule_call", body)).status == 201

    async def claim_until_none(server: object) -> list[int]:
        got: list[int] = []
        while True:
            answer = await call(server, "POST", "/api/scheduled_calls/claim")  # type: ignore[arg-type]
            if answer.status == 204:
                return got
            assert answer.status == 200, answer.body
            got.append(as_json(answer)["callback_id"])

    claims = await asyncio.gather(*(claim_until_none(s) for s in (first, second) * 3))
    flat = [callback_id for batch in claims for callback_id in batch]
    assert sorted(flat) == sorted(set(flat))
    assert len(flat) == 40


async def test_scheduled_callbacks_survive_a_restart(deployment: Deployment) -> None:
    (server,) = await deployment.start(1)
    later = (datetime.now(WARSAW) + timedelta(days=10)).strftime("%Y-%m-%d %H:%M:%S")
    body = {"phone_number": "500333222", "call_at": later}
    near = {"phone_number": "500333222"}
    assert (await call(server, "POST", "/api/queues/2/schedule_call", near)).status == 201
    assert (await call(server, "POST", "/api/queues/2/schedule_call", body)).status == 201
    await asyncio.to_thread(server.stop)
    (again,) = await deployment.start(1)
    listed = as_json(await call(again, "GET", "/api/queues/2/scheduled_calls"))
    # One callback, at the earlier time (now), still pending: no PBX dials in this deployment.
    assert [(c["phone_number"], c["state"]) for c in listed] == [("500333222", "pending")]
    assert listed[0]["call_at"] < later


async def test_every_attempt_is_one_outbound_row_whichever_instance_reports_it(
    deployment: Deployment,
) -> None:
    """On PostgreSQL: the row is written with the outcome, once, and read on either instance."""
    first, second = await deployment.start(2)
    body = {"phone_number": "500333222"}
    assert (await call(first, "POST", "/api/queues/2/schedule_call", body)).status == 201
    claimed = as_json(await call(second, "POST", "/api/scheduled_calls/claim"))
    report = {"claim": claimed["claim"], "outcome": "busy"}
    target = f"/api/scheduled_calls/{claimed['callback_id']}/outcome"
    answers = await asyncio.gather(
        call(first, "POST", target, report), call(second, "POST", target, report)
    )
    assert sorted(a.status for a in answers) == [204, 409]  # reported twice, recorded once
    for server in (first, second):
        rows = as_json(await call(server, "GET", "/api/connections?dst=%2B48500333222"))
        assert rows["count"] == 1
        (row,) = rows["result"]
        assert (row["connection_id"], row["type"], row["disposition"], row["queue_id"]) == (
            f"callback-{claimed['callback_id']}-1",
            "OUTBOUND",
            "BUSY",
            2,
        )
