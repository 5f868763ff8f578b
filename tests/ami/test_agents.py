"""Agents from Asterisk: the listener against a fake Asterisk on a real socket, replaying the
capture of members being added, paused, rung, connected and removed (real SQLite underneath)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path

import pytest

from kolejka.adapters.ami.listener import AmiListener
from kolejka.bootstrap import Components, build
from kolejka.domain.agents import AgentLive, AgentState, NewAgent
from kolejka.services.agent_sync import AgentSync
from kolejka.services.ports import AgentLiveStore, Change, Topic
from kolejka.settings import Settings
from tests.ami.fake_asterisk import FakeAsterisk, captured_packets, events, with_fields
from tests.ami.helpers import ami_settings
from tests.support import FAST_HASHER, FrozenClock, eventually

AGENTS = "ami_session_agents_callbacks.txt"
FREE, PAUSED, OFF = AgentState.FREE, AgentState.PAUSED, AgentState.OFF
RINGING, TALKING = AgentState.RINGING, AgentState.INBOUND_CALL


class Recording:
    """The live store, noting each agent's (state, pause id) whenever a write changes it."""

    def __init__(self, store: AgentLiveStore) -> None:
        self.store = store
        self.seen: dict[str, list[tuple[AgentState, int | None]]] = {}

    async def get(self, login: str) -> AgentLive | None:
        return await self.store.get(login)

    async def all(self) -> Sequence[AgentLive]:
        return await self.store.all()

    async def put(self, live: AgentLive) -> None:
        await self.store.put(live)
        states = self.seen.setdefault(live.login, [])
        if not states or states[-1] != (live.state, live.pause_id):
            states.append((live.state, live.pause_id))

    async def remove(self, login: str) -> None:
        await self.store.remove(login)


def agent_sync(components: Components) -> AgentSync:
    assert components.ami is not None
    assert components.ami.sync.agents is not None
    return components.ami.sync.agents


@pytest.fixture
def recording(components: Components) -> Recording:
    sync = agent_sync(components)
    sync.live = recording = Recording(sync.live)
    return recording


async def state_of(components: Components, login: str) -> tuple[AgentState, int | None]:
    status = await components.agents.status(login)
    assert status is not None
    return status.state, status.pause_id


async def test_replaying_the_capture_gives_exactly_the_state_sequence_it_shows(
    recording: Recording,
    asterisk: FakeAsterisk,
    following: AmiListener,
    components: Components,
) -> None:
    await asterisk.push(*captured_packets(AGENTS))
    przerwa = 1  # the first pause reason seen: created in the catalogue on first sight
    expected = {
        # added, paused "Przerwa", unpaused, rung, answered, completed, removed
        "jkowalski": [
            (FREE, None),
            (PAUSED, przerwa),
            (FREE, None),
            (RINGING, None),
            (TALKING, None),
            (FREE, None),
            (OFF, None),
        ],
        # added; rung, rang out (AgentRingNoAnswer); rung again, the caller hung up (the phone
        # went idle); rung by the callback, rang out; removed
        "anowak": [
            (FREE, None),
            (RINGING, None),
            (FREE, None),
            (RINGING, None),
            (FREE, None),
            (RINGING, None),
            (FREE, None),
            (OFF, None),
        ],
    }
    await eventually(lambda: recording.seen == expected)
    assert [(p.pause_id, p.name) for p in await components.agents.pauses()] == [(1, "Przerwa")]
    # Members unknown before became agents, named by their login until someone names them.
    agents = await components.agents.all()
    assert [(a.login, a.name, a.number, a.queues) for a in agents] == [
        ("jkowalski", "", None, ()),
        ("anowak", "", None, ()),
    ]
    assert [(s.login, s.state) for s in await components.agents.statuses()] == [
        ("jkowalski", OFF),
        ("anowak", OFF),
    ]


async def test_every_state_change_goes_out_on_the_change_feed(
    asterisk: FakeAsterisk, following: AmiListener, components: Components
) -> None:
    changes: list[Change] = []
    components.changes.subscribe(changes.append)
    await asterisk.push(*events(AGENTS, "QueueMemberAdded")[:1])
    await eventually(lambda: Change(Topic.AGENTS) in changes)
    assert await state_of(components, "jkowalski") == (FREE, None)


