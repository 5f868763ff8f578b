"""The ingest API for queue members: a PBX without AMI reports agents the way AMI would."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kolejka.adapters.http.app import KolejkaApp
from kolejka.bootstrap import Components
from kolejka.domain.agents import AgentState
from kolejka.domain.queues import Queue
from kolejka.services.ports import Change, Topic
from tests.support import FrozenClock, assert_envelope, basic, call

pytestmark = pytest.mark.usefixtures("queue_2")
MEMBER = "/api/queues/2/members/jkowalski"
PERMISSION = "POST queues/:id/members/:login"


@pytest.fixture
async def pbx(components: Components) -> str:
    """A PBX's API user, allowed to report members and nothing else."""
    await components.api_users.add("pbx", "pbx-secret-1234", [PERMISSION])
    return basic("pbx", "pbx-secret-1234")


async def report(app: KolejkaApp, auth: str, body: Any, path: str = MEMBER) -> Any:
    return await call(app, "POST", path, auth=auth, json_body=body)


async def test_a_member_is_added_paused_rung_connected_and_removed(
    app: KolejkaApp, pbx: str, clock: FrozenClock, components: Components
) -> None:
    changes: list[Change] = []
    components.changes.subscribe(changes.append)
    seen = []
    for body in (
        {"event": "added"},
        {"event": "paused", "reason": "Przerwa"},
        {"event": "unpaused"},
        {"event": "ringing", "call_id": "c1"},
        {"event": "ring_no_answer", "call_id": "c1", "ring_time": 15},
        {"event": "ringing", "call_id": "c2"},
        {"event": "connected", "call_id": "c2", "hold_time": 4, "ring_time": 2},
        {"event": "completed", "call_id": "c2", "talk_time": 60, "completed_by": "caller"},
        {"event": "removed"},
    ):
        clock.advance(1)
        answer = await report(app, pbx, body)
        assert answer.status == 200, answer.json()
        seen.append((answer.json()["status"], answer.json()["pause_id"]))
    assert seen == [
        ("FREE", None),
        ("PAUSED", 1),
        ("FREE", None),
        ("RINGING", None),
        ("FREE", None),
        ("RINGING", None),
        ("INBOUND_CALL", None),
        ("FREE", None),
        ("OFF", None),
    ]
    assert answer.json() == {
        "login": "jkowalski",
        "status": "OFF",
        "pause_id": None,
        "last_change": "2014-08-06 14:30:44",  # Europe/Warsaw, summer time
    }
    assert changes.count(Change(Topic.AGENTS)) == 9
    assert [(p.pause_id, p.name) for p in await components.agents.pauses()] == [(1, "Przerwa")]
    agent = await components.agents.get("jkowalski")
    assert agent is not None  # an unknown member became an agent, as from AMI


async def test_a_member_added_paused_is_paused_and_a_repeat_changes_no_time(
    app: KolejkaApp, pbx: str, clock: FrozenClock
) -> None:
    first = await report(app, pbx, {"event": "added", "paused": True, "reason": "Obiad"})
    clock.advance(30)
    again = await report(app, pbx, {"event": "added", "paused": True, "reason": "Obiad"})
    assert first.json() == again.json()
    assert first.json()["status"] == "PAUSED"


