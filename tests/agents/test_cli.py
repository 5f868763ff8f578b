"""`kolejka agents ...`, run as the real command in a subprocess against an SQLite file."""

from __future__ import annotations

import asyncio
from pathlib import Path

from kolejka.bootstrap import build
from kolejka.domain.agents import (
    AgentConnected,
    MemberAdded,
    MemberPaused,
    MemberReport,
)
from kolejka.settings import Settings
from tests.cli import kolejka, kolejka_at
from tests.servers import fresh_schema


def test_agents_are_added_listed_and_removed(tmp_path: Path) -> None:
    db = tmp_path / "kolejka.db"
    added = kolejka(
        db,
        "agents", "add", "jkowalski",
        "--name", "Jan", "--surname", "Kowalski", "--email", "jan@example.org",
        "--number", "559933", "--queues", "2,7",
    )  # fmt: skip
    assert (added.returncode, added.stdout) == (0, "added agent jkowalski (agent_id 1)\n")
    assert kolejka(db, "agents", "add", "anowak", "--inactive").returncode == 0
    listed = kolejka(db, "agents", "list")
    assert listed.returncode == 0
    assert listed.stdout.splitlines() == [
        "1\tjkowalski\tJan\tKowalski\tjan@example.org\t559933\t2,7\tactive\tOFF",
        "2\tanowak\t\t\t\t\t\tinactive\tOFF",
    ]
    removed = kolejka(db, "agents", "remove", "anowak")
    assert (removed.returncode, removed.stdout) == (0, "removed agent anowak\n")
    assert len(kolejka(db, "agents", "list").stdout.splitlines()) == 1


def test_the_list_shows_the_state_the_pbx_reported(tmp_path: Path) -> None:
    db = tmp_path / "kolejka.db"
    assert kolejka(db, "agents", "add", "jkowalski").returncode == 0
    report_member(db, "jkowalski", in_call=True)
    listed = kolejka(db, "agents", "list")
    assert listed.stdout.splitlines()[-1].endswith("\tINBOUND_CALL")


def test_pauses_list_the_catalogue_the_pbx_filled(tmp_path: Path) -> None:
    db = tmp_path / "kolejka.db"
    assert kolejka(db, "agents", "pauses").stdout == ""
    report_member(db, "jkowalski", reason="Przerwa")
    report_member(db, "anowak", reason="Szkolenie")
    pauses = kolejka(db, "agents", "pauses")
    assert (pauses.returncode, pauses.stdout) == (0, "1\tPrzerwa\n2\tSzkolenie\n")


def test_bad_input_is_a_message_and_exit_status_1_without_a_traceback(tmp_path: Path) -> None:
    db = tmp_path / "kolejka.db"
    assert kolejka(db, "agents", "add", "jkowalski").returncode == 0
    for args, message in [
        (("add", "jkowalski"), "an agent with login 'jkowalski' exists"),
        (("add", "PJSIP/201"), "login: must be 1-64 letters"),
        (("add", "x", "--number", "12a"), "a number is up to 15 digits"),
        (("add", "x", "--queues", "2,zero"), "a queue id is a positive integer"),
        (("add", "x", "--name", "J\x85an"), "name: must not contain control characters"),
        (("remove", "nobody"), "no agent nobody"),
    ]:
        answer = kolejka(db, "agents", *args)
        assert answer.returncode == 1, args
        assert message in answer.stderr, (args, answer.stderr)
        assert "Traceback" not in answer.stderr
    assert len(kolejka(db, "agents", "list").stdout.splitlines()) == 1


async def test_the_commands_work_on_postgresql(postgres_url: str) -> None:
    async with fresh_schema(postgres_url) as url:
        added = await asyncio.to_thread(
            kolejka_at, url, "agents", "add", "jkowalski", "--queues", "3"
        )
        assert added.returncode == 0, added.stderr
        listed = await asyncio.to_thread(kolejka_at, url, "agents", "list")
        assert listed.stdout == "1\tjkowalski\t\t\t\t\t3\tactive\tOFF\n"
        removed = await asyncio.to_thread(kolejka_at, url, "agents", "remove", "jkowalski")
        assert removed.returncode == 0


def report_member(db: Path, login: str, reason: str = "", in_call: bool = False) -> None:
    """What the PBX follower does when a member is added (paused, or talking)."""
    components = build(Settings(database_url=f"sqlite:///{db}"))

    async def report() -> None:
        member = MemberReport(login, 2, bool(reason), reason, in_call=False)
        await components.agent_sync.report(MemberAdded(member))
        if reason:
            await components.agent_sync.report(MemberPaused(member))
        if in_call:
            await components.agent_sync.report(AgentConnected(login, 2, "c1", None, None))
        await components.aclose()

    asyncio.run(report())
