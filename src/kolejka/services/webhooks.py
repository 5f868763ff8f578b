"""The webhooks use cases: registering subscriptions (Thulium's `webhooks` API), knowing which
actions anyone wants, and what delivery did (kolejka's `deliveries` extension).

Events enter the outbox with the change that caused them (the stores' `events` parameter);
delivering them is adapters/webhooks/delivery.py's job.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kolejka.domain.customers import unambiguous
from kolejka.domain.errors import FieldErrors, FieldProblem, InvalidField
from kolejka.domain.phone import PhoneNumbers
from kolejka.domain.text import has_control
from kolejka.domain.webhooks import (
    MAX_CREDENTIAL,
    NEEDS_MATCH,
    SHOWS_NUMBER,
    NewEvent,
    Secrets,
    StoredEvent,
    Subscription,
    UnknownParkedEvent,
    UnknownWebhook,
    WebhooksOff,
    check_actions,
    check_subscription_url,
    completed,
)
from kolejka.services.ports import (
    Change,
    ChangeFeed,
    Clock,
    CustomerDirectory,
    DeliveryAttempt,
    ParkedEvent,
    Sealer,
    Topic,
    WebhookStore,
)

REGISTRATION_FIELDS = frozenset(
    {"actions", "subscription_url", "http_auth_user", "http_auth_password"}
)
SEPARATOR = "\x00"  # between the sealed values; no credential may hold it (control characters)


@dataclass(frozen=True, slots=True)
class Deliveries:
    attempts: Sequence[DeliveryAttempt]
    parked: Sequence[ParkedEvent]


class Webhooks:
    """Subscriptions and their delivery record. `sealer` None: no key, webhooks are off.
    `phones` and `customers` complete the callers' events when they are first delivered (without
    them, events go as stored)."""

    def __init__(
        self,
        store: WebhookStore,
        sealer: Sealer | None,
        clock: Clock,
        changes: ChangeFeed,
        allow_http: bool = False,
        phones: PhoneNumbers | None = None,
        customers: CustomerDirectory | None = None,
    ) -> None:
        self.store = store
        self.phones = phones
        self.customers = customers
        self.sealer = sealer
        self.clock = clock
        self.changes = changes
        self.allow_http = allow_http
        self._wanted: frozenset[str] | None = None
        changes.subscribe(self._forget)

    async def register(self, values: Mapping[str, Any]) -> tuple[Subscription, str]:
        """A new subscription and its signing secret, which is shown this once."""
        errors = FieldErrors(values, REGISTRATION_FIELDS)
        nothing: tuple[str, ...] = ()
        actions = errors.take(lambda: check_actions(values.get("actions")), nothing)
        url = errors.take(
            lambda: check_subscription_url(values.get("subscription_url"), self.allow_http), ""
        )
        user = errors.take(lambda: _credential(values, "http_auth_user"), "")
        password = errors.take(lambda: _credential(values, "http_auth_password"), "")
        errors.raise_any()
        if self.sealer is None:
            raise WebhooksOff("webhooks need KOLEJKA_WEBHOOK_KEY")
        secret = "whsec_" + secrets.token_urlsafe(32)
        sealed = self.sealer.seal(SEPARATOR.join((user, password, secret)))
        added = await self.store.add(actions, url, sealed, self.clock.now())
        await self.changes.publish(Change(Topic.WEBHOOKS))
        return added, secret

    async def all(self) -> Sequence[Subscription]:
        return await self.store.all()

    async def get(self, webhook_id: int) -> Subscription:
        found = await self.store.get(webhook_id)
        if found is None:
            raise UnknownWebhook(webhook_id)
        return found

    async def remove(self, webhook_id: int) -> Subscription:
        found = await self.get(webhook_id)
        if not await self.store.remove(webhook_id):
            raise UnknownWebhook(webhook_id)
        await self.changes.publish(Change(Topic.WEBHOOKS))
        return found

    async def secrets(self, webhook_id: int) -> Secrets | None:
        """What the subscription's requests carry; None when it is gone or cannot be opened."""
        sealed = await self.store.sealed(webhook_id)
        if sealed is None or self.sealer is None:
            return None
        try:
            user, password, secret = self.sealer.open(sealed).split(SEPARATOR)
        except ValueError:
            return None
        return Secrets(user, password, secret)

    async def deliveries(self, webhook_id: int, limit: int = 100) -> Deliveries:
        await self.get(webhook_id)
        return Deliveries(
            await self.store.attempts(webhook_id, limit),
            await self.store.parked(webhook_id, limit),
        )

    async def redeliver(self, webhook_id: int, event_id: int) -> None:
        """Sends a parked event again, once more through every attempt."""
        await self.get(webhook_id)
        if not await self.store.redeliver(webhook_id, event_id):
            raise UnknownParkedEvent(webhook_id, event_id)
        await self.changes.publish(Change(Topic.WEBHOOKS))

    def known_wants(self, action: str) -> bool | None:
        """`wants` without the store: None until the subscriptions have been read (again, after
        a change to them). The AMI listener asks for every caller who joins or leaves, where two
        coroutines an ask were a measurable part of what webhooks cost it."""
        wanted = self._wanted
        return None if wanted is None else action in wanted

    async def wants(self, action: str) -> bool:
        """Whether any subscription takes `action`: events nobody wants are never written."""
        wanted = self._wanted
        if wanted is None:
            subscriptions = await self.store.all()
            wanted = frozenset(action for s in subscriptions for action in s.actions)
            self._wanted = wanted
        return action in wanted

    async def emit(self, events: Sequence[NewEvent]) -> None:
        """Adds `events` to the outbox, for changes whose store cannot take them in its own
        write (agents' live states). Inside a SQLite burst transaction (`Database.writing`)
        they commit with it; elsewhere they commit right after the change."""
        await self.store.append(events)

    async def completed(self, event: StoredEvent) -> StoredEvent:
        """`event` with what its change left to delivery: the number as the waiting list shows
        it, and for CALLER_JOINED the customer the CRM matches now, that is at the event's first
        delivery, normally milliseconds after the change (docs/webhooks.md)."""
        if event.action not in SHOWS_NUMBER or self.phones is None:
            return event
        raw = event.fields.get("phone_number")
        if not isinstance(raw, str):
            return event
        match = None
        if event.action in NEEDS_MATCH and self.customers is not None:
            e164 = self.phones.normalise(raw)
            match = unambiguous(await self.customers.owners(e164)) if e164 else None
        return completed(event, self.phones.display(raw), match)

    def _forget(self, change: Change) -> None:
        if change.topic in (Topic.WEBHOOKS, Topic.ALL):
            self._wanted = None


def _credential(values: Mapping[str, Any], field: str) -> str:
    value = values.get(field)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidField(field, FieldProblem.NOT_A_STRING)
    if len(value) > MAX_CREDENTIAL:
        raise InvalidField(field, FieldProblem.TOO_LONG)
    if has_control(value):
        raise InvalidField(field, FieldProblem.CONTROL_CHARACTERS)
    return value
