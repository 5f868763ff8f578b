"""The composition root: the one place that chooses an adapter for every port."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from argon2 import PasswordHasher

from kolejka.adapters.ami.config import AmiConfig
from kolejka.adapters.ami.control import AmiControl
from kolejka.adapters.ami.listener import AmiListener
from kolejka.adapters.ami.originate import AmiCallbackDialer, OriginateConfig
from kolejka.adapters.http.abandoned import AbandonedApi, AbandonedView
from kolejka.adapters.http.agents import AgentsApi, AgentStatusesView
from kolejka.adapters.http.app import KolejkaApp
from kolejka.adapters.http.callbacks import CallbacksApi
from kolejka.adapters.http.caller_waits import CallerWaitsApi
from kolejka.adapters.http.connections import ConnectionsApi
from kolejka.adapters.http.crm import CrmApi
from kolejka.adapters.http.ingest import AgentIngestApi
from kolejka.adapters.http.metrics import MetricsApi
from kolejka.adapters.http.stream import EventStreams
from kolejka.adapters.http.waiting_list_view import WaitingListView
from kolejka.adapters.http.wallboard import Wallboard
from kolejka.adapters.http.webhooks import WebhooksApi
from kolejka.adapters.local.clock import SystemClock
from kolejka.adapters.sqlite.crm_import import SqliteCrmImport
from kolejka.adapters.sqlite.database import Database
from kolejka.adapters.webhooks.delivery import Delivery, DeliverySettings
from kolejka.adapters.webhooks.sealing import FernetSealer
from kolejka.domain.callbacks import CallbackPolicy
from kolejka.domain.phone import PhoneNumbers
from kolejka.observability.health import (
    CallbacksCheck,
    HealthCheck,
    PbxCheck,
    pbx_collector,
    store_collector,
)
from kolejka.observability.links import LinkState
from kolejka.observability.metrics import (
    CountingCallers,
    CountingPbxSync,
    Metrics,
    waiting_list_collector,
)
from kolejka.services.abandoned import AbandonedCallers
from kolejka.services.agent_control import AgentControl
from kolejka.services.agent_sync import AgentSync
from kolejka.services.agents import Agents
from kolejka.services.auth import ApiUsers, Authenticator
from kolejka.services.callbacks import AgentsAndCallers, CallbackDialling, Callbacks
from kolejka.services.caller_waits import CallerWaits
from kolejka.services.crm import Crm
from kolejka.services.history import STOP_WAIT_SECONDS, CallHistory
from kolejka.services.leadership import Leadership
from kolejka.services.ports import (
    Change,
    ChangeFeed,
    Clock,
    CrmImport,
    CustomerDirectory,
    QueueDirectory,
    Task,
    Topic,
    WaitingCallerStore,
)
from kolejka.services.throttle import LoginThrottle
from kolejka.services.waiting_lists import WaitingLists
from kolejka.services.webhooks import Webhooks
from kolejka.settings import Settings
from kolejka.wiring.sqlite import sqlite_export_rows, sqlite_stores
from kolejka.wiring.stores import Stores

if TYPE_CHECKING:
    from kolejka.adapters.postgres.database import PostgresDatabase
    from kolejka.adapters.redis.connection import RedisConnection

log = logging.getLogger(__name__)


@dataclass
class Components:
    settings: Settings
    database: Database | PostgresDatabase
    changes: ChangeFeed
    lists: WaitingLists
    # The stores and the clock the waiting lists were built on, for whoever else needs them
    # (the PBX sync, the metrics, the demo and the commands) rather than through `lists`.
    queues: QueueDirectory
    callers: WaitingCallerStore
    clock: Clock
    customers: CustomerDirectory
    api_users: ApiUsers
    authenticator: Authenticator
    phones: PhoneNumbers
    crm: Crm
    history: CallHistory
    agents: Agents
    callbacks: Callbacks
    abandoned: AbandonedCallers
    # Applies what a PBX reports about queue members (the AMI listener, the ingest API).
    agent_sync: AgentSync
    background: list[Task] = field(default_factory=list)
    # The stores' own jobs (change feeds, the SQLite checkpoints, the Redis outbox relay), which
    # `background` starts with: what a process needs that runs no more than webhook delivery.
    store_jobs: list[Task] = field(default_factory=list)
    # Dials due callbacks through Asterisk when KOLEJKA_AMI_HOST and KOLEJKA_CALLBACK_CHANNEL
    # are set; otherwise a PBX claims them over HTTP.
    dialling: CallbackDialling | None = None
    ami: AmiListener | None = None  # follows Asterisk's queues when KOLEJKA_AMI_HOST is set
    metrics: Metrics = field(default_factory=Metrics)
    health_checks: list[HealthCheck] = field(default_factory=list)
    leadership: Leadership | None = None  # holds the AMI lease when several instances may run
    redis: RedisConnection | None = None
    webhooks: Webhooks | None = None
    delivery: Delivery | None = None
    # Each waiting caller's position, expected wait and calls today (GET .../callers).
    caller_waits: CallerWaits | None = None

    def close(self) -> None:
        if self.history.unwritten:
            log.warning("%d calls were not written to the history", self.history.unwritten)
        self.database.close()
        if self.redis is not None:
            self.redis.close()

    async def aclose(self, history_wait: float = STOP_WAIT_SECONDS) -> None:
        """Closes the server connections made on the running event loop (tests, scripts),
        once the calls the history has yet to write are written, or after `history_wait`
        seconds of a store that does not take them (logged)."""
        await self.history.flush_before_stop(history_wait)
        if not isinstance(self.database, Database):  # PostgreSQL's pool
            await self.database.aclose()
        if self.redis is not None:
            await self.redis.aclose()
        self.close()


# Wraps the live store where the metrics count it (the fault tests hand in a failing one).
CallersWrapper = Callable[[WaitingCallerStore], WaitingCallerStore]


def build(
    settings: Settings,
    clock: Clock | None = None,
    hasher: PasswordHasher | None = None,
    callers_wrapper: CallersWrapper | None = None,
) -> Components:
    ami_config = AmiConfig.from_settings(settings)
    stores = _stores(settings)
    metrics = Metrics()
    changes = stores.changes
    phones = PhoneNumbers(settings.phone_region)
    # Who names callers: the built-in CRM, or the customer's own system when KOLEJKA_CRM_URL
    # is set (the built-in CRM and its API stay; the waiting list just asks elsewhere).
    directory = stores.customers
    external_crm = None
    if settings.crm_url:
        from kolejka.adapters.external_crm import ExternalCrm  # httpx, only when configured

        external_crm = ExternalCrm(
            settings.crm_url,
            phones,
            changes,
            timeout=settings.crm_timeout_seconds,
            cache_seconds=settings.crm_cache_seconds,
        )
        directory = external_crm
    live = stores.callers if callers_wrapper is None else callers_wrapper(stores.callers)
    callers = CountingCallers(live, metrics)
    clock = clock or SystemClock()
    assert stores.webhooks is not None
    webhooks = Webhooks(
        stores.webhooks,
        FernetSealer(settings.webhook_key) if settings.webhook_key else None,
        clock,
        changes,
        allow_http=bool(settings.webhook_allow_http),
        phones=phones,
        customers=directory,
    )
    history = CallHistory(
        stores.connections,
        phones,
        clock,
        customers=directory,
        crm=stores.crm,
        agents=stores.agents,
        keep_days=settings.history_days,
        webhooks=webhooks,
        changes=changes,
    )
    lists = WaitingLists(
        queues=stores.queues,
        callers=callers,
        customers=directory,
        phones=phones,
        clock=clock,
        changes=changes,
        history=history,
        webhooks=webhooks,
    )
    hasher = hasher or PasswordHasher()
    users = stores.users
    callbacks = Callbacks(
        stores.callbacks,
        stores.queues,
        phones,
        clock,
        changes,
        callback_policy(settings),
        callers=callers,
        customers=directory,
        webhooks=webhooks,
        history=history,
    )
    components = Components(
        settings=settings,
        database=stores.database,
        changes=changes,
        lists=lists,
        queues=stores.queues,
        callers=callers,
        clock=clock,
        customers=stores.customers,
        api_users=ApiUsers(users, changes, hasher),
        authenticator=Authenticator(
            users,
            changes,
            hasher,
            settings.auth_cache_seconds,
            throttle=LoginThrottle(
                stores.failures,
                settings.login_failures_per_minute,
                known=stores.known_addresses,
                known_seconds=settings.login_known_address_hours * 3600,
            ),
        ),
        phones=phones,
        crm=Crm(stores.crm, phones, clock, changes, webhooks),
        history=history,
        agents=Agents(stores.agents, stores.agent_live, clock, changes),
        callbacks=callbacks,
        abandoned=AbandonedCallers(
            history,
            stores.queues,
            directory,
            phones,
            clock,
            ZoneInfo(settings.time_zone),
            callbacks,
        ),
        agent_sync=AgentSync(
            stores.agents, stores.agent_live, clock, changes, history=history, webhooks=webhooks
        ),
        metrics=metrics,
        health_checks=list(stores.checks),
        redis=stores.redis,
        webhooks=webhooks,
    )
    components.caller_waits = CallerWaits(
        stores.queues,
        callers,
        history,
        directory,
        phones,
        clock,
        ZoneInfo(settings.time_zone),
        changes,
    )
    components.background.extend(stores.background)
    components.store_jobs.extend(stores.background)
    components.background.append(history.prune_forever)
    holder = settings.instance_name or f"{socket.gethostname()}:{os.getpid()}"
    components.delivery = Delivery(
        webhooks,
        stores.webhooks,
        clock,
        changes,
        ZoneInfo(settings.time_zone),
        holder,
        delivery_settings(settings),
        metrics,
    )
    if settings.webhook_deliver:  # else `kolejka webhooks deliver` processes deliver
        components.background.append(components.delivery.run)
    if external_crm is not None:
        components.background.append(external_crm.follow)
    metrics.collectors.append(waiting_list_collector(stores.queues, callers, clock))
    if stores.checks:
        metrics.collectors.append(store_collector(stores.checks))
    if ami_config is not None:
        # A burst of AMI events shares one store transaction where the store has them (SQLite).
        sync = CountingPbxSync(
            lists,
            stores.queues,
            callers,
            clock,
            metrics,
            transaction=stores.transaction,
            agents=components.agent_sync,
            history=history,
        )
        link = LinkState("pbx", clock)
        components.ami = AmiListener(ami_config, sync, link)
        if stores.lease is None:
            components.background.append(components.ami.run)
        else:
            # One listener across the instances: whoever holds the lease runs it (and, on
            # taking over, logs in afresh and reconciles with Asterisk's queues).
            leadership = Leadership(stores.lease, components.ami.run, name="AMI listener")
            components.leadership = leadership
            components.background.append(leadership.run)
            components.health_checks.append(PbxCheck(link, leadership))
        metrics.collectors.append(pbx_collector(link, components.leadership))
        _dial_callbacks(settings, components, components.ami, phones)
    return components


def callback_policy(settings: Settings) -> CallbackPolicy:
    return CallbackPolicy(
        attempts=settings.callback_attempts,
        retry_after=timedelta(seconds=settings.callback_retry_seconds),
        horizon=timedelta(days=settings.callback_horizon_days),
    )


def wait_for_agent_queues(settings: Settings) -> tuple[int, ...]:
    """KOLEJKA_CALLBACK_WAIT_FOR_AGENT: the queues whose callbacks wait for a free agent."""
    items = (p.strip() for p in settings.callback_wait_for_agent.split(","))
    return tuple(dict.fromkeys(int(item) for item in items if item))


def _dial_callbacks(
    settings: Settings, components: Components, listener: AmiListener, phones: PhoneNumbers
) -> None:
    """The callback dialler over AMI, on every instance: only the one whose link is up (the
    lease holder) claims, and the store's claims keep two from ever dialling one attempt."""
    config = OriginateConfig.from_settings(settings)
    if config is None:  # no dialling over AMI: a PBX may claim them over HTTP
        return
    dialer = AmiCallbackDialer(listener, config, components.queues, phones)
    dialling = CallbackDialling(
        components.callbacks,
        dialer,
        # Longer than a ring and its answer: a claim lapses only when its dialler is gone.
        claim_for=timedelta(seconds=config.ring_seconds + 60),
        max_calls=settings.callback_max_calls,
        poll_seconds=settings.callback_poll_seconds,
        wait_for_agent=wait_for_agent_queues(settings),
        occupancy=AgentsAndCallers(components.agents, components.callers),
    )
    components.dialling = dialling
    components.background.append(dialling.run)
    components.health_checks.append(CallbacksCheck(dialer.status))


