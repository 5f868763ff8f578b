"""The ports: what the application needs from the outside world, as small Protocols.

Adapters (SQLite today; PostgreSQL, Redis, AMI, external CRMs beside it) satisfy these. Only
`bootstrap.py` chooses which adapter stands behind each port.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple, Protocol, TypeVar

from kolejka.domain.abandoned import AbandonedCalls
from kolejka.domain.agents import Agent, AgentLive, NewAgent, Pause
from kolejka.domain.callbacks import Callback, DialOutcome, NewCallback
from kolejka.domain.connections import Connection, ConnectionPage, ConnectionQuery
from kolejka.domain.crm import Company, CompanyFields, Customer, CustomerFields, ListQuery
from kolejka.domain.crm_import import ImportCounts, ImportRow
from kolejka.domain.customers import CustomerKind, CustomerMatch
from kolejka.domain.errors import DomainError
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

    async def join(self, caller: WaitingCaller, announce: bool = False) -> Joined:
        """Adds `caller`; if its call already waits, changes nothing and returns the stored one.

        `created` says whether this very write stored it: of two joins of one call, exactly one
        is told it did. `announce`: the join's webhook event (domain.webhooks.caller_joined)
        enters the outbox atomically with the join, and only when this write stored it.
        """
        ...

    async def find(self, call_id: str) -> WaitingCaller | None: ...

    async def leave(self, departure: Departure, announce: bool = False) -> bool:
        """Removes the call (`departure` says which and how); False if it was not waiting.

        `announce`: the departure's webhook event (domain.webhooks.caller_left) enters the
        outbox in the same transaction, only when the call left.

        The store makes the callers' events itself, not the service: the AMI listener's path
        (a join or a departure for most of its events), where SQLite writes the outbox's row
        from the caller's own values, and making and unpacking an event for each was about a
        quarter of what webhooks cost the listener (bench/ami_instructions.py --webhooks).
        """
        ...

    async def waiting(self, queue_id: int) -> Sequence[tuple[int, WaitingCaller]]:
        """The callers waiting in a queue, each with its join sequence number."""
        ...


class AbandonedCallStore(Protocol):
    """The call history as the abandoned list reads it (the connection stores serve it)."""

    async def abandoned(self, queue_id: int, since: datetime, until: datetime) -> AbandonedCalls:
        """The queue's abandoned inbound calls from `since` to `until` that no later answered
        inbound call under the same number key reached, and its answered callbacks (OUTBOUND
        rows) over that span, each number's latest."""
        ...


@dataclass(frozen=True, slots=True)
class HistoryWrite:
    """One write of a call's row: recorded (kept unless the call has a row that is not FAILED)
    or, `whole`, saved over what the row said; `events` go to the outbox when it is stored."""

    row: Connection
    whole: bool = False
    events: tuple[NewEvent, ...] = ()


class Journalled(Protocol):
    """A write of a call's row as the history's journal keeps it (`ConnectionStore.journal`):
    the row, whether it is saved whole, when its CALL_RECORDED event happened (None: it
    announces nothing), and whether it is an agent's pick-up (announced with the departure)."""

    @property
    def row(self) -> Connection: ...

    @property
    def whole(self) -> bool: ...

    @property
    def announced_at(self) -> datetime | None: ...

    @property
    def picked_up(self) -> bool: ...


class JournalEntry(NamedTuple):
    """A write read back from the journal (`ConnectionStore.journalled`)."""

    row: Connection
    whole: bool
    announced_at: datetime | None
    picked_up: bool


class RecordedCalls(Protocol):
    """One call's row, as it is once every write of it so far is stored (`CallHistory.get`)."""

    async def get(self, connection_id: str) -> Connection | None: ...


class ConnectionPages(Protocol):
    """Pages of the call history as its readers see it: every call that has ended is in it
    (`CallHistory.page` writes what is still batched first)."""

    async def page(self, query: ConnectionQuery) -> ConnectionPage: ...


