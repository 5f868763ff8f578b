"""What the contract suite's fixtures (tests/contract/conftest.py) hand to a test: the stores of
one database, the live waiting lists, and makers of change feeds and leases of one deployment."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from kolejka.adapters.shared_feed import SharedFeed
from kolejka.adapters.sql.webhooks import SqlWebhooks
from kolejka.services.ports import (
    ApiUserStore,
    CallbackStore,
    ConnectionStore,
    CrmStore,
    CustomerDirectory,
    Lease,
    QueueDirectory,
    WaitingCallerStore,
)


@dataclass
class SqlStores:
    engine: str
    queues: QueueDirectory
    users: ApiUserStore
    crm: CrmStore
    customers: CustomerDirectory
    connections: ConnectionStore
    webhooks: SqlWebhooks


@dataclass
class LiveLists:
    engine: str
    callers: WaitingCallerStore
    add_queue: Callable[[int], Awaitable[None]]
    # The outbox the lists' events end in (for Redis: an SQLite one, relayed into).
    outbox: SqlWebhooks
    relay: Callable[[], Awaitable[None]]


@dataclass
class CallbackRecords:
    """A callback store with the call history and the webhooks' outbox of its database."""

    callbacks: CallbackStore
    connections: ConnectionStore
    outbox: SqlWebhooks


FeedFactory = Callable[[], Awaitable[SharedFeed]]


LeaseFactory = Callable[[float], Lease]