def _stores(settings: Settings) -> Stores:
    """The adapters `KOLEJKA_DATABASE_URL` and `KOLEJKA_LIVE_URL` name.

    The database holds queues, customers and API users: SQLite (one host) or PostgreSQL. The
    live waiting lists stay in it unless KOLEJKA_LIVE_URL names Redis; so do the change feed
    between instances (PostgreSQL LISTEN/NOTIFY, Redis pub/sub) and the AMI lease (an advisory
    lock, a Redis key). PostgreSQL's and Redis's wiring is imported only when named.
    """
    if settings.on_sqlite:
        stores = sqlite_stores(settings)
    else:
        from kolejka.wiring.postgres import postgres_stores

        stores = postgres_stores(settings)
    if settings.live_url:
        from kolejka.wiring.redis import with_redis

        with_redis(stores, settings)
    return stores


def delivery_settings(settings: Settings) -> DeliverySettings:
    return DeliverySettings(
        max_attempts=settings.webhook_max_attempts,
        backoff_seconds=settings.webhook_backoff_seconds,
        backoff_max_seconds=settings.webhook_backoff_max_seconds,
        timeout_seconds=settings.webhook_timeout_seconds,
        max_response_bytes=settings.webhook_max_response_bytes,
        lease_seconds=settings.lease_seconds,
        allow_private=bool(settings.webhook_allow_private),
    )


