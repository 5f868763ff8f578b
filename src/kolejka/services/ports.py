"""The ports: what the application needs from the outside world, as small Protocols.

Adapters (SQLite today; PostgreSQL, Redis, AMI, external CRMs beside it) satisfy these. Only
`bootstrap.py` chooses which adapter stands behind each port.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from kolejka.domain.crm import Company, CompanyFields, Customer, CustomerFields, ListQuery
from kolejka.domain.crm_import import ImportCounts, ImportRow
from kolejka.domain.customers import CustomerKind, CustomerMatch
from kolejka.domain.queues import Departure, Joined, Queue, WaitingCaller
from kolejka.domain.webhooks import NewEvent, StoredEvent, Subscription


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

    async def join(self, caller: WaitingCaller, events: Sequence[NewEvent] = ()) -> Joined:
        """Adds `caller`; if its call already waits, changes nothing and returns the stored one.

        `created` says whether this very write stored it: of two joins of one call, exactly one
        is told it did. `events` enter the webhooks' outbox atomically with the join, and only
        when this write stored it.
        """
        ...

    async def find(self, call_id: str) -> WaitingCaller | None: ...

    async def leave(self, departure: Departure, events: Sequence[NewEvent] = ()) -> bool:
        """Removes the call and records `departure`, atomically; False if it was not waiting.

        `events` enter the outbox in the same transaction, only when the call left.
        """
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


T_co = TypeVar("T_co", contravariant=True)

# The outbox rows a write's result causes, written in the write's own transaction.
EventsOf = Callable[[T_co], Sequence[NewEvent]]


class CrmStore(Protocol):
    """The built-in CRM's cards and companies. Writes are atomic; ids are the store's to give,
    except where a seed names them.

    Writes raise UnknownCompany for a `company_id` that names no company and IdentifierTaken for
    an `identifier` another card has.
    """

    async def customer(self, customer_id: int) -> Customer | None: ...

    async def customers(self, query: ListQuery) -> Sequence[Customer]: ...

    async def add_customers(
        self,
        kind: CustomerKind,
        cards: Sequence[CustomerFields],
        updated_at: datetime,
        ids: Sequence[int] | None = None,
        events: EventsOf[list[Customer]] | None = None,
    ) -> list[Customer]:
        """Adds every card or none of them, under the store's next ids or, for seeding (the
        demo's documented customers, the tests' fixed ids), under `ids`, one a card.

        `events(added)` enter the outbox in the same transaction.
        """
        ...

    async def update_customer(
        self,
        customer_id: int,
        card: CustomerFields,
        updated_at: datetime,
        events: EventsOf[Customer] | None = None,
    ) -> Customer | None: ...

    async def remove_customer(self, customer_id: int, events: Sequence[NewEvent] = ()) -> bool: ...

    async def company_of_card(self, customer_id: int) -> int | None:
        """The company whose card this customer is, if any."""
        ...

    async def company(self, company_id: int) -> Company | None: ...

    async def companies(self, query: ListQuery) -> Sequence[Company]: ...

    async def add_company(self, company: CompanyFields, updated_at: datetime) -> Company: ...

    async def update_company(
        self, company_id: int, company: CompanyFields, updated_at: datetime
    ) -> Company | None: ...

    async def remove_company(self, company_id: int) -> bool:
        """Removes the company and its card; persons in it stay, without a company."""
        ...


class CrmStaging(Protocol):
    """Where one process puts checked import rows until the import applies them."""

    def stage(self, rows: Sequence[ImportRow]) -> None:
        """Keeps the rows (durably, before returning); a later line wins for one identifier."""
        ...

    def close(self) -> None: ...


class CrmImport(Protocol):
    """A bulk import in progress: rows are staged out of sight, then applied all or none."""

    def staging_opener(self) -> Callable[[], CrmStaging]:
        """Opens a staging area in the calling process; picklable, so workers can call it."""
        ...

    def apply(self, updated_at: datetime) -> ImportCounts:
        """Writes everything staged in one transaction; a rerun of the same rows writes nothing."""
        ...

    def close(self) -> None:
        """Ends the import; what was staged and not applied is dropped."""
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


class Topic(enum.StrEnum):
    """What changed. The value is the word the shared change feeds carry between instances."""

    QUEUE = "queue"  # a queue's waiting callers (queue_id says which; None: every queue)
    CRM = "crm"  # customers and companies: every waiting list's names
    USERS = "users"  # API users and wallboard tokens
    WEBHOOKS = "webhooks"  # webhook subscriptions, or events waiting in their outbox
    ALL = "all"  # anything: another process wrote, or a feed lost messages


@dataclass(frozen=True, slots=True)
class Change:
    """Something read models must forget. `queue_id` None means every queue (a CRM edit, say)."""

    topic: Topic
    queue_id: int | None = None


Listener = Callable[[Change], None]


class ChangeFeed(Protocol):
    """Tells every part of every instance that data changed, so caches can be dropped."""

    def subscribe(self, listener: Listener) -> None: ...

    async def publish(self, change: Change) -> None: ...


class Lease(Protocol):
    """A lease on a job only one instance may do at a time (following the PBX).

    A hold lasts `seconds` unless renewed; the holder must stop the job before that time has
    passed without a renewal (kolejka.services.leadership does), so two holders never overlap.
    """

    seconds: float

    async def acquire(self) -> bool:
        """Takes the lease when nobody holds it; True when this instance holds it now."""
        ...

    async def renew(self) -> bool:
        """Extends this instance's hold; False when it no longer holds the lease."""
        ...

    async def release(self) -> None:
        """Lets the lease go at once, so another instance need not wait for it to expire."""
        ...