class ConnectionStore(AbandonedCallStore, Protocol):
    """The call history (Thulium's connections), one row per call, keyed by its connection id."""

    async def record(self, row: Connection) -> bool:
        """Writes `row` unless its call has one already; True when this write stored it."""
        ...

    async def save(self, row: Connection) -> None:
        """Writes `row` whole, replacing what its call's row said."""
        ...

    async def get(self, connection_id: str) -> Connection | None: ...

    async def write(self, writes: Sequence[HistoryWrite], *, settles: bool = False) -> None:
        """Applies `writes` in order, in one transaction: each as `record` (or, `whole`, as
        `save`) would, its `events` entering the outbox only when that write stored its row.
        All land or none. For a burst of calls: one transaction, and as few statements as the
        engine allows. With `settles`, `writes` begin with every write the journal holds, and
        the journal is emptied in the same transaction."""
        ...

    async def journal(self, writes: Sequence[Journalled]) -> bool:
        """Appends `writes` to the journal, in the transaction the caller holds open (the AMI
        listener's burst): kept as durably as that transaction's other changes, and written
        into the history by a later `write(..., settles=True)`. False when this store keeps no
        journal (PostgreSQL): the caller then writes them itself."""
        ...

    async def settle(self) -> None:
        """Writes every write the journal holds into the history, in order, and empties the
        journal, in one transaction, with no event: the store copies it itself."""
        ...

    async def journalled(self) -> list[JournalEntry]:
        """What the journal holds, in order: what a stopped process journalled and did not
        write (a crash). Empty for a store that keeps no journal."""
        ...

    async def page(self, query: ConnectionQuery) -> ConnectionPage:
        """The rows `query` asks for, newest first, and how many match (bounded: COUNT_CAP)."""
        ...

    async def prune(self, before: datetime, batch: int) -> int:
        """Deletes up to `batch` of the oldest rows started before `before`; how many went."""
        ...

    async def answered_waits(self, queue_id: int, since: datetime, limit: int) -> list[timedelta]:
        """The waits of the latest `limit` answered inbound calls of a queue that joined it at
        or after `since`, newest first: the wait estimate's sample."""
        ...


class AgentDirectory(Protocol):
    """The agents (the catalogue the CLI edits) and the pause-reason catalogue."""

    async def get(self, login: str) -> Agent | None: ...

    async def all(self) -> Sequence[Agent]:
        """Every agent, by agent_id."""
        ...

    async def add(self, agent: NewAgent) -> Agent:
        """Stores a new agent under the store's next id; raises AgentExists for a taken login."""
        ...

    async def remove(self, login: str) -> bool: ...

    async def pauses(self) -> Sequence[Pause]:
        """The pause catalogue, by pause_id."""
        ...

    async def pause_named(self, name: str) -> Pause:
        """The pause with this name, created (under the next id, kept for good) if new."""
        ...


class AgentLiveStore(Protocol):
    """Each agent's live record: its queue memberships and the state derived from them.

    One writer at a time (the PBX follower holds a lease), so a read-modify-write is safe.
    """

    async def get(self, login: str) -> AgentLive | None: ...

    async def all(self) -> Sequence[AgentLive]: ...

    async def put(self, live: AgentLive) -> None: ...

    async def remove(self, login: str) -> None: ...


class CustomerDirectory(Protocol):
    """The CRM as the waiting list asks it: who owns this (E.164) number?"""

    async def owners(self, e164: str, limit: int = 2) -> Sequence[CustomerMatch]:
        """Up to `limit` distinct owners of the number; two already make it ambiguous."""
        ...

    async def sole_owners(self, numbers: Sequence[str]) -> Mapping[str, int]:
        """Of these (E.164) numbers, those exactly one customer owns, each with that customer's
        id: the unambiguous rule for many numbers at once (a page of the call history)."""
        ...

    async def sole_matches(self, numbers: Sequence[str]) -> Mapping[str, CustomerMatch]:
        """`sole_owners` with each customer's label, as the waiting list shows it: for lists
        that name thousands of callers at once (the abandoned callers)."""
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

    async def add_each(
        self,
        kind: CustomerKind,
        cards: Sequence[CustomerFields],
        updated_at: datetime,
        events: EventsOf[list[Customer]] | None = None,
    ) -> list[Customer | DomainError]:
        """Adds each card that names no unknown company and no taken identifier, in one
        transaction; returns, in order, each card added or the error that refused it (an
        identifier twice among the cards is taken by its first card).

        `events(added)`, of exactly the cards added, enter the outbox in the same transaction
        (not called when none was added).
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
    AGENTS = "agents"  # agents, their live states and the pause catalogue (queue_id None)
    CALLBACKS = "callbacks"  # a queue's scheduled callbacks (queue_id says which)
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


class PbxControl(Protocol):
    """Actions on the PBX's queue members (agents), each answered only once the PBX confirmed.

    Each raises PbxUnavailable when no action can reach the PBX (nothing was done), PbxRefused
    when the PBX said no (nothing was done), and NoPbxInterface when the agent's interface is
    unknown. None changes kolejka's state: the PBX's events do, as for any other change.
    """

    async def pause(self, login: str, reason: str) -> None:
        """Pauses the agent in every queue they are a member of, with `reason` (a pause name)."""
        ...

    async def unpause(self, login: str) -> None: ...

    async def add_member(self, login: str, number: int | None, queue_id: int) -> None:
        """Makes the agent a member of the queue; being one already is no error."""
        ...

    async def remove_member(self, login: str, queue_id: int) -> None:
        """Ends the agent's membership of the queue; not being one is no error."""
        ...