async def test_after_a_reconnect_members_are_resynced_from_queue_status(
    asterisk: FakeAsterisk, following: AmiListener, components: Components
) -> None:
    added_jk, added_an = events(AGENTS, "QueueMemberAdded")
    paused = events(AGENTS, "QueueMemberPause")[0]
    await asterisk.push(added_jk, added_an)
    await eventually(lambda: _is(components, "anowak", FREE))
    await asterisk.cut()
    # While no one listens: jkowalski pauses with a new reason, anowak leaves the queue, and
    # a third member joins, talking already.
    asterisk.happen(with_fields(paused, PausedReason="Szkolenie"))
    asterisk.happen(events(AGENTS, "QueueMemberRemoved")[1])
    talking = events(AGENTS, "QueueMemberStatus")[0]
    asterisk.happen(with_fields(talking, MemberName="mwisniewska", Interface="Local/m@a/n"))
    await asterisk.wait_for_login(2)
    await eventually(lambda: _is(components, "anowak", OFF))
    await eventually(lambda: _is(components, "mwisniewska", TALKING))
    pauses = {p.name: p.pause_id for p in await components.agents.pauses()}
    assert await state_of(components, "jkowalski") == (PAUSED, pauses["Szkolenie"])
    status = await components.agents.status("jkowalski")
    assert status is not None
    assert status.queues == (2,)


async def _is(components: Components, login: str, state: AgentState) -> bool:
    status = await components.agents.status(login)
    return status is not None and status.state is state


async def test_an_unknown_member_becomes_an_agent_logged_once(
    asterisk: FakeAsterisk,
    following: AmiListener,
    components: Components,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await components.agents.add(NewAgent("jkowalski", "Jan", "Kowalski", number=559933))
    caplog.set_level(logging.INFO, "kolejka.services.agent_sync")
    await asterisk.push(*events(AGENTS, "QueueMemberAdded", "QueueMemberStatus"))
    await eventually(lambda: _is(components, "anowak", FREE))
    news = [r.getMessage() for r in caplog.records if "new agent" in r.getMessage()]
    assert news == ["queue member 'anowak' is a new agent (login 'anowak'); name it with"
                    " `kolejka agents add`"]  # fmt: skip
    known = await components.agents.get("jkowalski")
    assert known is not None
    assert (known.name, known.number) == ("Jan", 559933)


async def test_a_member_named_by_no_login_is_ignored_and_logged_once(
    asterisk: FakeAsterisk,
    following: AmiListener,
    components: Components,
    caplog: pytest.LogCaptureFixture,
) -> None:
    added = events(AGENTS, "QueueMemberAdded")[0]
    unnamed = with_fields(added, MemberName="PJSIP/201", Interface="PJSIP/201")
    await asterisk.push(unnamed, unnamed, added)
    await eventually(lambda: _is(components, "jkowalski", FREE))
    warned = [r for r in caplog.records if "KOLEJKA_AMI_MEMBERS" in r.getMessage()]
    assert len(warned) == 1
    assert [a.login for a in await components.agents.all()] == ["jkowalski"]


async def test_a_members_map_names_the_agent_of_an_interface(
    asterisk: FakeAsterisk, database_path: Path, clock: FrozenClock
) -> None:
    settings = ami_settings(
        Settings(database_url=f"sqlite:///{database_path}"),
        asterisk,
        ami_members="PJSIP/201=jkowalski",
    )
    components = build(settings, clock=clock, hasher=FAST_HASHER)
    assert components.ami is not None
    task = asyncio.create_task(components.ami.run())
    try:
        await eventually(lambda: components.ami is not None and components.ami.link.up)
        added = events(AGENTS, "QueueMemberAdded")[0]
        await asterisk.push(with_fields(added, MemberName="201", Interface="PJSIP/201"))
        await eventually(lambda: _is(components, "jkowalski", FREE))
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await components.aclose()


async def test_a_pause_keeps_its_id_across_restarts(
    asterisk: FakeAsterisk, following: AmiListener, components: Components, settings: Settings
) -> None:
    added = events(AGENTS, "QueueMemberAdded")[0]
    paused = events(AGENTS, "QueueMemberPause")[0]
    await asterisk.push(added, with_fields(paused, PausedReason="Obiad"), paused)
    await eventually(lambda: _is(components, "jkowalski", PAUSED))
    before = {p.name: p.pause_id for p in await components.agents.pauses()}
    assert set(before) == {"Obiad", "Przerwa"}
    again = build(settings, hasher=FAST_HASHER)
    try:
        assert agent_sync(again) is not agent_sync(components)
        assert await agent_sync(again).pause_id("Przerwa") == before["Przerwa"]
        assert await agent_sync(again).pause_id("Obiad") == before["Obiad"]
    finally:
        again.close()
