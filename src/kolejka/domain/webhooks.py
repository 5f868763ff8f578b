"""Webhooks in the trade's terms: the actions, the events they carry, subscriptions, the rules on a
subscription URL, the retry schedule and the signature. Plain Python: no I/O.

An event is born with the change that caused it (`NewEvent`), stored in the outbox in the same
transaction with only what the change knows, and rendered for the wire when it is first
delivered: `completed` (the CRM's match, the number as shown) is added then, the HTTP adapter adds
`action`, `date` and `event_id`, and the body is stored, so that every subscriber and every retry
gets the same bytes (docs/webhooks.md, "What an event says, and when").
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from kolejka.domain.agents import Agent, AgentStatus
from kolejka.domain.callbacks import Attempt, Callback, CallbackState, attempt_connection_id
from kolejka.domain.connections import Connection
from kolejka.domain.crm import Customer
from kolejka.domain.customers import CustomerMatch
from kolejka.domain.errors import DomainError, FieldProblem, InvalidField
from kolejka.domain.queues import Departure, WaitingCaller

MAX_URL = 2048
MAX_CREDENTIAL = 256
MAX_ACTIONS = 32
SIGNATURE_HEADER = "X-Kolejka-Signature"
EVENT_ID_HEADER = "X-Kolejka-Event-Id"


class Action(enum.StrEnum):
    """What happened. Thulium's CRM action, then kolejka's own call actions (UPPER_SNAKE)."""

    CUSTOMER_CREATED = "CUSTOMER_CREATED"
    CUSTOMER_UPDATED = "CUSTOMER_UPDATED"
    CUSTOMER_DELETED = "CUSTOMER_DELETED"
    CALLER_JOINED = "CALLER_JOINED"
    CALLER_LEFT = "CALLER_LEFT"
    CALL_RECORDED = "CALL_RECORDED"
    CALLBACK_ATTEMPTED = "CALLBACK_ATTEMPTED"
    AGENT_STATUS_CHANGED = "AGENT_STATUS_CHANGED"


ACTIONS = frozenset(action.value for action in Action)


class NewEvent(NamedTuple):
    """An event about to enter the outbox with the change that caused it.

    `fields` are what the wire shows (ids, strings, numbers), in the wire's order, except
    instants: a field named `*_at` holds an aware datetime and, like `occurred_at` (which
    becomes `date`), is written in KOLEJKA_TIME_ZONE as Thulium writes times when the event is
    sent. How an event is stored until then is the outbox's business.

    A NamedTuple, as immutable as a frozen dataclass: the AMI listener makes one for every caller
    who joins or leaves, and a frozen dataclass's __init__ (object.__setattr__ for each field)
    cost three times as much.
    """

    action: Action
    occurred_at: datetime
    fields: Mapping[str, object]


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event in the outbox: its id orders it among all events. `rendered`: the body as it
    was first sent (None until then), which every later attempt sends again."""

    event_id: int
    action: str
    occurred_at: datetime
    fields: Mapping[str, object]
    rendered: str | None = None


# The seam: one function per domain event, each turning it into an outbox row. Issues 13-15 add
# theirs here (an agent's state, a call recorded, a callback attempted) and one line at the
# place the change commits.


def customer_created(customer: Customer, at: datetime) -> NewEvent:
    return NewEvent(Action.CUSTOMER_CREATED, at, _customer_fields(customer))


def customer_updated(customer: Customer, at: datetime) -> NewEvent:
    return NewEvent(Action.CUSTOMER_UPDATED, at, _customer_fields(customer))


def customer_deleted(customer: Customer, at: datetime) -> NewEvent:
    return NewEvent(Action.CUSTOMER_DELETED, at, _customer_fields(customer))


def _customer_fields(customer: Customer) -> dict[str, object]:
    # Thulium's CUSTOMER_CREATED: customer_id, company_id ("" when none, as its API writes empty).
    company_id = customer.fields.company_id
    return {
        "customer_id": customer.customer_id,
        "company_id": company_id if company_id is not None else "",
    }


# The callers' events are made for every caller who joins or leaves (the AMI listener's path):
# as tuple.__new__ makes them, NewEvent's own __new__ (a Python function) is skipped.
_new_event = tuple.__new__