@dataclass(frozen=True, slots=True)
class FinishedAttempt:
    """One attempt's end as `CallbackStore.finish_many` takes it: `finish`'s arguments."""

    callback: Callback
    claim: str
    record: Connection | None = None
    events: Sequence[NewEvent] = ()


class CallbackStore(Protocol):
    """Scheduled callbacks, durable; every write atomic, safe with several processes.

    At most one open (pending or dialling) callback per number and queue. A due callback is
    claimed by exactly one caller of `claim_due`, under a claim that only `finish` (with that
    claim) ends, or that another process takes over by `claim_expired` once it has lapsed.
    """

    async def schedule(self, new: NewCallback) -> Callback:
        """Stores `new`; when the number already has an open callback in that queue, stores
        nothing new and returns that one, moved to `new.call_at` if pending and that is earlier."""
        ...

    async def get(self, callback_id: int) -> Callback | None: ...

    async def in_queue(self, queue_id: int, limit: int) -> Sequence[Callback]:
        """The queue's callbacks, newest first (open and finished alike)."""
        ...

    async def cancel(self, callback_id: int) -> Callback | None:
        """Cancels it if pending; returns it as it is afterwards (None: no such callback)."""
        ...

    async def claim_due(
        self,
        due_by: datetime,
        claim: str,
        claimed_at: datetime,
        until: datetime,
        limit: int,
        only_queue: int | None = None,
        skip_queues: Sequence[int] = (),
    ) -> Sequence[Callback]:
        """Claims up to `limit` pending callbacks with `call_at <= due_by`, earliest first,
        for a new attempt each under `claim` until `until`; in `only_queue` when given, never
        in `skip_queues`. Two concurrent callers never get the same callback."""
        ...

    async def claim_expired(
        self, now: datetime, claim: str, until: datetime, limit: int
    ) -> Sequence[Callback]:
        """Takes over up to `limit` dialling callbacks whose claim lapsed before `now`, as they
        were (their attempt under way is unchanged), now under `claim`; the old claim can no
        longer finish them."""
        ...

    async def finish(
        self,
        callback: Callback,
        claim: str,
        record: Connection | None = None,
        events: Sequence[NewEvent] = (),
    ) -> bool:
        """Writes the callback after its attempt (state, call_at, attempts) and ends the claim;
        False, writing nothing, unless it is dialling under `claim`.

        `record` (the attempt's row in the call history, kept if its id has one already) and
        `events` (the webhooks' outbox) are written in the same transaction, only when the
        callback is.
        """
        ...

    async def finish_many(self, finished: Sequence[FinishedAttempt]) -> list[bool]:
        """`finish` of each, in order, in one transaction: the same answers, one commit (the
        dialler records the outcomes that came in together at once). All or none land."""
        ...

    async def due_next(self, queue_id: int, limit: int) -> Sequence[Callback]:
        """The queue's open (pending or dialling) callbacks, earliest `call_at` first."""
        ...


class CallbackDialer(Protocol):
    """Makes one attempt through the PBX: the customer's phone rings, and once answered the
    customer is put into the queue. Returns how the attempt ended."""

    @property
    def ready(self) -> bool:
        """Whether an attempt can be made now (the PBX link is up on this instance)."""
        ...

    async def dial(self, callback: Callback) -> DialOutcome: ...


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

    async def freeze(self, bodies: Sequence[tuple[int, str]]) -> dict[int, str]:
        """Stores (event id, rendered body) pairs where no body is stored yet; the bodies stored
        for those events now (the first stored wins), to be sent on every attempt."""
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