def phone_numbers(settings: Settings) -> PhoneNumbers:
    return PhoneNumbers(settings.phone_region)


def crm_import(settings: Settings) -> CrmImport:
    """A bulk import into the built-in CRM (`kolejka crm import`), on its own connection."""
    if settings.on_sqlite:
        return SqliteCrmImport(settings.database_url)
    from kolejka.wiring.postgres import postgres_crm_import

    return postgres_crm_import(settings)


def crm_export_rows(settings: Settings) -> Iterator[dict[str, object]]:
    """Every card of the built-in CRM as an import row, from one consistent snapshot."""
    if settings.on_sqlite:
        return sqlite_export_rows(settings)
    from kolejka.wiring.postgres import postgres_export_rows

    return postgres_export_rows(settings)


def announce_crm_change(settings: Settings) -> None:
    """Tells running instances that the CRM changed under them (after `kolejka crm import`).

    On SQLite alone they notice by themselves (they watch the file's version); on PostgreSQL the
    change goes out on the instances' change feed (PostgreSQL NOTIFY, or Redis pub/sub).
    """
    if settings.on_sqlite:
        return
    components = build(settings)

    async def announce() -> None:
        try:
            await components.changes.publish(Change(Topic.CRM))
        finally:
            await components.aclose()

    asyncio.run(announce())


