"""Sending the outbox's events to the subscriptions: at least once, in order, signed, guarded.

Every instance runs `Delivery.run`. It claims subscriptions nobody holds (a lease in the
subscription's row, renewed while it delivers) and gives each one it holds a task of its own: a
slow or dead subscriber holds up only its own task, never the API, the AMI listener or the other
subscribers. A task reads the outbox on from the subscription's cursor, sends one event at a
time, and moves the cursor past an event only when it was delivered (any 2xx) or parked (after
the last attempt), in one transaction with the attempt's record, and only while it still holds
the lease: two instances never deliver one event twice, short of a holder that stalls past its
lease in the middle of a request.

Requests go through `HttpPoster` (adapters/webhooks/http1.py): the host is resolved when
connecting, and every address a socket is about to connect to must be a public one (unless
KOLEJKA_WEBHOOK_ALLOW_PRIVATE is set), so a name that resolves to 127.0.0.1 or 169.254.169.254
after registration still reaches nothing.

This runs inside `kolejka serve` (KOLEJKA_WEBHOOK_DELIVER=1) or in `kolejka webhooks deliver`
processes of its own, which then take the subscriptions whose id modulo their number is theirs.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import logging
import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from kolejka.adapters.http.wire import to_json, wire_time
from kolejka.adapters.webhooks.http1 import HttpPoster
from kolejka.domain.errors import StoreUnavailable
from kolejka.domain.webhooks import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    Secrets,
    StoredEvent,
    Subscription,
    backoff,
    signature,
)
from kolejka.observability.metrics import Family, Metrics
from kolejka.services.ports import Change, ChangeFeed, Clock, DeliveryAttempt, Topic, WebhookStore
from kolejka.services.webhooks import Webhooks

log = logging.getLogger(__name__)

DELIVERIES = "kolejka_webhook_deliveries_total"
BATCH = 100
PRUNE_SECONDS = 10.0
BODIES_KEPT = 4096


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    max_attempts: int = 8
    backoff_seconds: float = 1.0
    backoff_max_seconds: float = 300.0
    timeout_seconds: float = 10.0
    max_response_bytes: int = 65536
    lease_seconds: float = 30.0
    poll_seconds: float = 1.0
    allow_private: bool = False
    # (index, count): this process takes the subscriptions whose id modulo count is index
    # (`kolejka webhooks deliver --workers`); the lease still keeps one holder a subscription.
    share: tuple[int, int] = (0, 1)


def render(event: StoredEvent, zone: ZoneInfo) -> bytes:
    """The body sent: `action`, the event's fields (instants as Thulium writes times), `date`
    (when it happened) and `event_id` (the same on every attempt: receivers drop repeats)."""
    body: dict[str, object] = {"action": event.action}
    for key, value in event.fields.items():
        body[key] = wire_time(value, zone) if isinstance(value, datetime) else value
    body["date"] = wire_time(event.occurred_at, zone)
    body["event_id"] = event.event_id
    return to_json(body)


def basic_authorization(secrets: Secrets) -> str | None:
    """The Authorization header's value for the subscription's Basic credentials, if any."""
    if not (secrets.http_auth_user or secrets.http_auth_password):
        return None
    pair = f"{secrets.http_auth_user}:{secrets.http_auth_password}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


@functools.lru_cache(maxsize=1024)
def request_headers(secrets: Secrets) -> tuple[str, ...]:
    """The headers every request of a subscription carries beside the signature and the event
    id, as "Name: value" lines (made once per subscription, not per request)."""
    headers = ["Content-Type: application/json; charset=utf-8"]
    authorization = basic_authorization(secrets)
    if authorization is not None:
        headers.append(f"Authorization: {authorization}")
    return tuple(headers)


class Delivery:
    """The delivery tasks of this instance; `run` is its background task."""

    def __init__(
        self,
        webhooks: Webhooks,
        store: WebhookStore,
        clock: Clock,
        changes: ChangeFeed,
        zone: ZoneInfo,
        holder: str,
        settings: DeliverySettings,
        metrics: Metrics | None = None,
    ) -> None:
        self.webhooks = webhooks
        self.store = store
        self.clock = clock
        self.zone = zone
        self.holder = holder
        self.settings = settings
        self.metrics = metrics
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._wake: dict[int, asyncio.Event] = {}
        self._round = asyncio.Event()
        self._poster: HttpPoster | None = None
        # Each event's body as stored at its first rendering, kept for all its subscribers (each
        # signs it with its own secret): the newest few thousand, what the tasks are sending.
        self._bodies: dict[int, bytes] = {}
        changes.subscribe(self._changed)
        if metrics is not None:
            metrics.counter(
                DELIVERIES,
                "Webhook delivery attempts, by outcome (delivered, failed, parked).",
                "outcome",
            )
            metrics.collectors.append(self._collect)

    @property
    def delivering(self) -> frozenset[int]:
        """The subscriptions whose events this instance is sending now."""
        return frozenset(i for i, task in self._tasks.items() if not task.done())

    def _changed(self, change: Change) -> None:
        for wake in self._wake.values():
            wake.set()
        if change.topic in (Topic.WEBHOOKS, Topic.ALL):
            self._round.set()

    async def run(self) -> None:
        self._poster = HttpPoster(
            self.settings.timeout_seconds,
            self.settings.max_response_bytes,
            self.settings.allow_private,
        )
        pruned = time.monotonic()
        try:
            while True:
                try:
                    await self._claim()
                    if time.monotonic() - pruned > PRUNE_SECONDS:
                        pruned = time.monotonic()
                        await self.store.prune()
                except StoreUnavailable:
                    log.warning("webhooks: the store is unavailable; trying again")
                except Exception:
                    log.exception("webhooks: claiming subscriptions failed")
                self._round.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.settings.poll_seconds):
                        await self._round.wait()
        finally:
            tasks = list(self._tasks.values())
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for webhook_id in list(self._tasks):
                with contextlib.suppress(Exception):
                    await self.store.release(webhook_id, self.holder)
            await self._poster.close()

    async def _claim(self) -> None:
        index, count = self.settings.share
        subscriptions = {
            s.webhook_id: s for s in await self.store.all() if s.webhook_id % count == index
        }
        for webhook_id, task in list(self._tasks.items()):
            if task.done() or webhook_id not in subscriptions:
                task.cancel()
                del self._tasks[webhook_id]
                self._wake.pop(webhook_id, None)
        for webhook_id, subscription in subscriptions.items():
            if webhook_id in self._tasks or not await self._renew(webhook_id):
                continue
            self._wake[webhook_id] = asyncio.Event()
            self._tasks[webhook_id] = asyncio.create_task(
                self._deliver(subscription), name=f"webhook {webhook_id}"
            )

    async def _renew(self, webhook_id: int) -> bool:
        now = self.clock.now()
        until = now + timedelta(seconds=self.settings.lease_seconds)
        return await self.store.claim(webhook_id, self.holder, now, until)

    async def _deliver(self, subscription: Subscription) -> None:
        """One subscription's task: while this instance holds it, send what waits, in order."""
        webhook_id = subscription.webhook_id
        wake = self._wake[webhook_id]
        me = asyncio.current_task()
        assert me is not None
        keeper = asyncio.create_task(self._keep(webhook_id, me))
        try:
            await self._rounds(subscription, wake, keeper)
        finally:
            keeper.cancel()

    async def _keep(self, webhook_id: int, worker: asyncio.Task[None]) -> None:
        """Renews the lease every third of its length while `worker` delivers; cancels it (in
        the middle of a request or a pause, if so) as soon as the lease is lost."""
        while True:
            await asyncio.sleep(self.settings.lease_seconds / 3)
            try:
                held = await self._renew(webhook_id)
            except Exception:
                held = False
            if not held:
                worker.cancel()
                return

    async def _rounds(
        self, subscription: Subscription, wake: asyncio.Event, keeper: asyncio.Task[None]
    ) -> None:
        webhook_id = subscription.webhook_id
        secrets = None
        while True:
            wake.clear()  # before reading: a change from now on wakes the next round
            try:
                if keeper.done():
                    return
                secrets = secrets or await self.webhooks.secrets(webhook_id)
                if secrets is None:
                    log.error("webhook %d: cannot open its secrets (another key?)", webhook_id)
                    return
                busy = await self._send_waiting(subscription, secrets)
            except StoreUnavailable:
                busy = False
            except Exception:
                log.exception("webhook %d: delivery failed", webhook_id)
                busy = False
            if not busy:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.settings.poll_seconds):
                        await wake.wait()

    async def _send_waiting(self, subscription: Subscription, secrets: Secrets) -> bool:
        """Sends what waits (asked redeliveries first); whether there may be more.

        Events delivered at the first attempt are recorded together, and the cursor moved past
        them in one transaction, at the end of the batch or before anything else is recorded:
        a crash in between sends them again, which at-least-once allows.
        """
        webhook_id = subscription.webhook_id
        again = [p.event for p in await self.store.parked(webhook_id, BATCH) if p.redeliver]
        bodies = await self._bodies_of(again)
        for event in again:
            if await self._send(
                subscription, secrets, event, bodies[event.event_id], advance=False, delivered=[]
            ):
                await self.store.redelivered(webhook_id, event.event_id)
        position = await self.store.position(webhook_id)
        if position is None:
            return False
        events = await self.store.following(position, subscription.actions, BATCH)
        bodies = await self._bodies_of(events)
        delivered: list[DeliveryAttempt] = []
        for event in events:
            body = bodies[event.event_id]
            if not await self._send(subscription, secrets, event, body, True, delivered):
                return False  # the lease is gone: whoever holds it now goes on
        if delivered and not await self.store.record(webhook_id, self.holder, delivered, True):
            return False
        return len(events) == BATCH

    async def _send(
        self,
        subscription: Subscription,
        secrets: Secrets,
        event: StoredEvent,
        body: bytes,
        advance: bool,
        delivered: list[DeliveryAttempt],
    ) -> bool:
        """Tries `event` (its frozen `body`) until delivered or parked; False if the lease was
        lost meanwhile (or, redelivering, if it was parked again). A first attempt that
        delivers joins `delivered`, to be recorded with the batch's others."""
        webhook_id = subscription.webhook_id
        attempt = 0
        while True:
            attempt += 1
            status, error = await self._post(subscription.subscription_url, secrets, event, body)
            success = 200 <= status < 300
            last = attempt >= self.settings.max_attempts
            outcome = "delivered" if success else "parked" if last else "failed"
            record = DeliveryAttempt(
                event.event_id, attempt, self.clock.now(), status, error, outcome
            )
            if self.metrics is not None:
                self.metrics.count(DELIVERIES, outcome)
            done = success or last
            if success and advance:
                delivered.append(record)
                return True
            batch = [*delivered, record]
            delivered.clear()
            if not await self.store.record(webhook_id, self.holder, batch, advance and done):
                return False
            if done:
                return success or advance
            pause = backoff(
                attempt,
                self.settings.backoff_seconds,
                self.settings.backoff_max_seconds,
                random.uniform(0.5, 1.0),
            )
            await asyncio.sleep(pause)  # the keeper renews the lease meanwhile

    async def _bodies_of(self, events: Sequence[StoredEvent]) -> dict[int, bytes]:
        """The body each event is sent with, by event id: the one stored at its first
        rendering. Events nobody rendered yet are completed (the CRM's match...), rendered and
        stored now, in one round trip for the batch; where another subscription's task or
        process stored one first, that one is sent, so every subscriber and every retry gets
        the same bytes."""
        bodies: dict[int, bytes] = {}
        fresh: list[tuple[int, str]] = []
        for event in events:
            known = self._bodies.get(event.event_id)
            if known is not None:
                bodies[event.event_id] = known
            elif event.rendered is not None:
                bodies[event.event_id] = self._keep_body(event.event_id, event.rendered)
            else:
                whole = await self.webhooks.completed(event)
                fresh.append((event.event_id, render(whole, self.zone).decode()))
        if fresh:
            stored = await self.store.freeze(fresh)
            for event_id, text in fresh:
                # Not stored at all: the event was pruned meanwhile; send what was rendered.
                bodies[event_id] = self._keep_body(event_id, stored.get(event_id, text))
        return bodies

    def _keep_body(self, event_id: int, text: str) -> bytes:
        """Remembers a stored body (the newest few thousand: what the tasks are sending)."""
        if len(self._bodies) >= BODIES_KEPT:
            self._bodies.clear()
        body = self._bodies[event_id] = text.encode()
        return body

    async def _post(
        self, url: str, secrets: Secrets, event: StoredEvent, body: bytes
    ) -> tuple[int, str]:
        """(HTTP status, "") or (0, why none came). Reads at most max_response_bytes."""
        assert self._poster is not None
        headers = [
            *request_headers(secrets),
            f"{SIGNATURE_HEADER}: {signature(secrets.secret, int(time.time()), body)}",
            f"{EVENT_ID_HEADER}: {event.event_id}",
        ]
        return await self._poster.post(url, headers, body)

    async def _collect(self) -> Iterable[Family]:
        """Events waiting per subscription and parked ones, read at scrape time."""
        try:
            waiting, parked = [], []
            for subscription in await self.store.all():
                labels = {"webhook": str(subscription.webhook_id)}
                depth = await self.store.backlog(subscription.webhook_id, subscription.actions)
                waiting.append(("kolejka_webhook_queue_depth", labels, float(depth)))
                held = await self.store.parked(subscription.webhook_id, 10_000)
                parked.append(("kolejka_webhook_parked_events", labels, float(len(held))))
        except StoreUnavailable:
            return []
        return [
            Family(
                "kolejka_webhook_queue_depth",
                "gauge",
                "Events waiting to be delivered, per subscription.",
                waiting,
            ),
            Family(
                "kolejka_webhook_parked_events", "gauge", "Parked events, per subscription.", parked
            ),
        ]
