"""`POST /api/agents/{login}/pause|free|login|logout` end to end: HTTP in, AMI out to a fake
Asterisk on a real socket, the answer only after Asterisk's Response."""

from __future__ import annotations

import pytest

from kolejka.adapters.ami.listener import AmiListener
from kolejka.adapters.http.app import KolejkaApp
from kolejka.bootstrap import Components
from kolejka.domain.agents import AgentStatus
from kolejka.domain.queues import Queue
from tests.agents.support import JKOWALSKI, pause_id
from tests.ami.fake_asterisk import FakeAsterisk, events
from tests.ami.helpers import AGENTS_CAPTURE, JK_INTERFACE, SUPPORT, paused_as, sent
from tests.support import assert_envelope, call, eventually


@pytest.fixture
async def admin(
    components: Components, personas: dict[str, str], following: AmiListener, asterisk: FakeAsterisk
) -> str:
    """jkowalski, a member of queue 2 in Asterisk (the capture's QueueMemberAdded) and here."""
    for queue_id, name in ((2, "Obsługa klienta"), (SUPPORT, "Wsparcie"), (8, "Bez kolejki")):
        await components.queues.put(Queue(queue_id, name))
    await components.agents.add(JKOWALSKI)
    await asterisk.push(events(AGENTS_CAPTURE, "QueueMemberAdded")[0])
    await eventually(lambda: "jkowalski" in following.interfaces)
    await until_status(components, "FREE")
    return personas["admin"]


async def until_status(components: Components, state: str) -> AgentStatus:
    found: AgentStatus | None = None

    async def reached() -> bool:
        nonlocal found
        found = await components.agents.status("jkowalski")
        assert found is not None
        assert found.state.value == state, found
        return True

    await eventually(reached)
    assert found is not None
    return found


async def test_pause_sends_queuepause_with_the_pause_name_and_answers_204_once_confirmed(
    app: KolejkaApp, components: Components, asterisk: FakeAsterisk, admin: str
) -> None:
    przerwa = await pause_id(components, "Przerwa")
    answer = await call(
        app, "POST", "/api/agents/jkowalski/pause", auth=admin, json_body={"pause_id": przerwa}
    )
    assert (answer.status, answer.body) == (204, b"")
    assert "content-type" not in answer.headers
    assert sent(asterisk, "QueuePause") == [
        {
            "Action": "QueuePause",
            "Interface": JK_INTERFACE,
            "Paused": "true",
            "Reason": "Przerwa",
        }
    ]
    assert paused_as(asterisk, "2") == ("1", "Przerwa")
    # The state follows Asterisk's QueueMemberPause, not the request.
    paused = await until_status(components, "PAUSED")
    assert paused.pause_id == przerwa
    answer = await call(app, "POST", "/api/agents/jkowalski/free", auth=admin, body=b"")
    assert answer.status == 204
    assert sent(asterisk, "QueuePause")[1]["Paused"] == "false"
    assert (await until_status(components, "FREE")).pause_id is None


async def test_login_without_a_list_uses_the_configured_queues_and_skips_those_joined(
    app: KolejkaApp, asterisk: FakeAsterisk, admin: str
) -> None:
    # JKOWALSKI is configured for queue 2 only, and is a member of it already.
    answer = await call(app, "POST", "/api/agents/jkowalski/login", auth=admin, body=b"{}")
    assert answer.status == 204
    assert sent(asterisk, "QueueAdd") == []
    answer = await call(
        app, "POST", "/api/agents/jkowalski/login", auth=admin, json_body={"queues": [SUPPORT, 2]}
    )
    assert answer.status == 204
    assert sent(asterisk, "QueueAdd") == [
        {
            "Action": "QueueAdd",
            "Queue": "support",
            "Interface": JK_INTERFACE,
            "MemberName": "jkowalski",
            "Paused": "false",
        }
    ]


async def test_a_login_refused_for_one_queue_takes_back_the_others(
    app: KolejkaApp, asterisk: FakeAsterisk, admin: str
) -> None:
    # Queue 8 exists in kolejka, not in Asterisk: "No such queue".
    answer = await call(
        app, "POST", "/api/agents/jkowalski/login", auth=admin, json_body={"queues": [SUPPORT, 8]}
    )
    assert_envelope(answer, 409, 409007)
    assert "No such queue" in answer.json()["errors"][0]["message"]
    assert [a["Queue"] for a in sent(asterisk, "QueueAdd")] == ["support", "8"]
    assert sent(asterisk, "QueueRemove") == [
        {"Action": "QueueRemove", "Queue": "support", "Interface": JK_INTERFACE}
    ]
    assert set(asterisk.members) == {("2", "jkowalski")}


async def test_logout_removes_every_membership_the_agent_has(
    app: KolejkaApp, asterisk: FakeAsterisk, admin: str
) -> None:
    answer = await call(app, "POST", "/api/agents/jkowalski/logout", auth=admin, body=b"")
    assert answer.status == 204
    assert sent(asterisk, "QueueRemove") == [
        {"Action": "QueueRemove", "Queue": "2", "Interface": JK_INTERFACE}
    ]
    assert asterisk.members == {}


async def test_a_refusal_is_409_with_asterisks_words_and_the_state_does_not_move(
    app: KolejkaApp, components: Components, asterisk: FakeAsterisk, admin: str
) -> None:
    asterisk.refuse_actions["QueuePause"] = "Permission denied"
    przerwa = await pause_id(components, "Przerwa")
    before = await components.agents.status("jkowalski")
    answer = await call(
        app,
        "POST",
        "/api/agents/jkowalski/pause",
        auth=admin,
        json_body={"pause_id": przerwa},
        headers={"Accept-Language": "pl"},
    )
    assert_envelope(answer, 409, 409007)
    assert "Permission denied" in answer.json()["errors"][0]["message"]
    assert "Centrala odmówiła" in answer.json()["errors"][0]["message"]
    assert await components.agents.status("jkowalski") == before


async def test_with_asterisk_gone_the_answer_is_503_and_nothing_is_sent(
    app: KolejkaApp, asterisk: FakeAsterisk, following: AmiListener, admin: str
) -> None:
    await asterisk.stop()
    await eventually(lambda: not following.link.up)
    before = len(asterisk.actions)
    answer = await call(app, "POST", "/api/agents/jkowalski/free", auth=admin, body=b"")
    assert_envelope(answer, 503, 503002)
    assert len(asterisk.actions) == before


async def test_an_unanswered_action_is_503_unconfirmed(
    app: KolejkaApp, asterisk: FakeAsterisk, admin: str
) -> None:
    asterisk.ignore_actions.add("QueuePause")
    answer = await call(app, "POST", "/api/agents/jkowalski/free", auth=admin, body=b"")
    assert_envelope(answer, 503, 503003)
