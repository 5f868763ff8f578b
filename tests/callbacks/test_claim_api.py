"""A PBX without AMI takes due callbacks over HTTP: it claims one, dials it, and reports the
outcome under its claim; a claim never reported lapses, and the callback is tried again."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kolejka.adapters.http.app import KolejkaApp
from kolejka.bootstrap import Components
from kolejka.domain.callbacks import CallbackState, DialOutcome
from tests.support import CANARY, FrozenClock, assert_envelope, basic, call

CLAIM = "/api/scheduled_calls/claim"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2020, 11, 6, 12, 0, tzinfo=UTC))


@pytest.fixture
async def pbx(components: Components, queue_2: int) -> str:
    permissions = ["POST scheduled_calls/claim", "POST scheduled_calls/:callback_id/outcome"]
    await components.api_users.add("pbx", f"pbx-{CANARY}", permissions)
    return basic("pbx", f"pbx-{CANARY}")


async def test_claim_then_report_answered(
    app: KolejkaApp, components: Components, pbx: str
) -> None:
    assert (await call(app, "POST", CLAIM, auth=pbx)).status == 204  # nothing due
    await components.callbacks.schedule(2, "500333222", None)
    answer = await call(app, "POST", CLAIM, auth=pbx)
    assert answer.status == 200
    claimed = answer.json()
    assert {k: v for k, v in claimed.items() if k != "claim"} == {
        "callback_id": 1,
        "queue_id": 2,
        "phone_number": "500333222",
        "e164": "+48500333222",
        "attempt": 1,
        "claimed_until": "2020-11-06 13:02:00",
    }
    assert (await call(app, "POST", CLAIM, auth=pbx)).status == 204  # claimed once
    report = {"claim": claimed["claim"], "outcome": "answered"}
    answer = await call(app, "POST", "/api/scheduled_calls/1/outcome", auth=pbx, json_body=report)
    assert (answer.status, answer.body) == (204, b"")
    again = await call(app, "POST", "/api/scheduled_calls/1/outcome", auth=pbx, json_body=report)
    assert_envelope(again, 409, 409115)
    done = await components.callbacks.store.get(1)
    assert done is not None
    assert done.state is CallbackState.ANSWERED


async def test_a_claim_never_reported_lapses_and_its_report_is_refused(
    app: KolejkaApp, components: Components, pbx: str, clock: FrozenClock
) -> None:
    await components.callbacks.schedule(2, "500333222", None)
    first = (await call(app, "POST", CLAIM, auth=pbx)).json()
    clock.advance(121)
    assert (await call(app, "POST", CLAIM, auth=pbx)).status == 204  # lost; retried in 300 s
    clock.advance(300)
    second = (await call(app, "POST", CLAIM, auth=pbx)).json()
    assert second["attempt"] == 2
    late = {"claim": first["claim"], "outcome": "answered"}
    answer = await call(app, "POST", "/api/scheduled_calls/1/outcome", auth=pbx, json_body=late)
    assert_envelope(answer, 409, 409115)
    report = {"claim": second["claim"], "outcome": "busy"}
    answer = await call(app, "POST", "/api/scheduled_calls/1/outcome", auth=pbx, json_body=report)
    assert answer.status == 204
    found = await components.callbacks.store.get(1)
    assert found is not None
    assert [a.outcome for a in found.attempts] == [DialOutcome.LOST, DialOutcome.BUSY]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"claim": "x"},
        {"claim": "x", "outcome": "lost"},
        {"claim": "x", "outcome": "ANSWERED"},
        {"claim": 5, "outcome": "busy"},
        {"claim": "x" * 65, "outcome": "busy"},
        {"claim": "x", "outcome": "busy", "extra": 1},
        {"claim": "x", "outcome": ["busy"]},
    ],
)
async def test_bad_reports_are_400(app: KolejkaApp, pbx: str, body: object) -> None:
    answer = await call(app, "POST", "/api/scheduled_calls/1/outcome", auth=pbx, json_body=body)
    assert_envelope(answer, 400, 400003)


async def test_claiming_needs_its_own_permission(
    app: KolejkaApp, personas: dict[str, str], pbx: str
) -> None:
    assert_envelope(await call(app, "POST", CLAIM, auth=personas["ingest"]), 403, 403001)
    assert_envelope(await call(app, "POST", CLAIM, auth=pbx, json_body=[1]), 400, 400003)
    assert_envelope(await call(app, "POST", CLAIM + "?queue=2", auth=pbx), 400, 400003)
