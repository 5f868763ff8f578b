"""Thulium's agents API on the wire: the documented objects byte for byte, the lists, the
permissions, logins that name no agent, and the control POSTs' answers without a PBX."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from kolejka.adapters.http.app import KolejkaApp
from kolejka.bootstrap import Components
from kolejka.domain.agents import Membership, NewAgent
from tests.agents.support import ANOWAK, JKOWALSKI, pause_id, put_live
from tests.support import CANARY, Answer, assert_envelope, basic, call

# Thulium's example: 10:30:44 in Warsaw on 24 October 2014 (CEST, UTC+2).
LAST_CHANGE = datetime(2014, 10, 24, 8, 30, 44, tzinfo=UTC)


@pytest.fixture
async def admin(components: Components, personas: dict[str, str], queue_2: int) -> str:
    await components.agents.add(JKOWALSKI)
    await components.agents.add(ANOWAK)
    return personas["admin"]


async def user_with(components: Components, *permissions: str) -> str:
    await components.api_users.add("limited", f"limited-{CANARY}", list(permissions))
    return basic("limited", f"limited-{CANARY}")


async def test_an_agent_is_thuliums_object_byte_for_byte(app: KolejkaApp, admin: str) -> None:
    answer = await call(app, "GET", "/api/agents/jkowalski", auth=admin)
    assert answer.status == 200
    assert answer.body == (
        b'{"agent_id":1,"login":"jkowalski","name":"Jan","surname":"Kowalski",'
        b'"email":"jan.kowalski@example.org","active":true,"number":559933,'
        b'"outbound_mode":"manual","group_id":null}'
    )


async def test_a_paused_agents_status_is_thuliums_example_byte_for_byte(
    app: KolejkaApp, components: Components, admin: str
) -> None:
    przerwa = await pause_id(components, "Przerwa")
    member = Membership(2, paused=True, pause_id=przerwa)
    await put_live(components, "jkowalski", (member,), LAST_CHANGE)
    answer = await call(app, "GET", "/api/agents/jkowalski/status", auth=admin)
    assert answer.status == 200
    assert answer.body == (
        b'{"login":"jkowalski","status":"PAUSED","pause_id":1,"last_change":"2014-10-24 10:30:44"}'
    )


async def test_the_lists_are_arrays_of_the_single_objects_off_agents_included(
    app: KolejkaApp, components: Components, admin: str
) -> None:
    await put_live(components, "anowak", (Membership(2), Membership(7)), LAST_CHANGE)
    agents = (await call(app, "GET", "/api/agents", auth=admin)).json()
    assert [a["login"] for a in agents] == ["jkowalski", "anowak"]
    assert agents[1] == (await call(app, "GET", "/api/agents/anowak", auth=admin)).json()
    statuses = (await call(app, "GET", "/api/agents_statuses", auth=admin)).json()
    assert [(s["login"], s["status"], s["pause_id"]) for s in statuses] == [
        ("jkowalski", "OFF", None),
        ("anowak", "FREE", None),
    ]
    assert statuses[1] == (await call(app, "GET", "/api/agents/anowak/status", auth=admin)).json()
    assert statuses[1]["last_change"] == "2014-10-24 10:30:44"


async def test_system_pauses_lists_the_catalogue_by_id(
    app: KolejkaApp, components: Components, admin: str
) -> None:
    assert (await call(app, "GET", "/api/system/pauses", auth=admin)).body == b"[]"
    await pause_id(components, "Przerwa")
    await pause_id(components, "Szkolenie")
    answer = await call(app, "GET", "/api/system/pauses", auth=admin)
    assert answer.body == b'[{"pause_id":1,"name":"Przerwa"},{"pause_id":2,"name":"Szkolenie"}]'


@pytest.mark.parametrize(
    "login",
    [
        "nobody",
        "%00",
        "jk%2Fowalski",  # a slash inside the segment
        "%ED%A0%80",  # a lone surrogate, as UTF-8 bytes
        "%FF%FE",  # not UTF-8
        "jk%C2%85owalski",  # C1 control U+0085
        "%E2%80%AEjkowalski",  # right-to-left override
        "j" * 5000,
        "jkowalski%20",
        "..",
    ],
)
async def test_a_login_that_names_no_agent_is_404_in_the_envelope(
    app: KolejkaApp, admin: str, login: str
) -> None:
    for path in (f"/api/agents/{login}", f"/api/agents/{login}/status"):
        answer = await call(app, "GET", path, auth=admin)
        assert_envelope(answer, 404, 404006)
        assert len(answer.json()["errors"][0]["message"]) < 120


async def test_a_percent_encoded_login_is_the_same_login(app: KolejkaApp, admin: str) -> None:
    answer = await call(app, "GET", "/api/agents/jk%6Fwalski/status", auth=admin)
    assert answer.json()["login"] == "jkowalski"


async def test_permissions_are_named_as_thulium_names_them(
    app: KolejkaApp, components: Components, admin: str
) -> None:
    limited = await user_with(components, "GET agents/:login/status", "GET system/pauses")
    assert (await call(app, "GET", "/api/agents/jkowalski/status", auth=limited)).status == 200
    assert (await call(app, "GET", "/api/system/pauses", auth=limited)).status == 200
    for path, permission in (
        ("/api/agents", "GET agents"),
        ("/api/agents/jkowalski", "GET agents/:login"),
        ("/api/agents_statuses", "GET agents_statuses"),
    ):
        answer = await call(app, "GET", path, auth=limited)
        assert_envelope(answer, 403, 403001)
        assert permission in answer.json()["errors"][0]["message"]
    answer = await call(app, "POST", "/api/agents/jkowalski/free", auth=limited, body=b"")
    assert_envelope(answer, 403, 403001)
    assert "POST agents/:login/free" in answer.json()["errors"][0]["message"]


async def test_without_credentials_every_agents_endpoint_is_401(app: KolejkaApp) -> None:
    for method, path in (
        ("GET", "/api/agents"),
        ("GET", "/api/agents/jkowalski/status"),
        ("GET", "/api/system/pauses"),
        ("POST", "/api/agents/jkowalski/pause"),
    ):
        assert_envelope(await call(app, method, path), 401, 401001)


async def test_head_and_unknown_query_parameters(app: KolejkaApp, admin: str) -> None:
    get = await call(app, "GET", "/api/agents_statuses?x=1&limit=abc", auth=admin)
    head = await call(app, "HEAD", "/api/agents_statuses", auth=admin)
    assert (get.status, head.status, head.body) == (200, 200, b"")
    assert head.headers["content-length"] == str(len(get.body))
    assert_envelope(await call(app, "PUT", "/api/agents/jkowalski", auth=admin), 405, 405001)


async def test_control_without_a_pbx_is_503_and_changes_nothing(
    app: KolejkaApp, components: Components, admin: str
) -> None:
    await put_live(components, "jkowalski", (Membership(2),), LAST_CHANGE)
    przerwa = await pause_id(components, "Przerwa")
    for action, body in (
        ("pause", {"pause_id": przerwa}),
        ("free", {}),
        ("login", {"queues": [2]}),
        ("logout", None),
    ):
        answer = await call(
            app, "POST", f"/api/agents/jkowalski/{action}", auth=admin, json_body=body, body=b""
        )
        assert_envelope(answer, 503, 503002)
    status = await components.agents.status("jkowalski")
    assert status is not None
    assert (status.state.value, status.last_change) == ("FREE", LAST_CHANGE)


async def test_control_checks_its_input_before_the_pbx(
    app: KolejkaApp, components: Components, admin: str
) -> None:
    async def post(
        path: str, body: object, content_type: str | None = "application/json"
    ) -> Answer:
        return await call(
            app, "POST", path, auth=admin, json_body=body, body=b"", content_type=content_type
        )

    pause = "/api/agents/jkowalski/pause"
    assert_envelope(await post("/api/agents/nobody/pause", {"pause_id": 1}), 404, 404006)
    assert_envelope(await post("/api/agents/%00/free", None), 404, 404006)
    assert_envelope(await post(pause, {"pause_id": 9}), 404, 404007)
    assert_envelope(await post(pause, {}), 400, 400003)
    for bad in ("1", 1.5, True, 0, -1, 2**31, None, [1]):
        assert_envelope(await post(pause, {"pause_id": bad}), 400, 400003)
    assert_envelope(await post(pause, {"pause_id": 1, "reason": "x"}), 400, 400003)
    assert_envelope(await post(pause, [1]), 400, 400003)
    assert_envelope(await post(pause, {"pause_id": 1}, content_type=None), 415, 415001)
    assert_envelope(await post(pause, {"pause_id": 1}, content_type="text/plain"), 415, 415001)
    answer = await call(app, "POST", pause, auth=admin, body=b'{"pause_id": "\\ud800"}')
    assert_envelope(answer, 400, 400003)
    answer = await call(app, "POST", pause, auth=admin, body=b"{" * 100_000)
    assert_envelope(answer, 413, 413001)
    login = "/api/agents/jkowalski/login"
    for bad_queues in ("2", [0], ["2"], [2**31], list(range(1, 1002)), {"2": 1}):
        assert_envelope(await post(login, {"queues": bad_queues}), 400, 400003)
    assert_envelope(await post(login, {"queues": [99]}), 404, 404002)
    assert_envelope(await post(login, {"queues": []}), 400, 400003)
    no_queues = "/api/agents/nikt/login"
    await components.agents.add(NewAgent("nikt"))
    assert_envelope(await post(no_queues, {}), 409, 409009)


async def test_pausing_or_freeing_an_agent_in_no_queue_is_a_conflict(
    app: KolejkaApp, components: Components, admin: str
) -> None:
    przerwa = await pause_id(components, "Przerwa")
    path = "/api/agents/jkowalski/"
    body = {"pause_id": przerwa}
    answer = await call(app, "POST", path + "pause", auth=admin, json_body=body)
    assert_envelope(answer, 409, 409006)
    assert_envelope(await call(app, "POST", path + "free", auth=admin, body=b""), 409, 409006)
    # Logging out an agent in no queue: logged out already.
    assert (await call(app, "POST", path + "logout", auth=admin, body=b"")).status == 204


async def test_many_reads_and_controls_at_once_never_fail_the_server(
    app: KolejkaApp, components: Components, admin: str
) -> None:
    await put_live(components, "jkowalski", (Membership(2),), LAST_CHANGE)
    # Signed in once: a verified credential is cached (a hundred first sign-ins at once would
    # be a hundred login attempts, which the throttle limits).
    assert (await call(app, "GET", "/api/agents", auth=admin)).status == 200
    paths = ["/api/agents", "/api/agents_statuses", "/api/agents/anowak/status"] * 30
    reads = [call(app, "GET", path, auth=admin) for path in paths]
    frees = [call(app, "POST", "/api/agents/jkowalski/free", auth=admin, body=b"")] * 10
    answers = await asyncio.gather(*reads, *frees)
    assert [a.status for a in answers] == [200] * len(reads) + [503] * len(frees)


async def test_a_state_change_shows_in_the_next_poll(
    app: KolejkaApp, components: Components, admin: str
) -> None:
    before = await call(app, "GET", "/api/agents_statuses", auth=admin)
    assert before.json()[0]["status"] == "OFF"
    await put_live(components, "jkowalski", (Membership(2, in_call=True),), LAST_CHANGE)
    after = await call(app, "GET", "/api/agents_statuses", auth=admin)
    assert after.json()[0]["status"] == "INBOUND_CALL"
