"""PostgreSQL implementations of the agent ports; the tables are SQLite's (0003_agents.sql)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from kolejka.adapters.postgres.database import Connection, PostgresDatabase
from kolejka.adapters.sql.agent_rows import decode_live, encode_memberships
from kolejka.adapters.sql.times import to_micros
from kolejka.domain.agents import Agent, AgentLive, NewAgent, Pause
from kolejka.domain.errors import AgentExists

_AGENT_COLUMNS = "agent_id, login, name, surname, email, number, active"


class PostgresAgents:
    """Satisfies ports.AgentDirectory."""

    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db

    async def get(self, login: str) -> Agent | None:
        row = await self.db.fetchrow(
            f"SELECT {_AGENT_COLUMNS}, ARRAY(SELECT queue_id FROM agent_queues q"  # noqa: S608
            " WHERE q.agent_id = a.agent_id ORDER BY queue_id) FROM agents a WHERE login = $1",
            login,
        )
        return _agent(row) if row else None

    async def all(self) -> Sequence[Agent]:
        rows = await self.db.fetch(
            f"SELECT {_AGENT_COLUMNS}, ARRAY(SELECT queue_id FROM agent_queues q"  # noqa: S608
            " WHERE q.agent_id = a.agent_id ORDER BY queue_id) FROM agents a ORDER BY agent_id"
        )
        return [_agent(row) for row in rows]

    async def add(self, agent: NewAgent) -> Agent:
        async def insert(sql: Connection) -> int:
            agent_id: int = await sql.fetchval(
                "INSERT INTO agents (login, name, surname, email, number, active)"
                " VALUES ($1, $2, $3, $4, $5, $6) RETURNING agent_id",
                agent.login,
                agent.name,
                agent.surname,
                agent.email,
                agent.number,
                agent.active,
            )
            await sql.executemany(
                "INSERT INTO agent_queues (agent_id, queue_id) VALUES ($1, $2)",
                [(agent_id, queue_id) for queue_id in agent.queues],
            )
            return agent_id

        try:
            agent_id = await self.db.transaction(insert)
        except asyncpg.UniqueViolationError:
            raise AgentExists(agent.login) from None
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
        return await self.db.execute("DELETE FROM agents WHERE login = $1", login) > 0

    async def pauses(self) -> Sequence[Pause]:
        rows = await self.db.fetch("SELECT pause_id, name FROM pauses ORDER BY pause_id")
        return [Pause(row[0], row[1]) for row in rows]

    async def pause_named(self, name: str) -> Pause:
        pause_id = await self.db.fetchval("SELECT pause_id FROM pauses WHERE name = $1", name)
        if pause_id is None:
            # Two instances seeing a new reason at once: one insert wins, both read its id.
            await self.db.execute(
                "INSERT INTO pauses (name) VALUES ($1) ON CONFLICT (name) DO NOTHING", name
            )
            pause_id = await self.db.fetchval("SELECT pause_id FROM pauses WHERE name = $1", name)
        return Pause(pause_id, name)


def _agent(row: asyncpg.Record) -> Agent:
    return Agent(row[0], row[1], row[2], row[3], row[4], row[5], row[6], tuple(row[7]))


class PostgresAgentLive:
    """Satisfies ports.AgentLiveStore, in the database."""

    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db

    async def get(self, login: str) -> AgentLive | None:
        row = await self.db.fetchrow(
            "SELECT login, state, pause_id, last_change, memberships FROM agent_live"
            " WHERE login = $1",
            login,
        )
        return decode_live(row[0], row[1], row[2], row[3], row[4]) if row else None

    async def all(self) -> Sequence[AgentLive]:
        rows = await self.db.fetch(
            "SELECT login, state, pause_id, last_change, memberships FROM agent_live"
        )
        return [decode_live(row[0], row[1], row[2], row[3], row[4]) for row in rows]

    async def put(self, live: AgentLive) -> None:
        await self.db.execute(
            "INSERT INTO agent_live (login, state, pause_id, last_change, memberships)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (login) DO UPDATE SET"
            " state = excluded.state, pause_id = excluded.pause_id,"
            " last_change = excluded.last_change, memberships = excluded.memberships",
            live.login,
            live.state.value,
            live.pause_id,
            to_micros(live.last_change),
            encode_memberships(live),
        )

    async def remove(self, login: str) -> None:
        await self.db.execute("DELETE FROM agent_live WHERE login = $1", login)
