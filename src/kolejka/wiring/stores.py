"""What the storage adapters of one engine hand to the composition root."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kolejka.adapters.local.known_addresses import LocalKnownAddresses
from kolejka.observability.health import HealthCheck
from kolejka.services.pbx_sync import Transaction
from kolejka.services.ports import (
    AgentDirectory,
    AgentLiveStore,
    ApiUserStore,
    CallbackStore,
    ChangeFeed,
    ConnectionStore,
    CrmStore,
    CustomerDirectory,
    FailureCounter,
    KnownAddresses,
    Lease,
    QueueDirectory,
    Task,
    WaitingCallerStore,
    WebhookStore,
)

if TYPE_CHECKING:
    from kolejka.adapters.postgres.database import PostgresDatabase
    from kolejka.adapters.redis.connection import RedisConnection
    from kolejka.adapters.sqlite.database import Database


@dataclass
class Stores:
    """The adapters chosen for the storage ports, and what they need to run and to stop."""

    database: Database | PostgresDatabase
    queues: QueueDirectory
    callers: WaitingCallerStore
    customers: CustomerDirectory
    users: ApiUserStore
    crm: CrmStore
    connections: ConnectionStore
    changes: ChangeFeed
    failures: FailureCounter
    agents: AgentDirectory
    agent_live: AgentLiveStore
    callbacks: CallbackStore
    # Addresses that signed in lately as each user: spared the per-user login limit.
    known_addresses: KnownAddresses = field(default_factory=LocalKnownAddresses)
    transaction: Transaction = nullcontext
    lease: Lease | None = None  # only where several instances may run (PostgreSQL, Redis)
    redis: RedisConnection | None = None
    background: list[Task] = field(default_factory=list)
    checks: list[HealthCheck] = field(default_factory=list)
    webhooks: WebhookStore | None = None
