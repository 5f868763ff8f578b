"""The AMI lease as a PostgreSQL advisory lock (ports.Lease), for deployments without Redis.

The lock belongs to a session: the holder keeps a connection of its own, and renewing is checking
that this connection still answers. When the holder dies its connection closes and PostgreSQL
frees the lock at once; when its host vanishes without closing anything, the session's
`idle_session_timeout` (the lease term; the holder speaks more often than that) ends it.
"""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg

from kolejka.adapters.postgres.database import LEASE_LOCK, PostgresDatabase, lock_key


class PostgresLease:
    """Satisfies ports.Lease."""

    def __init__(self, db: PostgresDatabase, seconds: float) -> None:
        self.db = db
        self.seconds = seconds
        self._connection: asyncpg.Connection[asyncpg.Record] | None = None

    async def acquire(self) -> bool:
        if self._connection is not None and not self._connection.is_closed():
            return await self.renew()
        connection = await self.db.connect(
            server_settings={"idle_session_timeout": str(int(self.seconds * 1000))}
        )
        try:
            held = await connection.fetchval(
                "SELECT pg_try_advisory_lock($1, hashtext(current_schema()))",
                lock_key(LEASE_LOCK),
                timeout=self.db.timeout,
            )
        except BaseException:
            connection.terminate()
            raise
        if not held:
            await self._close(connection)
            return False
        self._connection = connection
        return True

    async def renew(self) -> bool:
        connection = self._connection
        if connection is None or connection.is_closed():
            return False
        try:
            await connection.fetchval("SELECT 1", timeout=self.db.timeout)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            # The session, and with it the lock, may be gone: this hold is over either way.
            self._connection = None
            connection.terminate()
            return False
        return True

    async def release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await self._close(connection)

    async def _close(self, connection: asyncpg.Connection[asyncpg.Record]) -> None:
        # Closing the session frees the lock; no unlock needed first.
        with contextlib.suppress(Exception):
            async with asyncio.timeout(self.db.timeout):
                await connection.close()
        if not connection.is_closed():
            connection.terminate()