def create_app(components: Components) -> KolejkaApp:
    settings = components.settings
    zone = ZoneInfo(settings.time_zone)
    view = WaitingListView(components.lists, components.changes, zone)
    agent_statuses = AgentStatusesView(components.agents, components.changes, zone)
    abandoned = AbandonedView(
        components.abandoned,
        zone,
        components.changes,
        min_interval=settings.abandoned_refresh_seconds,
    )
    streams = EventStreams(
        components.lists,
        view,
        components.changes,
        components.authenticator,
        zone,
        components.agents,
        agent_statuses,
        callbacks=components.callbacks,
        heartbeat_seconds=settings.stream_heartbeat_seconds,
        stall_seconds=settings.stream_stall_seconds,
    )
    streams.board.abandoned = abandoned  # each tile's abandoned callers
    # The board shows each caller's position, expected wait and repeat mark.
    streams.board.caller_waits = components.caller_waits
    return KolejkaApp(
        lists=components.lists,
        view=view,
        auth=components.authenticator,
        time_zone=ZoneInfo(components.settings.time_zone),
        background=components.background,
        max_body_bytes=components.settings.max_body_bytes,
        # With a lease, the PBX link is reported by its health check (standby or the link).
        links=[components.ami.link] if components.ami and not components.leadership else [],
        health_checks=components.health_checks,
        observe=components.metrics.observe_request,
        # SQLite's other errors of the moment (a lock met outside Database.writing, a full disk).
        outages=(sqlite3.OperationalError,),
        on_server_stop=[streams.end_all],
        # After the background tasks (the AMI listener, the demo): the calls they ended.
        on_stopped=[components.history.flush_before_stop],
        routes=[
            *CrmApi(
                components.crm, components.phones, ZoneInfo(components.settings.time_zone)
            ).routes(),
            *AgentsApi(components.agents, agent_statuses, agent_control(components), zone).routes(),
            *CallbacksApi(
                components.callbacks,
                components.phones,
                zone,
                claim_for=timedelta(seconds=settings.callback_claim_seconds),
            ).routes(),
            *ConnectionsApi(components.history, zone, components.changes).routes(),
            *AbandonedApi(abandoned).routes(),
            *(
                CallerWaitsApi(components.caller_waits, zone).routes()
                if components.caller_waits is not None
                else []
            ),
            *AgentIngestApi(components.agent_sync, components.queues, zone).routes(),
            *streams.routes(),
            *Wallboard(streams).routes(),
            *MetricsApi(components.metrics).routes(),
            *(
                WebhooksApi(components.webhooks, zone).routes()
                if components.webhooks is not None
                else []
            ),
        ],
    )


def agent_control(components: Components) -> AgentControl:
    """Control of agents through the PBX: over the AMI listener's link, or none (503)."""
    pbx = AmiControl(components.ami) if components.ami is not None else None
    return AgentControl(components.agents, components.queues, pbx)


def app_from_env() -> KolejkaApp:
    """`uvicorn --factory kolejka.bootstrap:app_from_env`: the app, configured from the env."""
    return create_app(build(Settings.from_env()))
