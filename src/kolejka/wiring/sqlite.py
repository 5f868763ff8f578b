"""SQLite: one host. A poll of the file's version tells the server what other processes (the
`kolejka` commands) wrote."""

from __future__ import annotations

from collections.abc import Iterator

from kolejka.adapters.local.changes import LocalChangeFeed
from kolejka.adapters.local.failures import LocalFailureCounter
from kolejka.adapters.sqlite.agents import SqliteAgentLive, SqliteAgents
from kolejka.adapters.sqlite.callbacks import SqliteCallbacks
from kolejka.adapters.sqlite.crm import SqliteCrm
from kolejka.adapters.sqlite.crm_import import export_rows
from kolejka.adapters.sqlite.database import Database
from kolejka.adapters.sqlite.stores import (
    SqliteApiUsers,
    SqliteConnections,
    SqliteCustomers,
    SqliteQueues,
    SqliteWaitingCallers,
)
from kolejka.adapters.sqlite.webhooks import sqlite_webhooks
from kolejka.settings import Settings
from kolejka.wiring.stores import Stores


def sqlite_stores(settings: Settings) -> Stores:
    database = Database.from_url(settings.database_url)
    database.migrate()
    stores = Stores(
        database=database,
        queues=SqliteQueues(database),
        callers=SqliteWaitingCallers(database),
        customers=SqliteCustomers(database),
        users=SqliteApiUsers(database),
        crm=SqliteCrm(database),
        connections=SqliteConnections(database),
        webhooks=sqlite_webhooks(database),
        changes=LocalChangeFeed(),
        failures=LocalFailureCounter(),
        agents=SqliteAgents(database),
        agent_live=SqliteAgentLive(database),
        callbacks=SqliteCallbacks(database),
        transaction=database.writing,  # a burst of AMI events: one commit for all
    )
    watched = stores.changes
    stores.background.append(lambda: database.watch(watched, settings.change_poll_seconds))
    stores.background.append(database.checkpoints)
    return stores


def sqlite_export_rows(settings: Settings) -> Iterator[dict[str, object]]:
    database = Database.from_url(settings.database_url)
    try:
        database.migrate()
        yield from export_rows(database)
    finally:
        database.close()