def caller_joined(caller: WaitingCaller) -> NewEvent:
    """A caller joined a queue. The number is stored as the PBX wrote it: the number as shown
    and the CRM's match are added when the event is first delivered (`completed`), off the
    AMI listener's path."""
    return _new_event(
        NewEvent,
        (
            Action.CALLER_JOINED,
            caller.started_at,
            {
                "queue_id": caller.queue_id,
                "call_id": caller.call_id,
                "phone_number": caller.phone_number,
                "caller_name": caller.caller_name,
                "started_at": caller.started_at,
            },
        ),
    )


def caller_left(departure: Departure) -> NewEvent:
    """A caller left a queue, answered or abandoned, after `waited` seconds. The number as the
    PBX wrote it, shown as the waiting list shows it when first delivered (`completed`)."""
    return _new_event(
        NewEvent,
        (
            Action.CALLER_LEFT,
            departure.left_at,
            {
                "queue_id": departure.queue_id,
                "call_id": departure.call_id,
                "phone_number": departure.phone_number,
                # str() of a StrEnum is its value, cheaper than `.value` (a Python property).
                "outcome": str(departure.outcome),
                "started_at": departure.started_at,
                "waited": int(departure.hold_time.total_seconds()),
            },
        ),
    )


def call_recorded(
    row: Connection, shown_src: str, customer_id: int | None, user: str, recorded_at: datetime
) -> NewEvent:
    """A call was written to the history: its row as `GET /api/connections` lists it (the
    event's `date` is the row's, when the call joined its queue), and `recorded_at`, when it
    was written: as the call left its queue, or again when the agent's talk ended."""
    return NewEvent(
        Action.CALL_RECORDED,
        row.started_at,
        {
            "connection_id": row.connection_id,
            "src": shown_src,
            "dst": row.dst,
            "type": row.direction.value,
            "disposition": row.disposition.value,
            "duration": row.duration,
            "billsec": row.billsec,
            "user": user,
            "user_login": row.user_login,
            "queue_id": row.queue_id,
            "customer_id": customer_id,
            "disconnected_by": row.disconnected_by.value,
            "transferred_to": row.transferred_to,
            "recorded_at": recorded_at,
        },
    )


def callback_attempted(callback: Callback, attempt: Attempt, shown_number: str) -> NewEvent:
    """One attempt of a scheduled callback ended: how, and what comes next (`state`, and
    `next_attempt_at` when it will be tried again). `callback` is as it is after the attempt."""
    if attempt.outcome is None or attempt.finished_at is None:
        raise ValueError("the attempt has not ended")
    retried = callback.state is CallbackState.PENDING
    return NewEvent(
        Action.CALLBACK_ATTEMPTED,
        attempt.finished_at,
        {
            "callback_id": callback.callback_id,
            "queue_id": callback.queue_id,
            "phone_number": shown_number,
            "attempt": attempt.number,
            "outcome": attempt.outcome.value,
            "started_at": attempt.started_at,
            "finished_at": attempt.finished_at,
            "state": callback.state.value,
            "next_attempt_at": callback.call_at if retried else None,
            "connection_id": attempt_connection_id(callback.callback_id, attempt.number),
        },
    )


# What an event needs looked up when it is first delivered: the callers' events show the number
# as the waiting list does, and CALLER_JOINED names the customer the CRM matches (as the waiting
# list names callers). Events stored before this carry `customer_id` already: left as they are.
NEEDS_MATCH = frozenset({Action.CALLER_JOINED.value})
SHOWS_NUMBER = frozenset({Action.CALLER_JOINED.value, Action.CALLER_LEFT.value})


def completed(
    event: StoredEvent, shown_number: str | None, match: CustomerMatch | None
) -> StoredEvent:
    """`event` with what delivery looked up: the number as shown (None: left as stored) and, for
    CALLER_JOINED, the customer the CRM matched (`customer_id`/`customer_label`, null when
    none or several)."""
    fields = dict(event.fields)
    if shown_number is not None and event.action in SHOWS_NUMBER:
        fields["phone_number"] = shown_number
    if event.action in NEEDS_MATCH and "customer_id" not in fields:
        fields["customer_id"] = match.customer_id if match else None
        fields["customer_label"] = match.label if match else None
    return StoredEvent(event.event_id, event.action, event.occurred_at, fields, event.rendered)