Task = Callable[[], Awaitable[None]]


class FailureCounter(Protocol):
    """Counts login attempts per key in numbered time buckets (one process, or shared in Redis).

    An attempt is reserved before its password is checked, so that simultaneous guesses cannot
    all pass a check made before any of them is counted.
    """

    async def reserve(self, key: str, bucket: int) -> tuple[int, int]:
        """Adds one to `bucket` atomically: (count in bucket - 1, count in bucket with it)."""
        ...

    async def release(self, key: str, bucket: int) -> None:
        """Takes back one reservation in `bucket` (the attempt succeeded, or was refused)."""
        ...

    async def counts(self, key: str, bucket: int) -> tuple[int, int]:
        """(count in bucket - 1, count in bucket), counting nothing."""
        ...


class KnownAddresses(Protocol):
    """Addresses that recently signed in as a user with the right password."""

    async def remember(self, username: str, address: str, seconds: float) -> None: ...

    async def known(self, username: str, address: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    """One try at delivering an event to a subscription, as `deliveries` lists it."""

    event_id: int
    attempt: int
    at: datetime
    status: int  # the HTTP status, 0 when none came (refused, timed out, not allowed)
    error: str
    outcome: str  # delivered, failed, parked


@dataclass(frozen=True, slots=True)
class ParkedEvent:
    event: StoredEvent
    parked_at: datetime
    attempts: int
    redeliver: bool


class Sealer(Protocol):
    """Seals secrets kolejka must send again (a webhook's Basic password and signing key)."""

    def seal(self, plain: str) -> str: ...

    def open(self, sealed: str) -> str:
        """The plain text; raises ValueError when the key is not the one that sealed it."""
        ...


class WebhookStore(Protocol):
    """Subscriptions, the outbox of events, and the record of their delivery."""

    async def add(
        self, actions: Sequence[str], url: str, sealed: str, created_at: datetime
    ) -> Subscription:
        """Registers a subscription; it receives the events written after this."""
        ...

    async def all(self) -> Sequence[Subscription]: ...

    async def get(self, webhook_id: int) -> Subscription | None: ...

    async def sealed(self, webhook_id: int) -> str | None:
        """The subscription's sealed credentials and secret."""
        ...

    async def remove(self, webhook_id: int) -> bool: ...

    async def append(self, events: Sequence[NewEvent]) -> None:
        """Adds events to the outbox on their own (the seam for changes stored elsewhere)."""
        ...

    async def claim(self, webhook_id: int, holder: str, now: datetime, until: datetime) -> bool:
        """Takes or renews the lease on delivering one subscription; False if another holds it."""
        ...

    async def release(self, webhook_id: int, holder: str) -> None: ...

    async def position(self, webhook_id: int) -> int | None:
        """The id of the last event the subscription is done with (None: it is gone)."""
        ...

    async def following(
        self, after: int, actions: Sequence[str], limit: int
    ) -> Sequence[StoredEvent]:
        """The next events of these actions after event id `after`, in order."""
        ...

    async def record(
        self, webhook_id: int, holder: str, attempts: Sequence[DeliveryAttempt], advance: bool
    ) -> bool:
        """Notes attempts (in order), parks the events whose last attempt they were, and with
        `advance` moves the subscription past the last one, all at once. False when `holder` no
        longer holds the subscription (another instance took it over): nothing is written."""
        ...

    async def attempts(self, webhook_id: int, limit: int) -> Sequence[DeliveryAttempt]:
        """The latest attempts, newest first."""
        ...

    async def parked(self, webhook_id: int, limit: int) -> Sequence[ParkedEvent]: ...

    async def redeliver(self, webhook_id: int, event_id: int) -> bool:
        """Asks for a parked event to be sent again; False when it is not parked there."""
        ...

    async def redelivered(self, webhook_id: int, event_id: int) -> None:
        """A parked event went through at last: it is no longer parked."""
        ...

    async def backlog(self, webhook_id: int, actions: Sequence[str]) -> int:
        """How many events wait for the subscription."""
        ...

    async def prune(self, keep_attempts: int = 1000) -> int:
        """Drops the events every subscription is done with (parked ones stay), and all but each
        subscription's latest `keep_attempts` attempts; how many events it dropped."""
        ...
