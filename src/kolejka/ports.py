"""The ports: what the application needs from the outside world, as small Protocols.

Adapters (SQLite today; PostgreSQL, Redis, AMI, external CRMs beside it) satisfy these. Only
`bootstrap.py` chooses which adapter stands behind each port.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from kolejka.domain.customers import CustomerMatch
from kolejka.domain.queues import Departure, Queue, WaitingCaller


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, aware, in UTC."""
        ...


class QueueDirectory(Protocol):
    """The queues callers can wait in."""

    async def get(self, queue_id: int) -> Queue | None: ...

    async def all(self) -> Sequence[Queue]: ...

    async def put(self, queue: Queue) -> None: ...

    async def remove(self, queue_id: int) -> bool: ...


class WaitingCallerStore(Protocol):
    """The live waiting lists, and the record of callers who left (for wait estimates)."""

    async def join(self, caller: WaitingCaller) -> WaitingCaller:
        """Adds `caller`; if its call already waits, changes nothing and returns the stored one."""
        ...

    async def find(self, call_id: str) -> WaitingCaller | None: ...

    async def leave(self, departure: Departure) -> bool:
        """Removes the call and records `departure`, atomically; False if it was not waiting."""
        ...

    async def waiting(self, queue_id: int) -> Sequence[tuple[int, WaitingCaller]]:
        """The callers waiting in a queue, each with its join sequence number."""
        ...

    async def answered_holds(self, queue_id: int, since: datetime, limit: int) -> list[timedelta]:
        """Hold times of the latest callers answered in a queue since `since`, newest first."""
        ...


class CustomerDirectory(Protocol):
    """The CRM as the waiting list asks it: who owns this (E.164) number?"""

    async def owners(self, e164: str, limit: int = 2) -> Sequence[CustomerMatch]:
        """Up to `limit` distinct owners of the number; two already make it ambiguous."""
        ...


@dataclass(frozen=True, slots=True)
class StoredApiUser:
    username: str
    password_hash: str
    permissions: tuple[str, ...]


class ApiUserStore(Protocol):
    async def get(self, username: str) -> StoredApiUser | None: ...

    async def all(self) -> Sequence[StoredApiUser]: ...

    async def put(self, user: StoredApiUser) -> None: ...

    async def remove(self, username: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class Change:
    """Something read models must forget. `queue_id` None means every queue (a CRM edit, say)."""

    topic: str  # "queue", "crm", "users", "all"
    queue_id: int | None = None


Listener = Callable[[Change], None]


class ChangeFeed(Protocol):
    """Tells every part of every instance that data changed, so caches can be dropped."""

    def subscribe(self, listener: Listener) -> None: ...

    async def publish(self, change: Change) -> None: ...


Task = Callable[[], Awaitable[None]]
