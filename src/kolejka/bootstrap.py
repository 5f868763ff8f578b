"""The composition root: the one place that chooses an adapter for every port."""

from __future__ import annotations

from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from argon2 import PasswordHasher

from kolejka.adapters.http.app import KolejkaApp
from kolejka.adapters.sqlite.database import Database
from kolejka.adapters.sqlite.stores import (
    SqliteApiUsers,
    SqliteCustomers,
    SqliteQueues,
    SqliteWaitingCallers,
)
from kolejka.auth import ApiUsers, Authenticator
from kolejka.changes import LocalChangeFeed
from kolejka.clock import SystemClock
from kolejka.domain.phone import PhoneNumbers
from kolejka.ports import Clock, Task
from kolejka.settings import Settings
from kolejka.waiting_lists import WaitingLists, WaitingListView


@dataclass
class Components:
    settings: Settings
    database: Database
    changes: LocalChangeFeed
    lists: WaitingLists
    customers: SqliteCustomers
    api_users: ApiUsers
    authenticator: Authenticator
    phones: PhoneNumbers
    background: list[Task] = field(default_factory=list)

    def close(self) -> None:
        self.database.close()


def build(
    settings: Settings, clock: Clock | None = None, hasher: PasswordHasher | None = None
) -> Components:
    if not settings.database_url.startswith("sqlite:"):
        raise ValueError(f"unsupported KOLEJKA_DATABASE_URL: {settings.database_url.split(':')[0]}")
    database = Database.from_url(settings.database_url)
    database.migrate()
    changes = LocalChangeFeed()
    phones = PhoneNumbers(settings.phone_region)
    customers = SqliteCustomers(database)
    lists = WaitingLists(
        queues=SqliteQueues(database),
        callers=SqliteWaitingCallers(database),
        customers=customers,
        phones=phones,
        clock=clock or SystemClock(),
        changes=changes,
        time_zone=ZoneInfo(settings.time_zone),
    )
    hasher = hasher or PasswordHasher()
    users = SqliteApiUsers(database)
    components = Components(
        settings=settings,
        database=database,
        changes=changes,
        lists=lists,
        customers=customers,
        api_users=ApiUsers(users, changes, hasher),
        authenticator=Authenticator(users, changes, hasher, settings.auth_cache_seconds),
        phones=phones,
    )
    components.background.append(lambda: database.watch(changes, settings.change_poll_seconds))
    return components


def create_app(components: Components) -> KolejkaApp:
    return KolejkaApp(
        lists=components.lists,
        view=WaitingListView(components.lists, components.changes),
        auth=components.authenticator,
        time_zone=ZoneInfo(components.settings.time_zone),
        background=components.background,
        max_body_bytes=components.settings.max_body_bytes,
    )


def app_from_env() -> KolejkaApp:
    """`uvicorn --factory kolejka.bootstrap:app_from_env`: the app, configured from the env."""
    return create_app(build(Settings.from_env()))
