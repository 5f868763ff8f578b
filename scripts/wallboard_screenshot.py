"""Takes docs/wallboard.png: the wallboard of the demo data, in headless Chromium.

    .venv/bin/python scripts/wallboard_screenshot.py [--out docs/wallboard.png] [--lang en]

It seeds a fresh database as `kolejka serve --demo` does, puts callers in the three queues with
waits long enough to show each colour, and agents in every state a queue member can be in,
starts `kolejka serve`, and shoots the whole page, 1600 wide (in a 900-high window, so that the
type is sized as on a 16:9 screen).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from playwright.sync_api import sync_playwright

from kolejka import demo
from kolejka.adapters.sqlite.agents import SqliteAgentLive, SqliteAgents
from kolejka.adapters.sqlite.database import Database
from kolejka.bootstrap import Components, build
from kolejka.domain.agents import Membership, NewAgent, off, with_memberships
from kolejka.domain.queues import Outcome
from kolejka.services.wallboard_tokens import WallboardTokens
from kolejka.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
# (queue, call id, phone number, seconds waited)
CALLERS = [
    (1, "s1", "+48 500 600 700", 48),
    (1, "s2", "613459852", 12),
    (2, "o1", "746842523", 214),
    (2, "o2", "+48601100200", 131),
    (2, "o3", "602300400", 75),
    (2, "o4", "anonymous", 31),
    (2, "o5", "+4915110000001", 6),
    (3, "r1", "+48-61-345-98-52", 95),
]

# (login, name, surname, seconds in state, memberships: (queue, paused, ringing, in call))
AGENTS = [
    ("jkowalski", "Jan", "Kowalski", 184, [(2, False, False, True)]),
    ("anowak", "Anna", "Nowak", 412, [(2, True, False, False), (3, True, False, False)]),
    ("pzielinski", "Piotr", "Zieliński", 9, [(2, False, True, False)]),
    ("mwojcik", "Maria", "Wójcik", 57, [(1, False, False, False), (2, False, False, False)]),
    ("kwisniewska", "Katarzyna", "Wiśniewska", 1290, [(1, False, False, True)]),
    ("tlewandowski", "Tomasz", "Lewandowski", 33, [(3, False, False, False)]),
]


async def seed_agents(components: Components) -> None:
    """Agents and their states, stored as following the PBX would store them."""
    assert isinstance(components.database, Database)
    directory = SqliteAgents(components.database)
    live = SqliteAgentLive(components.database)
    pause = await directory.pause_named("Przerwa")
    now = components.clock.now()
    for login, name, surname, seconds, members in AGENTS:
        queues = tuple(queue for queue, *_ in members)
        if await components.agents.get(login) is None:  # the demo seeds some agents itself
            await components.agents.add(NewAgent(login, name, surname, queues=queues))
        memberships = tuple(
            Membership(q, paused, pause.pause_id if paused else None, ringing, talking)
            for q, paused, ringing, talking in members
        )
        since = now - timedelta(seconds=seconds)
        await live.put(with_memberships(off(login, since), memberships, since))


async def seed(database: Path) -> str:
    components = build(Settings(database_url=f"sqlite:///{database}"))
    try:
        await demo.seed(components)
        lists = components.lists
        for _, caller in await components.callers.waiting(2):
            await lists.leave(caller.call_id, Outcome.ABANDONED)
        now = components.clock.now()
        # A few answered calls, so the expected waits come from hold times.
        for queue_id, held in ((1, 40), (2, 150), (2, 110), (3, 70)):
            call_id = f"done-{queue_id}-{held}"
            await lists.join(queue_id, call_id, "840526437", "", now - timedelta(seconds=held))
            await lists.leave(call_id, Outcome.ANSWERED, timedelta(seconds=held))
        for queue_id, call_id, number, waited in CALLERS:
            await lists.join(queue_id, call_id, number, "", now - timedelta(seconds=waited))
        await seed_agents(components)
        # Callbacks due next: one asked for by a caller in the queue, one for a later hour.
        await components.callbacks.schedule(2, "+48 601 100 200", now + timedelta(minutes=3))
        await components.callbacks.schedule(2, "+48 512 345 678", now + timedelta(minutes=40))
        await components.history.flush()
        return await WallboardTokens(components.api_users).create("screenshot")
    finally:
        components.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "wallboard.png")
    parser.add_argument("--lang", default="en", choices=["en", "pl"])
    parser.add_argument("--width", type=int, default=1600)
    parser.add_argument("--height", type=int, default=900)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "kolejka.db"
        token = asyncio.run(seed(database))
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = subprocess.Popen(
            [sys.executable, "-m", "kolejka", "serve", "--port", str(port)],
            env={**os.environ, "KOLEJKA_DATABASE_URL": f"sqlite:///{database}"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(1.5)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path="/usr/bin/chromium",
                    args=["--headless", "--no-sandbox", "--disable-gpu"],
                )
                page = browser.new_page(viewport={"width": args.width, "height": args.height})
                page.goto(f"http://127.0.0.1:{port}/wallboard?token={token}&lang={args.lang}")
                page.wait_for_selector('#status[data-state="live"]')
                page.wait_for_timeout(1500)
                page.screenshot(path=str(args.out), full_page=True)
                browser.close()
        finally:
            server.terminate()
            server.wait(10)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
