"""Agents' live records in Redis, beside the live waiting lists (ports.AgentLiveStore).

With KOLEJKA_LIVE_URL set, everything live is in Redis; the agent and pause catalogues stay in
the database, as queues do. One key, `agents`: a hash, login -> the record as JSON
(kolejka.adapters.sql.agent_rows), so every agent's state is one HGETALL.
"""

from __future__ import annotations

from collections.abc import Sequence

from kolejka.adapters.redis.connection import RedisConnection
from kolejka.adapters.sql.agent_rows import decode_record, encode_record
from kolejka.domain.agents import AgentLive


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisAgentLive:
    def __init__(self, connection: RedisConnection) -> None:
        self.redis = connection
        self.key = connection.key("agents")

    async def get(self, login: str) -> AgentLive | None:
        record = await self.redis.run(lambda client: client.hget(self.key, login))
        return decode_record(login, record) if record is not None else None

    async def all(self) -> Sequence[AgentLive]:
        records = await self.redis.run(lambda client: client.hgetall(self.key))
        return [decode_record(_text(login), record) for login, record in records.items()]

    async def put(self, live: AgentLive) -> None:
        record = encode_record(live)
        await self.redis.run(lambda client: client.hset(self.key, live.login, record))

    async def remove(self, login: str) -> None:
        await self.redis.run(lambda client: client.hdel(self.key, login))
