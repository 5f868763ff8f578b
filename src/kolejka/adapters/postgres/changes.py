"""The change feed between instances over PostgreSQL LISTEN/NOTIFY (ports.ChangeFeed).

For deployments on PostgreSQL alone (no Redis): several instances, and the `kolejka` commands
run beside them, tell each other what changed. The channel is named after the schema, so
deployments in separate schemas of one database do not hear each other. `run` is the listener,
a background task on a connection of its own, checked every second and reopened when it fails.

PostgreSQL hands a notification to the listening sessions after the sender's commit has
returned, so a client that hears "saved" from one instance could ask another before that one has
heard. `publish` therefore waits (briefly) until this instance's own listener hears the change
back: by then every listener has been sent it, and the other instance's next request is right.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from kolejka.adapters.postgres.database import PostgresDatabase
from kolejka.adapters.shared_feed import SharedFeed

log = logging.getLogger(__name__)

CHECK_SECONDS = 1.0
ECHO_SECONDS = 0.5


class PostgresChangeFeed(SharedFeed):
    """Satisfies ports.ChangeFeed across the instances of one PostgreSQL schema."""

    server = "PostgreSQL"

    def __init__(self, db: PostgresDatabase, origin: str | None = None) -> None:
        super().__init__(origin)
        self.db = db
        self._channel: str | None = None
        self._echoes: dict[str, list[asyncio.Future[None]]] = {}

    async def channel(self) -> str:
        if self._channel is None:
            schema = await self.db.fetchval("SELECT current_schema()")
            self._channel = f"kolejka.{schema}"
        return self._channel

    async def send(self, message: str) -> None:
        channel = await self.channel()
        if not self.connected:
            await self.db.execute("SELECT pg_notify($1, $2)", channel, message)
            return
        echo = asyncio.get_running_loop().create_future()
        self._echoes.setdefault(message, []).append(echo)
        try:
            await self.db.execute("SELECT pg_notify($1, $2)", channel, message)
            async with asyncio.timeout(ECHO_SECONDS):
                await asyncio.shield(echo)
        except TimeoutError:
            log.debug("change feed: our own notification did not come back in time")
        finally:
            waiting = self._echoes.get(message, [])
            if echo in waiting:
                waiting.remove(echo)
            if not waiting:
                self._echoes.pop(message, None)

    def heard(self, message: str) -> None:
        waiting = self._echoes.get(message)
        if waiting:
            echo = waiting.pop(0)
            if not echo.done():
                echo.set_result(None)
            return
        super().heard(message)

    async def listen(self) -> None:
        connection = await self.db.connect()
        lost = asyncio.get_running_loop().create_future()

        def on_notification(_: object, __: int, ___: str, payload: object) -> None:
            self.heard(str(payload))

        def on_termination(_: object) -> None:
            if not lost.done():
                lost.set_result(None)

        try:
            schema = await connection.fetchval("SELECT current_schema()")
            self._channel = f"kolejka.{schema}"
            await connection.add_listener(self._channel, on_notification)
            connection.add_termination_listener(on_termination)
            await self.linked()
            log.info("change feed: listening on %s", self.db.where)
            while not lost.done():
                await asyncio.wait({lost}, timeout=CHECK_SECONDS)
                if not lost.done():
                    await connection.fetchval("SELECT 1", timeout=self.db.timeout)
        finally:
            try:
                async with asyncio.timeout(self.db.timeout):
                    await connection.close()
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                connection.terminate()
