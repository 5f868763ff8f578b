"""PostgreSQL: several instances share the database; the change feed between them is
LISTEN/NOTIFY and the AMI lease an advisory lock (unless Redis is named too)."""

from __future__ import annotations

from collections.abc import Iterator

from kolejka.adapters.local.failures import LocalFailureCounter
from kolejka.adapters.postgres.agents import PostgresAgentLive, PostgresAgents
from kolejka.adapters.postgres.callbacks import PostgresCallbacks
from kolejka.adapters.postgres.changes import PostgresChangeFeed
from kolejka.adapters.postgres.crm import PostgresCrm
from kolejka.adapters.postgres.crm_import import PostgresCrmImport, export_rows
from kolejka.adapters.postgres.database import PostgresDatabase
from kolejka.adapters.postgres.lease import PostgresLease
from kolejka.adapters.postgres.stores import (
    PostgresApiUsers,
    PostgresConnections,
    PostgresCustomers,
    PostgresQueues,
    PostgresWaitingCallers,
)
from kolejka.adapters.postgres.webhooks import postgres_webhooks
from kolejka.observability.health import FeedCheck, StoreCheck
from kolejka.services.ports import CrmImport
from kolejka.settings import Settings
from kolejka.wiring.stores import Stores


def postgres_stores(settings: Settings) -> Stores:
    """The stores on PostgreSQL; the feed's health check only where Redis does not carry the
    changes instead (kolejka.wiring.redis replaces the feed and its check)."""
    timeout = settings.store_timeout_seconds
    pg = PostgresDatabase(settings.database_url, timeout, settings.database_pool_size)
    pg.migrate_now()
    feed = PostgresChangeFeed(pg)
    stores = Stores(
        database=pg,
        queues=PostgresQueues(pg),
        callers=PostgresWaitingCallers(pg),
        customers=PostgresCustomers(pg),
        users=PostgresApiUsers(pg),
        crm=PostgresCrm(pg),
        connections=PostgresConnections(pg),
        webhooks=postgres_webhooks(pg),
        changes=feed,
        failures=LocalFailureCounter(),
        agents=PostgresAgents(pg),
        agent_live=PostgresAgentLive(pg),
        callbacks=PostgresCallbacks(pg),
        lease=PostgresLease(pg, settings.lease_seconds),
        background=[feed.run],
        checks=[StoreCheck("database", "postgresql", pg.ping)],
    )
    if not settings.live_url:
        stores.checks.append(FeedCheck("postgresql", lambda: feed.connected))
    return stores


def postgres_crm_import(settings: Settings) -> CrmImport:
    return PostgresCrmImport(
        PostgresDatabase(settings.database_url, settings.store_timeout_seconds)
    )


def postgres_export_rows(settings: Settings) -> Iterator[dict[str, object]]:
    pg = PostgresDatabase(settings.database_url, settings.store_timeout_seconds)
    pg.migrate_now()
    yield from export_rows(pg)
