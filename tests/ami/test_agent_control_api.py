"""`POST /api/agents/{login}/pause|free|login|logout` end to end: HTTP in, AMI out to a fake
Asterisk on a real socket, the answer only after Asterisk's Response."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kolejka.adapters.ami.listener import AmiListener
from kolejka.adapters.http.app import KolejkaApp
from kolejka.bootstrap import Components
from kolejka.domain.agents import Membership
from kolejka.domain.queues import Queue
from tests.agents.support import JKOWALSKI, pause_id, put_live
from tests.ami.fake_asterisk import FakeAsterisk, events
from tests.ami.helpers import SUPPORT
from tests.support import assert_envelope, call, eventually

CAPTURE = "ami_session_agents_callbacks.txt"
JK = "Local/jkowalski@agent-answer/n"
SINCE = datetime(2026, 11, 30, 21, 55, 10, tzinfo=UTC)


@pytest.fixture
async def admin(
    components: Components, personas: dict[str, str], following: AmiListener, asterisk: FakeAsterisk
) -> str:
    """jkowalski, a member of queue 2 in Asterisk (the capture's QueueMemberAdded) and here."""
    for queue_id, name in ((2, "Obsługa klienta"), (SUPPORT, "Wsparcie"), (8, "Bez kolejki")):
        await components.queues.put(Queue(queue_id, name))
    await components.agents.add(JKOWALSKI)
    asterisk.members[("2", JK)] = ["jkowalski", "0", ""]
    await asterisk.push(events(CAPTURE, "QueueMemberAdded")[0])
    await eventually(lambda: "jkowalski" in following.interfaces)
    await put_live(components, "jkowalski", (Membership(2),), SINCE)
    return personas["admin"]


def sent(asterisk: FakeAsterisk, name: str) -> list[dict[str, str]]:
    return [
        {k: v for k, v in action.items() if k != "ActionID"}
        for action in asterisk.actions
        if action.get("Action") == name
    ]


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
        {"Action": "QueuePause", "Interface": JK, "Paused": "true", "Reason": "Przerwa"}
    ]
    assert asterisk.members[("2", JK)][1:] == ["1", "Przerwa"]
    answer = await call(app, "POST", "/api/agents/jkowalski/free", auth=admin, body=b"")
    assert answer.status == 204
    assert sent(asterisk, "QueuePause")[1]["Paused"] == "false"


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
            "Interface": JK,
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
        {"Action": "QueueRemove", "Queue": "support", "Interface": JK}
    ]
    assert set(asterisk.members) == {("2", JK)}


async def test_logout_removes_every_membership_the_agent_has(
    app: KolejkaApp, asterisk: FakeAsterisk, admin: str
) -> None:
    answer = await call(app, "POST", "/api/agents/jkowalski/logout", auth=admin, body=b"")
    assert answer.status == 204
    assert sent(asterisk, "QueueRemove") == [
        {"Action": "QueueRemove", "Queue": "2", "Interface": JK}
    ]
    assert asterisk.members == {}


async def test_a_refusal_is_409_with_asterisks_words_and_the_state_does_not_move(
    app: KolejkaApp, components: Components, asterisk: FakeAsterisk, admin: str
) -> None:
    asterisk.refuse_actions["QueuePause"] = "Permission denied"
    przerwa = await pause_id(components, "Przerwa")
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
    status = await components.agents.status("jkowalski")
    assert status is not None
    assert (status.state.value, status.last_change) == ("FREE", SINCE)


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
