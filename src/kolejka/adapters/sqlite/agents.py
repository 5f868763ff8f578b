"""SQLite implementations of the agent ports: the agent and pause catalogues, and live records."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from kolejka.adapters.sql.agent_rows import decode_live, encode_memberships
from kolejka.adapters.sql.times import to_micros
from kolejka.adapters.sqlite.database import Database
from kolejka.domain.agents import Agent, AgentLive, NewAgent, Pause
from kolejka.domain.errors import AgentExists

_AGENT_COLUMNS = "agent_id, login, name, surname, email, number, active"


class SqliteAgents:
    """Satisfies ports.AgentDirectory."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.sql = db.connection

    async def get(self, login: str) -> Agent | None:
        row = self.sql.execute(
            f"SELECT {_AGENT_COLUMNS} FROM agents WHERE login = ?",  # noqa: S608
            (login,),
        ).fetchone()
        if row is None:
            return None
        queues = self.sql.execute(
            "SELECT queue_id FROM agent_queues WHERE agent_id = ? ORDER BY queue_id", (row[0],)
        )
        return _agent(row, tuple(q for (q,) in queues))

    async def all(self) -> Sequence[Agent]:
        queues: dict[int, list[int]] = {}
        for agent_id, queue_id in self.sql.execute(
            "SELECT agent_id, queue_id FROM agent_queues ORDER BY agent_id, queue_id"
        ):
            queues.setdefault(agent_id, []).append(queue_id)
        rows = self.sql.execute(
            f"SELECT {_AGENT_COLUMNS} FROM agents ORDER BY agent_id"  # noqa: S608
        )
        return [_agent(row, tuple(queues.get(row[0], ()))) for row in rows]

    async def add(self, agent: NewAgent) -> Agent:
        async with self.db.writing():
            try:
                agent_id = self.sql.execute(
                    "INSERT INTO agents (login, name, surname, email, number, active)"
                    " VALUES (?, ?, ?, ?, ?, ?) RETURNING agent_id",
                    (
                        agent.login,
                        agent.name,
                        agent.surname,
                        agent.email,
                        agent.number,
                        agent.active,
                    ),
                ).fetchone()[0]
            except sqlite3.IntegrityError:
                raise AgentExists(agent.login) from None
            self.sql.executemany(
                "INSERT INTO agent_queues (agent_id, queue_id) VALUES (?, ?)",
                [(agent_id, queue_id) for queue_id in agent.queues],
            )
        return Agent(
            agent_id,
            agent.login,
            agent.name,
            agent.surname,
            agent.email,
            agent.number,
            agent.active,
            tuple(sorted(agent.queues)),
        )

    async def remove(self, login: str) -> bool:
        async with self.db.writing():
            gone = self.sql.execute("DELETE FROM agents WHERE login = ?", (login,))
        return gone.rowcount > 0

    async def pauses(self) -> Sequence[Pause]:
        rows = self.sql.execute("SELECT pause_id, name FROM pauses ORDER BY pause_id")
        return [Pause(pause_id, name) for pause_id, name in rows]

    async def pause_named(self, name: str) -> Pause:
        row = self.sql.execute("SELECT pause_id FROM pauses WHERE name = ?", (name,)).fetchone()
        if row is None:
            async with self.db.writing():
                self.sql.execute(
                    "INSERT INTO pauses (name) VALUES (?) ON CONFLICT (name) DO NOTHING", (name,)
                )
                row = self.sql.execute(
                    "SELECT pause_id FROM pauses WHERE name = ?", (name,)
                ).fetchone()
        return Pause(row[0], name)


def _agent(row: tuple[int, str, str, str, str, int | None, int], queues: tuple[int, ...]) -> Agent:
    return Agent(row[0], row[1], row[2], row[3], row[4], row[5], bool(row[6]), queues)


class SqliteAgentLive:
    """Satisfies ports.AgentLiveStore, in the database file."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.sql = db.connection

    async def get(self, login: str) -> AgentLive | None:
        row = self.sql.execute(
            "SELECT login, state, pause_id, last_change, memberships FROM agent_live"
            " WHERE login = ?",
            (login,),
        ).fetchone()
        return decode_live(*row) if row else None

    async def all(self) -> Sequence[AgentLive]:
        rows = self.sql.execute(
            "SELECT login, state, pause_id, last_change, memberships FROM agent_live"
        )
        return [decode_live(*row) for row in rows]

    async def put(self, live: AgentLive) -> None:
        async with self.db.writing():
            self.sql.execute(
                "INSERT INTO agent_live (login, state, pause_id, last_change, memberships)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (login) DO UPDATE SET state = excluded.state,"
                " pause_id = excluded.pause_id, last_change = excluded.last_change,"
                " memberships = excluded.memberships",
                (
                    live.login,
                    live.state.value,
                    live.pause_id,
                    to_micros(live.last_change),
                    encode_memberships(live),
                ),
            )

    async def remove(self, login: str) -> None:
        async with self.db.writing():
            self.sql.execute("DELETE FROM agent_live WHERE login = ?", (login,))
