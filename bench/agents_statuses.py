"""Benchmark: GET /api/agents_statuses with 500 agents over 50 queues, against the shared ceiling.

500 agents, each a member of one to three of 50 queues, in every state a queue member can be in
(free, paused with a reason, ringing, talking, logged out). `kolejka serve` (uvicorn with uvloop
and httptools, one worker, plus kolejka's connection guards) and ../shared/bench/ceiling.py
(serving the very same bytes under the same uvicorn) take turns under the same wrk load, ROUNDS
times; the ratio app/ceiling is what we report (bar: >= 0.5).

    flock /tmp/kolejka-bench.lock .venv/bin/python -m bench.agents_statuses [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import random
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import against_ceiling
from kolejka.adapters.sqlite.agents import SqliteAgentLive, SqliteAgents
from kolejka.adapters.sqlite.database import Database
from kolejka.bootstrap import build
from kolejka.domain.agents import Membership, NewAgent, off, with_memberships
from kolejka.domain.queues import Queue
from kolejka.settings import Settings

USER, PASSWORD = "api_user", "api_pass"
AUTHORIZATION = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
PATH = "/api/agents_statuses"


def prepare(database: Path, agents: int, queues: int) -> None:
    """A database with `queues` queues and `agents` agents in mixed live states."""
    components = build(Settings(database_url=f"sqlite:///{database}"))
    assert isinstance(components.database, Database)
    directory = SqliteAgents(components.database)
    live = SqliteAgentLive(components.database)
    rng = random.Random(13)
    now = datetime.now(UTC)

    async def fill() -> None:
        await components.api_users.add(USER, PASSWORD, ["*"])
        for queue_id in range(1, queues + 1):
            await components.queues.put(Queue(queue_id, f"Kolejka {queue_id}"))
        pauses = [await directory.pause_named(name) for name in ("Przerwa", "Szkolenie", "Obiad")]
        for index in range(1, agents + 1):
            login = f"agent{index:03d}"
            member_of = tuple(sorted(rng.sample(range(1, queues + 1), rng.randint(1, 3))))
            await components.agents.add(
                NewAgent(
                    login, f"Imię{index}", f"Nazwisko{index}", "", 500 + index, True, member_of
                )
            )
            kind = index % 5  # off, free, paused, ringing, talking
            pause = rng.choice(pauses).pause_id
            memberships = (
                ()
                if kind == 0
                else tuple(
                    Membership(q, kind == 2, pause if kind == 2 else None, kind == 3, kind == 4)
                    for q in member_of
                )
            )
            since = now - timedelta(seconds=rng.randint(1, 3600))
            await live.put(with_memberships(off(login, since), memberships, since))

    asyncio.run(fill())
    components.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--agents", type=int, default=500)
    parser.add_argument("--queues", type=int, default=50)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        database = workdir / "bench.db"
        prepare(database, args.agents, args.queues)
        env = {"KOLEJKA_DATABASE_URL": f"sqlite:///{database}", "KOLEJKA_LOG_LEVEL": "WARNING"}
        print(f"{args.agents} agents over {args.queues} queues")
        against_ceiling(
            env, PATH, AUTHORIZATION, workdir, args.seconds, args.rounds, args.connections
        )


if __name__ == "__main__":
    main()