async def test_an_unknown_queue_is_404_and_changes_nothing(
    app: KolejkaApp, pbx: str, components: Components
) -> None:
    answer = await report(app, pbx, {"event": "added"}, "/api/queues/9/members/jkowalski")
    assert_envelope(answer, 404, 404002)
    assert await components.agents.all() == []


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (MEMBER, {}, "event"),
        (MEMBER, {"event": "logged_in"}, "event"),
        (MEMBER, {"event": 1}, "event"),
        (MEMBER, {"event": None}, "event"),
        (MEMBER, {"event": "added", "call_id": "c1"}, "call_id"),
        (MEMBER, {"event": "added", "paused": "yes"}, "paused"),
        (MEMBER, {"event": "added", "paused": 1}, "paused"),
        (MEMBER, {"event": "paused", "reason": 5}, "reason"),
        (MEMBER, {"event": "paused", "reason": "x" * 65}, "reason"),
        (MEMBER, {"event": "paused", "reason": "Prze\u0085rwa"}, "reason"),  # C1 control
        (MEMBER, {"event": "paused", "reason": "a\nb"}, "reason"),
        (MEMBER, {"event": "ringing"}, "call_id"),
        (MEMBER, {"event": "ringing", "call_id": ""}, "call_id"),
        (MEMBER, {"event": "ringing", "call_id": "c" * 129}, "call_id"),
        (MEMBER, {"event": "connected", "call_id": "c", "hold_time": -1}, "hold_time"),
        (MEMBER, {"event": "connected", "call_id": "c", "ring_time": 1.5}, "ring_time"),
        (MEMBER, {"event": "completed", "call_id": "c", "talk_time": True}, "talk_time"),
        (MEMBER, {"event": "completed", "call_id": "c", "completed_by": "pbx"}, "completed_by"),
        (MEMBER, {"event": "removed", "reason": "x"}, "reason"),
        ("/api/queues/2/members/PJSIP%2F201", {"event": "added"}, "login"),
        ("/api/queues/2/members/" + "a" * 65, {"event": "added"}, "login"),
        ("/api/queues/2/members/-x", {"event": "added"}, "login"),
        ("/api/queues/2/members/%C2%85x", {"event": "added"}, "login"),
    ],
)
async def test_a_malformed_report_names_the_field_and_changes_nothing(
    app: KolejkaApp, pbx: str, components: Components, path: str, body: Any, field: str
) -> None:
    answer = await report(app, pbx, body, path)
    assert_envelope(answer, 400, 400003)
    assert f"Invalid field {field}:" in answer.json()["errors"][0]["message"]
    assert await components.agents.all() == []


@pytest.mark.parametrize("queue", ["0", "-1", "x", "2147483648", "1e3"])
async def test_a_bad_queue_id_is_400(app: KolejkaApp, pbx: str, queue: str) -> None:
    answer = await report(app, pbx, {"event": "added"}, f"/api/queues/{queue}/members/jk")
    assert_envelope(answer, 400, 400001)


@pytest.mark.parametrize(
    "raw", [b"{", b"[]", b'"added"', b"[" * 50_000, b'{"event": "added", "x": 1' + b"0" * 5000]
)
async def test_a_body_that_is_not_a_json_object_is_400(
    app: KolejkaApp, pbx: str, raw: bytes
) -> None:
    answer = await call(app, "POST", MEMBER, auth=pbx, body=raw)
    assert answer.status == 400
    assert answer.json()["errors"][0]["code"] in (400002, 400003)


async def test_a_body_over_the_limit_is_413(app: KolejkaApp, pbx: str) -> None:
    answer = await call(app, "POST", MEMBER, auth=pbx, body=b" " * 70_000)
    assert_envelope(answer, 413, 413001)


async def test_only_users_with_the_permission_may_report(
    app: KolejkaApp, pbx: str, personas: dict[str, str], components: Components
) -> None:
    for who in ("reader", "ingest"):
        refused = await report(app, personas[who], {"event": "added"})
        assert_envelope(refused, 403, 403001)
    stranger = await report(app, personas["stranger"], {"event": "added"})
    assert stranger.status == 401
    nobody = await call(app, "POST", MEMBER, json_body={"event": "added"})
    assert nobody.status == 401
    assert await components.agents.all() == []
    assert (await report(app, personas["admin"], {"event": "added"})).status == 200


async def test_other_methods_are_405_with_allow(app: KolejkaApp, pbx: str) -> None:
    for method in ("GET", "HEAD", "PUT", "DELETE"):
        answer = await call(app, method, MEMBER, auth=pbx)
        assert answer.status == 405
        assert answer.headers["allow"] == "POST"


async def test_a_query_string_is_ignored_as_on_every_ingest_endpoint(
    app: KolejkaApp, pbx: str
) -> None:
    answer = await report(app, pbx, {"event": "added"}, MEMBER + "?event=removed&x=1")
    assert answer.status == 200
    assert answer.json()["status"] == "FREE"


async def test_reports_at_once_about_one_agent_in_many_queues_all_count(
    app: KolejkaApp, pbx: str, components: Components
) -> None:
    for queue_id in range(3, 23):
        await components.queues.put(Queue(queue_id, f"Q{queue_id}"))
    # Signed in once first: twenty first sign-ins at once are throttled as a guessing attack.
    assert (await report(app, pbx, {"event": "added"})).status == 200
    answers = await asyncio.gather(
        *(
            report(app, pbx, {"event": "added"}, f"/api/queues/{q}/members/jkowalski")
            for q in range(3, 23)
        )
    )
    assert {a.status for a in answers} == {200}
    status = await components.agents.status("jkowalski")
    assert status is not None
    assert (status.state, status.queues) == (AgentState.FREE, (2, *range(3, 23)))