def agent_status_changed(
    status: AgentStatus, agent: Agent | None, previous: AgentStatus | None
) -> NewEvent:
    """An agent's state changed: `status` and `pause_id` as `GET agents/:login/status` says
    them, the agent's names (empty for a member the PBX introduced and nobody named), the
    queues it is a member of now, and the state before (null when unknown)."""
    return NewEvent(
        Action.AGENT_STATUS_CHANGED,
        status.last_change,
        {
            "login": status.login,
            "name": agent.name if agent else "",
            "surname": agent.surname if agent else "",
            "status": status.state.value,
            "pause_id": status.pause_id,
            "queues": list(status.queues),
            "previous_status": previous.state.value if previous else None,
            "previous_pause_id": previous.pause_id if previous else None,
        },
    )


# Subscriptions ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Subscription:
    """A registered webhook. The credentials and the signing secret are the store's, sealed."""

    webhook_id: int
    actions: tuple[str, ...]
    subscription_url: str


@dataclass(frozen=True, slots=True)
class Secrets:
    """What a subscription's requests carry: Basic credentials (optional) and the signing key."""

    http_auth_user: str
    http_auth_password: str
    secret: str


class UnknownWebhook(DomainError):
    def __init__(self, webhook_id: int) -> None:
        super().__init__(f"webhook {webhook_id} does not exist")
        self.webhook_id = webhook_id


class UnknownParkedEvent(DomainError):
    def __init__(self, webhook_id: int, event_id: int) -> None:
        super().__init__(f"event {event_id} is not parked for webhook {webhook_id}")
        self.webhook_id = webhook_id
        self.event_id = event_id


class WebhooksOff(DomainError):
    """No key to seal the subscriptions' secrets with (KOLEJKA_WEBHOOK_KEY is empty)."""


def check_actions(value: object) -> tuple[str, ...]:
    """The `actions` of a registration: a non-empty list of known action names, each once."""
    if value is None:
        raise InvalidField("actions", FieldProblem.REQUIRED)
    if not isinstance(value, list):
        raise InvalidField("actions", FieldProblem.NOT_AN_ARRAY)
    if not value:
        raise InvalidField("actions", FieldProblem.REQUIRED)
    if len(value) > MAX_ACTIONS:
        raise InvalidField("actions", FieldProblem.TOO_LONG)
    actions: list[str] = []
    for index, action in enumerate(value):
        if not isinstance(action, str):
            raise InvalidField(f"actions[{index}]", FieldProblem.NOT_A_STRING)
        if action not in ACTIONS:
            raise InvalidField(f"actions[{index}]", FieldProblem.UNKNOWN_ACTION)
        if action not in actions:
            actions.append(action)
    return tuple(actions)


# What a subscription URL may be, as the OpenAPI document's pattern says it: http(s), a host
# name or an IP literal, an optional port, path and query; no user, password or fragment.
_LABEL = "[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?"
_PORT = "([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
URL_PATTERN = (
    rf"^https?://({_LABEL}(\.{_LABEL})*|\[[0-9A-Fa-f:.]+\])(:{_PORT})?"
    r"(/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?(\?[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*)?$"
)
_URL = re.compile(URL_PATTERN)


def check_subscription_url(value: object, allow_http: bool) -> str:
    """A subscription URL: absolute https (http only when allowed), a host, no credentials."""
    if value is None or value == "":
        raise InvalidField("subscription_url", FieldProblem.REQUIRED)
    if not isinstance(value, str):
        raise InvalidField("subscription_url", FieldProblem.NOT_A_STRING)
    if len(value) > MAX_URL:
        raise InvalidField("subscription_url", FieldProblem.TOO_LONG)
    if not _URL.fullmatch(value):
        raise InvalidField("subscription_url", FieldProblem.NOT_A_URL)
    if value.startswith("http:") and not allow_http:
        raise InvalidField("subscription_url", FieldProblem.HTTPS_REQUIRED)
    return value


def address_allowed(address: str, allow_private: bool) -> bool:
    """Whether a webhook may connect to `address`: public unicast only, unless allowed."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        return False
    if allow_private:
        return True
    return ip.is_global and not (ip.is_loopback or ip.is_link_local or ip.is_private)


# Delivery ---------------------------------------------------------------------------------


def backoff(attempt: int, base: float, cap: float, jitter: float) -> float:
    """Seconds to wait after failed attempt number `attempt` (1, 2, ...): doubling from `base`,
    at most `cap`, scaled by `jitter` (drawn from [0.5, 1) by the caller) so that subscribers
    that failed together do not retry together."""
    return float(min(cap, base * 2.0 ** min(attempt - 1, 30)) * jitter)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value: `t=<unix seconds>,v1=<hex HMAC-SHA256>` over
    `<timestamp>.<raw body>`, keyed by the subscription's secret (docs/webhooks.md)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"
