"""The whole loop across issues 14 and 15: a caller abandons, a supervisor calls them back from
the abandoned list, the PBX reports the callback answered, and the number leaves the list: the
callback's OUTBOUND row in the call history is what "reached" reads."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from kolejka.adapters.http.app import KolejkaApp
from kolejka.bootstrap import Components
from kolejka.domain.queues import Outcome
from kolejka.settings import Settings
from tests.support import CANARY, FrozenClock, basic, call

CLAIM = "/api/scheduled_calls/claim"
ABANDONED = "/api/queues/2/abandoned"


@pytest.fixture
def settings(database_path: Path) -> Settings:
    return Settings(database_url=f"sqlite:///{database_path}", abandoned_refresh_seconds=0)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2020, 11, 6, 12, 0, tzinfo=UTC))


@pytest.fixture
async def pbx(components: Components, queue_2: int) -> str:
    permissions = ["POST scheduled_calls/claim", "POST scheduled_calls/:callback_id/outcome"]
    await components.api_users.add("pbx", f"pbx-{CANARY}", permissions)
    return basic("pbx", f"pbx-{CANARY}")


async def listed(app: KolejkaApp, admin: str) -> list[str]:
    answer = await call(app, "GET", ABANDONED, auth=admin)
    assert answer.status == 200, answer.body
    return [entry["phone_number"] for entry in answer.json()]


@pytest.mark.parametrize(("outcome", "reached"), [("answered", True), ("busy", False)])
async def test_a_callback_answered_from_the_abandoned_list_takes_the_number_off_it(
    app: KolejkaApp,
    components: Components,
    clock: FrozenClock,
    personas: dict[str, str],
    pbx: str,
    outcome: str,
    reached: bool,
) -> None:
    admin = personas["admin"]
    await components.lists.join(2, "gave-up", "500333222")
    clock.advance(40)
    await components.lists.leave("gave-up", Outcome.ABANDONED)
    clock.advance(60)
    assert await listed(app, admin) == ["500333222"]

    scheduled = await call(
        app, "POST", f"{ABANDONED}/500333222/schedule_call", auth=admin, json_body={}
    )
    assert scheduled.status == 201, scheduled.body
    claimed = await call(app, "POST", CLAIM, auth=pbx)
    assert claimed.status == 200, claimed.body
    clock.advance(20)
    report = {"claim": claimed.json()["claim"], "outcome": outcome}
    answer = await call(
        app,
        "POST",
        f"/api/scheduled_calls/{claimed.json()['callback_id']}/outcome",
        auth=pbx,
        json_body=report,
    )
    assert answer.status == 204, answer.body

    rows = (await call(app, "GET", "/api/connections?queue_id=2", auth=admin)).json()["result"]
    outbound = [row for row in rows if row["type"] == "OUTBOUND"]
    assert len(outbound) == 1
    assert outbound[0]["disposition"] == ("ANSWERED" if reached else "BUSY")
    assert await listed(app, admin) == ([] if reached else ["500333222"])
